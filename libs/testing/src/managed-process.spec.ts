import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnProcess } from './managed-process';
import { cleanupAll, makeTempDir } from './stack';
import { waitUntil } from './system-probes';

afterAll(cleanupAll);

/** A throwaway script for the harness to run. */
function script(source: string): string {
  const file = join(makeTempDir('st-harness-'), 'child.js');
  writeFileSync(file, source);
  return file;
}

describe('ManagedProcess', () => {
  it('collects both streams and waits for a line written later', async () => {
    const p = spawnProcess({
      name: 'child',
      script: script(`console.error('warming up'); setTimeout(() => console.log('ready on ' + process.env.PORT_HINT), 100); setInterval(() => {}, 1000);`),
      env: { PORT_HINT: 1234 },
    });
    const match = await p.waitForLine(/^ready on (\d+)$/);
    expect(match[1]).toBe('1234');
    expect(p.lines).toContainEqual({ stream: 'stderr', text: 'warming up' });
    expect(await p.stop()).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('sees a line printed right before the process exits', async () => {
    for (let i = 0; i < 5; i++) {
      const p = spawnProcess({ name: 'one-shot', script: script(`process.stdout.write('{"done":true}\\n'); process.exit(0);`) });
      const [line] = await p.waitForLine(/^\{.*\}$/);
      expect(line).toBe('{"done":true}');
      expect(await p.exited).toEqual({ code: 0, signal: null });
    }
  });

  it('fails a wait with the output when the process exits first', async () => {
    const p = spawnProcess({ name: 'crasher', script: script(`console.error('cannot bind: port in use'); process.exit(3);`) });
    await expect(p.waitForLine(/ready/)).rejects.toThrow(/crasher exited before .*\n.*code 3[\s\S]*cannot bind: port in use/);
  });

  it('fails a wait with the output when the line does not come in time', async () => {
    const p = spawnProcess({ name: 'silent', script: script(`console.log('still loading'); setInterval(() => {}, 1000);`) });
    // Its first line is in before the short wait starts: node's own start-up may take longer than
    // 300 ms on a busy machine, and the message must then still quote what it printed.
    await p.waitForLine(/still loading/, { timeoutMs: 20_000 });
    await expect(p.waitForLine(/ready/, { timeoutMs: 300 })).rejects.toThrow(/within 300 ms[\s\S]*still loading/);
  });

  it('kills a process that ignores the stop signal', async () => {
    const p = spawnProcess({ name: 'stubborn', script: script(`process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000);`) });
    await p.waitForLine(/^up$/);
    expect(await p.stop('SIGTERM', 300)).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('does not let the environment of the runner leak ST_ settings into children', async () => {
    process.env.ST_LEAKED = 'yes';
    try {
      const p = spawnProcess({ name: 'env', script: script(`console.log('leaked=' + process.env.ST_LEAKED + ' given=' + process.env.ST_GIVEN);`), env: { ST_GIVEN: 'ok' } });
      const [line] = await p.waitForLine(/^leaked=.*$/);
      expect(line).toBe('leaked=undefined given=ok');
    } finally {
      delete process.env.ST_LEAKED;
    }
  });

  it("keeps the runner's proxy settings from children, unless a test gives one", async () => {
    process.env.HTTPS_PROXY = 'http://runner-proxy:3128';
    process.env.no_proxy = 'example.com';
    try {
      const code = `console.log('proxy=' + process.env.HTTPS_PROXY + ' no=' + process.env.no_proxy + ' given=' + process.env.https_proxy);`;
      const p = spawnProcess({ name: 'env', script: script(code), env: { https_proxy: 'http://127.0.0.1:1' } });
      const [line] = await p.waitForLine(/^proxy=.*$/);
      expect(line).toBe('proxy=undefined no=undefined given=http://127.0.0.1:1');
    } finally {
      delete process.env.HTTPS_PROXY;
      delete process.env.no_proxy;
    }
  });

  it('exits with its parent when the runner dies without cleaning up', async () => {
    // A stand-in for a killed test worker: it starts a child the harness's way and exits at once.
    const guard = join(import.meta.dirname, 'exit-with-parent.cjs');
    const orphan = script('setInterval(() => {}, 1000);');
    const parent = script(
      `const { spawn } = require('node:child_process');` +
        `const c = spawn(process.execPath, ['--require', ${JSON.stringify(guard)}, ${JSON.stringify(orphan)}], { stdio: 'ignore', detached: true });` +
        `console.log(c.pid); c.unref(); setTimeout(() => process.exit(0), 300);`,
    );
    const pid = Number(spawnSync(process.execPath, [parent], { encoding: 'utf8' }).stdout.trim());
    expect(pid).toBeGreaterThan(0);
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitUntil('the orphan to exit', () => !alive(), 3_000);
  });
});

