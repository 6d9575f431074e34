import { type Server, createServer } from 'node:http';
import { type Socket, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ManagedProcess, type Stack, cleanupAll, startAgent, startStack, waitForTunnel } from '@st/testing';
import { logEntries } from './resilience-support';

/** A tiny HTTP CONNECT proxy: counts CONNECTs by target and pipes the bytes. */
interface ConnectProxy {
  port: number;
  connects: string[];
  authorizations: (string | undefined)[];
  close(): Promise<void>;
}

async function startConnectProxy(): Promise<ConnectProxy> {
  const connects: string[] = [];
  const authorizations: (string | undefined)[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req, client: Socket, head: Buffer) => {
    connects.push(req.url ?? '');
    authorizations.push(req.headers['proxy-authorization']);
    const [host, port] = [req.url!.slice(0, req.url!.lastIndexOf(':')), Number(req.url!.slice(req.url!.lastIndexOf(':') + 1))];
    const upstream = connect({ host: host.replace(/^\[|\]$/g, ''), port }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    connects,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let stack: Stack;
let proxy: ConnectProxy;

beforeAll(async () => {
  proxy = await startConnectProxy();
  // The stack's own agent goes direct; each test starts the agent it needs.
  stack = await startStack();
  await stack.agent.stop();
});

afterAll(async () => {
  await proxy?.close();
  await cleanupAll();
});

async function serveWith(env: Record<string, string | undefined>): Promise<ManagedProcess> {
  const agent = await startAgent({ ...stack.agentEnv, ...env });
  await waitForTunnel(stack.baseURL, stack.apiKey);
  const res = await fetch(`${stack.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'via proxy?' }], max_tokens: 3 }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return agent;
}

describe('st-agent behind an HTTP proxy', () => {
  it('dials the broker through HTTPS_PROXY (upper-case) with a CONNECT, and logs the proxy without its credentials', async () => {
    const before = proxy.connects.length;
    const agent = await serveWith({ HTTPS_PROXY: `http://agent:s3cret@127.0.0.1:${proxy.port}`, NO_PROXY: '' });
    expect(proxy.connects.slice(before)).toEqual([`127.0.0.1:${stack.grpcPort}`]);
    // The proxy's credentials went to the proxy (Basic), and nowhere into the log.
    expect(proxy.authorizations.at(-1)).toBe(`Basic ${Buffer.from('agent:s3cret').toString('base64')}`);
    const [line] = logEntries(agent, /^the broker is dialled through the HTTP proxy/);
    expect(line).toMatchObject({ proxy: `http://127.0.0.1:${proxy.port}`, proxyVariable: 'HTTPS_PROXY', proxyCredentials: true });
    expect(agent.lines.map((l) => l.text).join('\n')).not.toContain('s3cret');
    await agent.stop();
  });

  it('dials directly when NO_PROXY names the broker host', async () => {
    const before = proxy.connects.length;
    const agent = await serveWith({ HTTPS_PROXY: `http://127.0.0.1:${proxy.port}`, NO_PROXY: 'localhost, 127.0.0.1' });
    expect(proxy.connects.length).toBe(before);
    const [line] = logEntries(agent, /^the broker is dialled directly: NO_PROXY matches 127\.0\.0\.1$/);
    expect(line).toMatchObject({ noProxyEntry: '127.0.0.1' });
    await agent.stop();
  });
});
