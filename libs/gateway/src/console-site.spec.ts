import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { silentLogger } from '@st/logging';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP, ConsoleSite } from './console-site';

let dir: string;
let outside: string;
let server: Server;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'st-console-site-'));
  outside = mkdtempSync(join(tmpdir(), 'st-console-outside-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="/assets/index-abc.js"></script>');
  writeFileSync(join(dir, 'assets', 'index-abc.js'), `console.log(${JSON.stringify('x'.repeat(2000))});`);
  writeFileSync(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(dir, 'notes.unknown'), 'not a served type');
  writeFileSync(join(outside, 'secret.txt'), 'secret');
  symlinkSync(join(outside, 'secret.txt'), join(dir, 'assets', 'linked.txt'));
  const site = ConsoleSite.load(dir, silentLogger())!;
  server = createServer((req, res) => {
    if (!site.serve(req, res, 'req-1')) res.writeHead(404).end('not the console');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('ConsoleSite', () => {
  it('serves index.html at / with the CSP, nosniff and no-cache', async () => {
    const res = await fetch(`${base}/?from=bookmark`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(await res.text()).toContain('/assets/index-abc.js');
    // Revalidation costs no body.
    const again = await fetch(`${base}/`, { headers: { 'if-none-match': `"other", ${res.headers.get('etag')!}`, 'accept-encoding': 'identity' } });
    expect(again.status).toBe(304);
  });

  it('serves hashed assets for a year, gzipped when asked', async () => {
    const res = await fetch(`${base}/assets/index-abc.js`, { headers: { 'accept-encoding': 'identity' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await res.text()).length).toBeGreaterThan(2000);
    const raw = await new Promise<{ encoding?: string; etag?: string; body: Buffer }>((resolve) => {
      get(`${base}/assets/index-abc.js`, { headers: { 'accept-encoding': 'gzip' } }, (r: IncomingMessage) => {
        const parts: Buffer[] = [];
        r.on('data', (c: Buffer) => parts.push(c));
        r.on('end', () => resolve({ encoding: r.headers['content-encoding'], etag: r.headers.etag, body: Buffer.concat(parts) }));
      });
    });
    expect(raw.encoding).toBe('gzip');
    expect(gunzipSync(raw.body).toString()).toContain('console.log');
    // The gzipped representation has its own validator.
    expect(raw.etag).toMatch(/-gz"$/);
    expect(raw.etag).not.toBe(res.headers.get('etag'));
  });

  it('owns only the files of the build: other paths, traversal and links are not its own', async () => {
    expect((await fetch(`${base}/favicon.svg`)).headers.get('content-type')).toBe('image/svg+xml');
    for (const path of ['/index.html', '/notes.unknown', '/assets/linked.txt', '/assets/', '/assets/..%2findex.html', '/nope', '/v1/models']) {
      expect((await fetch(`${base}${path}`)).status, path).toBe(404);
    }
  });

  it('answers other methods with 405 and an OpenAI error', async () => {
    const res = await fetch(`${base}/`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('method_not_allowed');
  });

  it('is absent when there is no build', () => {
    expect(ConsoleSite.load(join(dir, 'missing'), silentLogger())).toBeUndefined();
  });
});
