import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { GrpcServerHost } from '../grpc-server-host';
import type { LightServerCall } from './grpc-light-call';

/*
 * A real grpc-js client against GrpcServerHost with one light method (/st.test.Light/Connect)
 * and one grpc-js method (/st.test.Light/Other) on the same port.
 */
const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const CONNECT_PATH = '/st.test.Light/Connect';
const SERVICE = {
  connect: {
    path: CONNECT_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: raw.serialize,
    requestDeserialize: raw.deserialize,
    responseSerialize: raw.serialize,
    responseDeserialize: raw.deserialize,
  },
  other: {
    path: '/st.test.Light/Other',
    requestStream: false,
    responseStream: false,
    requestSerialize: raw.serialize,
    requestDeserialize: raw.deserialize,
    responseSerialize: raw.serialize,
    responseDeserialize: raw.deserialize,
  },
} as const;
const Client = grpc.makeGenericClientConstructor(SERVICE, 'st.test.Light');
type Duplex = grpc.ClientDuplexStream<Buffer, Buffer>;
type Call = LightServerCall<Buffer, Buffer>;

interface Started {
  host: GrpcServerHost;
  port: number;
  calls: Call[];
  nextCall(): Promise<Call>;
}

const hosts: GrpcServerHost[] = [];
const clients: grpc.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(hosts.splice(0).map((h) => h.shutdown(100)));
});

/** Echo: every message comes back; "fail" ends the call with a status; the client's end ends it OK. */
function echo(call: Call): void {
  call.on('data', (m: Buffer) => {
    if (m.toString() === 'fail') call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: 'you asked for it: 100% ünïcode' });
    else call.write(m);
  });
  call.on('end', () => call.end());
}

async function start(handler: (call: Call) => void = echo): Promise<Started> {
  const host = new GrpcServerHost({ logger: silentLogger() });
  hosts.push(host);
  const calls: Call[] = [];
  const waiters: Array<(c: Call) => void> = [];
  host.addService('st.test.Light', SERVICE, {
    connect: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => call.end(),
    other: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('from grpc-js')),
  });
  host.addLightStreamingMethod<Buffer, Buffer>(CONNECT_PATH, (call) => {
    calls.push(call);
    waiters.shift()?.(call);
    handler(call);
  }, raw);
  const port = await host.listen('127.0.0.1', 0);
  return {
    host,
    port,
    calls,
    nextCall: () => (calls.length > waiters.length ? Promise.resolve(calls[waiters.length]) : new Promise((r) => waiters.push(r))),
  };
}

function client(port: number, options: grpc.ChannelOptions = {}): grpc.Client & Record<string, (...args: unknown[]) => unknown> {
  // A channel of its own: grpc-js shares subchannels (connections) between clients of one target.
  const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, ...options });
  clients.push(c);
  return c as never;
}

function open(c: ReturnType<typeof client>, metadata = new grpc.Metadata()): Duplex {
  const call = c.connect(metadata) as Duplex;
  call.on('error', () => undefined);
  return call;
}

function nextMessage(call: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    call.once('data', resolve);
    call.once('error', reject);
  });
}

function statusOf(call: Duplex): Promise<grpc.StatusObject> {
  return new Promise((resolve) => call.on('status', resolve).on('error', () => undefined).on('data', () => undefined));
}

describe('light gRPC server (grpc-js client)', () => {
  it('serves Connect on the light stack with metadata, messages both ways and a status with its message', async () => {
    const s = await start();
    const c = client(s.port);
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer tok-123');
    md.set('x-trace-bin', Buffer.from([0, 1, 2, 255]));
    const call = open(c, md);
    call.write(Buffer.from('hello'));
    expect((await nextMessage(call)).toString()).toBe('hello');
    const served = await s.nextCall();
    expect(served.metadata.get('authorization')).toEqual(['Bearer tok-123']);
    expect(served.metadata.get('x-trace-bin')).toEqual([Buffer.from([0, 1, 2, 255])]);
    expect(served.metadata.get('te')).toEqual([]);
    expect(served.getPeer()).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(s.host.lightConnections).toBe(1);
    const status = statusOf(call);
    call.write(Buffer.from('fail'));
    expect(await status).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, details: 'you asked for it: 100% ünïcode' });
  });

  it('ends with OK after the client half-closes', async () => {
    const s = await start();
    const call = open(client(s.port));
    const status = statusOf(call);
    call.write(Buffer.from('x'));
    call.end();
    expect((await status).code).toBe(grpc.status.OK);
  });

  it('moves messages larger than every window, both ways, across many DATA frames', async () => {
    const s = await start();
    const call = open(client(s.port));
    const big = Buffer.alloc(1_500_000);
    for (let i = 0; i < big.length; i++) big[i] = i % 251;
    const received: Buffer[] = [];
    const got = new Promise<void>((resolve) =>
      call.on('data', (m: Buffer) => {
        received.push(m);
        if (received.length === 3) resolve();
      }),
    );
    for (let i = 0; i < 3; i++) call.write(big);
    await got;
    for (const m of received) expect(m.equals(big)).toBe(true);
  });

  it('serves other methods with grpc-js on the same port, also from a client whose connection began with Connect', async () => {
    const s = await start();
    const fresh = client(s.port);
    const reply = await new Promise<Buffer>((resolve, reject) => fresh.other(Buffer.from('?'), (err: Error | null, r: Buffer) => (err ? reject(err) : resolve(r))));
    expect(reply.toString()).toBe('from grpc-js');
    expect(s.host.lightConnections).toBe(0);
    const c = client(s.port);
    const call = open(c);
    call.write(Buffer.from('a'));
    await nextMessage(call);
    // Refused on the light connection (GOAWAY + REFUSED_STREAM), sent again by grpc-js on a new one.
    const again = await new Promise<Buffer>((resolve, reject) => c.other(Buffer.from('?'), (e: Error | null, r: Buffer) => (e ? reject(e) : resolve(r))));
    expect(again.toString()).toBe('from grpc-js');
    // The Connect call goes on where it was.
    call.write(Buffer.from('b'));
    expect((await nextMessage(call)).toString()).toBe('b');
    expect(s.host.lightConnections).toBe(1);
  });

  it('tells the handler when the client cancels', async () => {
    // Not echo: grpc-js half-closes before its RST_STREAM, and echo would end the call on that.
    const s = await start((call) => call.on('data', (m: Buffer) => call.write(m)));
    const call = open(client(s.port));
    call.write(Buffer.from('a'));
    await nextMessage(call);
    const served = await s.nextCall();
    const cancelled = new Promise<void>((resolve) => served.once('cancelled', () => resolve()));
    call.cancel();
    await cancelled;
    expect(served.cancelled).toBe(true);
  });

  it('ends a call whose message is above the receive limit with RESOURCE_EXHAUSTED', async () => {
    const s = await start();
    const call = open(client(s.port, { 'grpc.max_send_message_length': -1 }));
    const status = statusOf(call);
    call.write(Buffer.alloc(3 * 1024 * 1024));
    const st = await status;
    expect(st.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('holds back a client that writes faster than the handler reads (paused call: no WINDOW_UPDATE)', async () => {
    const s = await start((call) => call.pause());
    const call = open(client(s.port));
    let accepted = 0;
    const chunk = Buffer.alloc(16 * 1024);
    // grpc-js buffers a little beyond the HTTP/2 windows, then write() returns false.
    while (call.write(chunk) && accepted < 10_000) accepted++;
    const served = await s.nextCall();
    expect(accepted).toBeLessThan(100);
    let read = 0;
    const allRead = new Promise<void>((resolve) =>
      served.on('data', () => {
        if (++read === accepted + 1) resolve();
      }),
    );
    served.resume();
    await allRead;
  });

  it('waits for the client to read: write() returns false and drain follows once it reads', async () => {
    const s = await start((call) => call.on('data', () => undefined));
    const call = open(client(s.port));
    call.write(Buffer.from('go'));
    const served = await s.nextCall();
    call.pause();
    const chunk = Buffer.alloc(64 * 1024);
    let writes = 0;
    while (served.write(chunk)) writes++;
    expect(writes).toBeLessThan(64);
    const drained = new Promise<void>((resolve) => served.once('drain', () => resolve()));
    call.on('data', () => undefined);
    call.resume();
    await drained;
  });

  it('sends GOAWAY at shutdown: the open call ends and shutdown resolves', async () => {
    const s = await start((call) => call.on('data', (m: Buffer) => call.write(m)));
    const call = open(client(s.port));
    call.write(Buffer.from('a'));
    await nextMessage(call);
    const status = statusOf(call);
    await s.host.shutdown(200);
    hosts.length = 0;
    expect((await status).code).not.toBe(grpc.status.OK);
    expect(s.host.lightConnections).toBe(0);
  });
});

describe('light gRPC server keepalive (grpc-js client)', () => {
  it('closes a connection whose client pings more often than permitted (GOAWAY too_many_pings)', async () => {
    const s = await start((call) => call.on('data', (m: Buffer) => call.write(m)));
    const call = open(client(s.port, { 'grpc.keepalive_time_ms': 20, 'grpc.keepalive_timeout_ms': 1_000, 'grpc.keepalive_permit_without_calls': 1 }));
    const status = statusOf(call);
    call.write(Buffer.from('a'));
    // grpc-js reports a call cut by ENHANCE_YOUR_CALM as RESOURCE_EXHAUSTED (and doubles its ping interval).
    expect((await status).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });
});
