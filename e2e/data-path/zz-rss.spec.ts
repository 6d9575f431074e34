import { request } from 'node:http';
import { once } from 'node:events';
import { afterAll, beforeAll, it } from 'vitest';
import { type Stack, cleanupAll, rssBytes, startStack } from '@st/testing';
import { MODEL } from './support';
let stack: Stack;
beforeAll(async () => { stack = await startStack(); });
afterAll(cleanupAll);
function upload(url: string, apiKey: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' } });
    req.on('response', (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
    req.on('error', reject);
    void (async () => {
      const chunk = Buffer.alloc(64 * 1024, 'x');
      req.write(`{"model":"${MODEL}","messages":[{"role":"user","content":"`);
      for (let sent = 0; sent < bytes; sent += chunk.length) if (!req.write(chunk)) await once(req, 'drain');
      req.end('"}]}');
    })();
  });
}
it('rss', async () => {
  const pid = stack.server.process.pid;
  let peak = 0; let done = false;
  const base = await rssBytes(pid);
  const sampler = (async () => { while (!done) { peak = Math.max(peak, await rssBytes(pid)); await new Promise((r) => setTimeout(r, 50)); } })();
  for (let i = 0; i < 5; i++) console.log('status', await upload(`${stack.baseURL}/chat/completions`, stack.apiKey, 9 * 1024 * 1024));
  done = true; await sampler;
  console.log('RSS base', base / 1048576, 'peak', peak / 1048576, 'growth', (peak - base) / 1048576);
}, 120_000);
