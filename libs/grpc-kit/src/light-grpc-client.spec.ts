import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { createServer } from 'node:net';
import { GrpcServerHost } from './grpc-server-host';
import type { LightClientCall, LightServiceError } from './h2/grpc-light-client-call';
import type { LightServerCall } from './h2/grpc-light-call';
import { openLightCall } from './light-grpc-client';

/*
 * The light client against a real grpc-js server (node:http2 / nghttp2) and against our light
 * server (GrpcServerHost's light method): messages both ways, metadata, statuses, flow control.
 * light-grpc-client-attacks.spec.ts has the hostile servers.
 */
/** Polls `check` until it holds (no sleeps as assertions). */
async function waitUntil(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A port nobody listens on (bound, then closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const PATH = '/st.test.Light/Connect';
const SERVICE = {
  connect: { path: PATH, requestStream: true, responseStream: true, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
} as const;

type AnyCall = grpc.ServerDuplexStream<Buffer, Buffer> | LightServerCall<Buffer, Buffer>;

/** Echo; "fail" ends with UNAUTHENTICATED and a message that needs percent-encoding; the client's end ends OK. */
function echo(call: AnyCall): void {
  const auth = call.metadata.get('authorization')[0];
  call.on('data', (m: Buffer) => {
    if (m.toString() === 'fail') call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: 'no such token: 100% ünïcode' });
    else if (m.toString() === 'auth') call.write(Buffer.from(String(auth)));
    else call.write(m);
  });
  call.on('end', () => call.end());
  call.on('error', () => undefined);
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function grpcJsServer(): Promise<number> {
  const server = new grpc.Server();
  server.addService(SERVICE, { connect: echo });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  cleanups.push(() => void server.forceShutdown());
  return port;
}

async function lightServer(): Promise<number> {
  const host = new GrpcServerHost({ logger: silentLogger() });
  host.addService('st.test.Light', SERVICE, { connect: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => call.end() });
  host.addLightStreamingMethod<Buffer, Buffer>(PATH, (call) => {
    call.widenWindows();
    echo(call);
  }, raw);
  const port = await host.listen('127.0.0.1', 0);
  cleanups.push(() => host.shutdown(100));
  return port;
}

function open(port: number, token = 'secret'): LightClientCall<Buffer, Buffer> {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  const handle = openLightCall({ target: { host: '127.0.0.1', port }, path: PATH, metadata, codec: raw, userAgent: 'light-spec', logger: silentLogger() });
  cleanups.push(() => handle.close());
  return handle.call;
}

function collect(call: LightClientCall<Buffer, Buffer>): { messages: Buffer[]; status: Promise<grpc.StatusObject>; error: Promise<LightServiceError | undefined> } {
  const messages: Buffer[] = [];
  call.on('data', (m: Buffer) => messages.push(Buffer.from(m)));
  const error = new Promise<LightServiceError | undefined>((resolve) => {
    call.on('error', resolve);
    call.on('end', () => resolve(undefined));
  });
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return { messages, status, error };
}

describe.each([
  ['grpc-js (node:http2)', grpcJsServer],
  ['the light server', lightServer],
])('light gRPC client against %s', (_name, startServer) => {
  it('sends metadata and messages, gets them back and ends with OK after a half-close', async () => {
    const port = await startServer();
    const call = open(port);
    const seen = collect(call);
    call.write(Buffer.from('auth'));
    call.write(Buffer.from('hello'));
    await waitUntil('two echoes', () => seen.messages.length === 2);
    expect(seen.messages.map(String)).toEqual(['Bearer secret', 'hello']);
    call.end();
    expect(await seen.error).toBeUndefined();
    expect((await seen.status).code).toBe(grpc.status.OK);
  });

  it('maps a status with a percent-encoded message to an error event, as grpc-js does', async () => {
    const port = await startServer();
    const call = open(port);
    const seen = collect(call);
    call.write(Buffer.from('fail'));
    const err = await seen.error;
    expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err?.details).toBe('no such token: 100% ünïcode');
  });

  it('moves messages far larger than the initial windows both ways (flow control, WINDOW_UPDATEs)', async () => {
    const port = await startServer();
    const call = open(port);
    const seen = collect(call);
    // Below the light server's 2 MiB message limit (SERVER_MAX_RECEIVE_MESSAGE_BYTES).
    const big = Buffer.alloc(1536 * 1024 + 7, 0x61);
    let drained = 0;
    call.on('drain', () => drained++);
    for (let i = 0; i < 8; i++) call.write(big);
    await waitUntil('eight large echoes', () => seen.messages.length === 8, 20_000);
    expect(seen.messages.every((m) => m.equals(big))).toBe(true);
    expect(drained).toBeGreaterThan(0);
    call.end();
    expect(await seen.error).toBeUndefined();
  });

  it('cancel() ends the call with CANCELLED', async () => {
    const port = await startServer();
    const call = open(port);
    const seen = collect(call);
    call.write(Buffer.from('hello'));
    await waitUntil('one echo', () => seen.messages.length === 1);
    call.cancel();
    expect((await seen.error)?.code).toBe(grpc.status.CANCELLED);
  });
});

describe('light gRPC client dialling', () => {
  it('reports a refused connection as UNAVAILABLE with the socket error, as grpc-js does', async () => {
    const port = await closedPort();
    const call = open(port);
    const seen = collect(call);
    call.write(Buffer.from('x'));
    const err = await seen.error;
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(err?.details).toMatch(/No connection established\. Last error: .*ECONNREFUSED/);
  });
});
