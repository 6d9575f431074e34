#!/usr/bin/env node
// Regenerates docs/images/console.png, the README's picture of the web console, from a run of the
// browser test (e2e/console): the page as the test leaves it after its first streamed answer, in
// chromium at 1100x800. Run it after a change that shows on the page:
//
//   node tools/dev/console-screenshot.mjs
//
// It builds what changed (ensure-ready), runs the test with chromium required, and copies the
// test's screenshot over the README's; a failed test changes nothing.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from './ensure-ready.mjs';

const SHOT = join(ROOT, 'e2e', 'console', 'artifacts', 'console-answer.png');
const README_IMAGE = join(ROOT, 'docs', 'images', 'console.png');

function run(command, args, env = {}) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.status !== 0) {
    process.stderr.write(`console-screenshot: ${command} ${args.join(' ')} failed (exit ${result.status}); docs/images/console.png is unchanged\n`);
    process.exit(1);
  }
}

run(process.execPath, [join(ROOT, 'tools', 'dev', 'ensure-ready.mjs')]);
// A stale picture of an earlier run must not be copied if this run takes none.
rmSync(SHOT, { force: true });
run('npx', ['vitest', 'run', 'e2e/console'], { ST_REQUIRE_CHROMIUM: '1' });
if (!existsSync(SHOT)) {
  process.stderr.write(`console-screenshot: the test passed but left no ${relative(ROOT, SHOT)}: was it renamed (README_SHOT in e2e/console/browser.ts)?\n`);
  process.exit(1);
}
copyFileSync(SHOT, README_IMAGE);
process.stderr.write(`console-screenshot: ${relative(ROOT, README_IMAGE)} updated from ${relative(ROOT, SHOT)}\n`);
