import { createServer, request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpServerLifecycle, portInUse } from './http-server-lifecycle';

const open: HttpServerLifecycle[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.closeNow()));
});

/** A server whose every answer stays open (head sent, body never ended) until the socket is cut. */
function hanging(): HttpServerLifecycle {
  const lifecycle = new HttpServerLifecycle(createServer((_req, res) => res.writeHead(200).flushHeaders()));
  open.push(lifecycle);
  return lifecycle;
}

/** Sends a request and resolves once the head arrived, with a promise of the socket's close. */
function openAnswer(port: number): Promise<{ closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/' }, (res) => {
      resolve({ closed: new Promise((done) => res.socket.once('close', () => done())) });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HttpServerLifecycle', () => {
  it('returns the bound port when asked for any, and says why a taken port cannot be bound', async () => {
    const first = hanging();
    const port = await first.listen('127.0.0.1', 0);
    expect(port).toBeGreaterThan(0);
    expect(first.port).toBe(port);
    const second = hanging();
    const explained = second.listen('127.0.0.1', port, {
      explain: (err) => (err.code === 'EADDRINUSE' ? portInUse('127.0.0.1', port, 'ST_HTTP_PORT') : undefined),
    });
    await expect(explained).rejects.toThrow(`cannot listen for HTTP on 127.0.0.1:${port}: the port is in use`);
    await expect(hanging().listen('127.0.0.1', port)).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('cuts answers still open at the end of the grace, after their last words', async () => {
    const lifecycle = hanging();
    const port = await lifecycle.listen('127.0.0.1', 0);
    const answer = await openAnswer(port);
    let lastWords = 0;
    await lifecycle.close(50, { send: () => lastWords++, flushMs: 10 });
    await answer.closed;
    expect(lastWords).toBe(1);
  });

  it('closes at once with closeNow, whatever is open', async () => {
    const lifecycle = hanging();
    const port = await lifecycle.listen('127.0.0.1', 0);
    const answer = await openAnswer(port);
    await lifecycle.closeNow();
    await answer.closed;
    expect(lifecycle.port).toBeUndefined();
  });
});
