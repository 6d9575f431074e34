#!/usr/bin/env node
// What usage accounting and the gateway's metrics cost per request inside st-server's process,
// measured alone (observe-cost-entry.ts says what runs): each setting in a fresh node process,
// twice, interleaved; the lower of each setting's two (a run is only ever slowed by the machine).
//   node tools/bench/trace/observe-cost.mjs           off, usage, metrics, both
//   REQUESTS=n ROUNDS=n                               requests per round (1,000,000), rounds (7)
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// Inside node_modules, so that the bundle's npm packages resolve as the apps' do.
const cache = join(root, 'node_modules', '.cache');
mkdirSync(cache, { recursive: true });
const dir = mkdtempSync(join(cache, 'st-observe-cost-'));
const out = join(dir, 'observe-cost.js');
try {
  await build({
    entryPoints: [join(root, 'tools/bench/trace/observe-cost-entry.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    tsconfig: join(root, 'tsconfig.base.json'),
    outfile: out,
    logLevel: 'warning',
    // npm packages load from node_modules, as in the apps' bundles.
    packages: 'external',
    absWorkingDir: root,
  });
  const modes = ['off', 'usage', 'metrics', 'both'];
  const runs = Object.fromEntries(modes.map((m) => [m, []]));
  for (let pass = 0; pass < 2; pass++) {
    for (const mode of pass === 0 ? modes : [...modes].reverse()) {
      const line = execFileSync(process.execPath, [out, mode], { cwd: root, env: process.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop();
      runs[mode].push(JSON.parse(line).nsPerRequest);
    }
  }
  const off = Math.min(...runs.off);
  for (const mode of modes) {
    const ns = Math.min(...runs[mode]);
    process.stdout.write(`${mode.padEnd(8)} ${ns.toFixed(0).padStart(6)} ns/request (runs ${runs[mode].map((x) => x.toFixed(0)).join(', ')})${mode === 'off' ? '' : `, +${(ns - off).toFixed(0)} ns over off`}\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
