import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { type AgentFrame, type ConnectRequest, type ConnectResponse, TunnelServiceClient } from '@st/proto';
import type { TunnelError } from '@st/tunnel-protocol';
import { type AgentCall, AgentSession, PING_BURST } from './agent-session';
import { BOUNDED_TUNNEL_SERVICE, MAX_FRAMES_PER_MESSAGE } from './bounded-connect-request';

/** A broker of one AgentSession per call, over real grpc-js on 127.0.0.1. */
let server: grpc.Server;
let client: TunnelServiceClient;
const sessions: AgentSession[] = [];
const calls: grpc.ClientDuplexStream<ConnectRequest, ConnectResponse>[] = [];

beforeAll(async () => {
  server = new grpc.Server();
  server.addService(BOUNDED_TUNNEL_SERVICE, {
    connect: (call: AgentCall) => {
      const tunnel = { id: 'tun_1', userId: 'usr_1', upstreamUrl: 'http://127.0.0.1:9', upstreamApiKey: '', plainHttp: true };
      const session = new AgentSession(call, tunnel, 'c1', { brokerId: 'test', streamQueueLimitBytes: 1024 * 1024 }, silentLogger(), {
        ready: () => undefined,
        closed: () => undefined,
        health: () => undefined,
      });
      sessions.push(session);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  client = new TunnelServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterEach(() => {
  for (const call of calls.splice(0)) call.cancel();
  for (const s of sessions.splice(0)) s.close('test over');
});

afterAll(() => {
  client.close();
  server.forceShutdown();
});

const register: AgentFrame = {
  frame: { $case: 'register', value: { protocolVersion: 1, agentVersion: 'rogue', capabilities: [], hostname: 'h', receiveWindow: 0, upstreamOverride: '', agentInstanceId: '', connectionEpoch: 0 } },
};
const ping = (nonce: number): AgentFrame => ({ frame: { $case: 'ping', value: { nonce } } });

/** An agent stream that reads only when told to; its status arrives whether it reads or not. */
function rogue() {
  const call = client.connect(new grpc.Metadata());
  calls.push(call);
  const frames: ConnectResponse['frames'] = [];
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('error', () => undefined);
  return {
    call,
    frames,
    status,
    read: () => call.on('data', (m: ConnectResponse) => frames.push(...m.frames)),
  };
}

async function until<T>(what: string, check: () => T | undefined, ms = 5_000): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = check();
    if (v) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('AgentSession limits', () => {
  it('owes one Pong for a burst of Pings, carrying the newest nonce', async () => {
    const r = rogue();
    r.read();
    r.call.write({ frames: [register, ...Array.from({ length: 40 }, (_, i) => ping(i + 1))] });
    await until('the welcome and a pong', () => r.frames.some((f) => f.frame?.$case === 'pong'));
    await new Promise((res) => setTimeout(res, 100));
    const pongs = r.frames.filter((f) => f.frame?.$case === 'pong').map((f) => (f.frame?.$case === 'pong' ? f.frame.value.nonce : -1));
    expect(pongs).toEqual([40]);
  });

  it('cuts a stream that pings faster than the limit with RESOURCE_EXHAUSTED, naming the limit, and stops reading its message', async () => {
    const r = rogue();
    r.call.write({ frames: [register, ...Array.from({ length: 1_000 }, (_, i) => ping(i + 1))] });
    const status = await r.status;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(/too many Ping frames: the broker allows 10 Ping frames per second \(burst 50\)/);
    expect(sessions[0].isOpen).toBe(false);
    expect(PING_BURST).toBeLessThan(1_000);
  });

  it('cuts a stream that sends a message of more frames than any agent batches, without decoding them', async () => {
    const r = rogue();
    r.call.write({ frames: [register] });
    r.call.write({ frames: Array.from({ length: MAX_FRAMES_PER_MESSAGE + 1 }, (_, i) => ping(i + 1)) });
    const status = await r.status;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(new RegExp(`too many frames: the broker allows ${MAX_FRAMES_PER_MESSAGE} frames in one message`));
  });

  it('cuts a stream that does not read once the queue towards it passes the limit, and fails its exchanges', async () => {
    const r = rogue(); // never reads
    r.call.write({ frames: [register] });
    const session = await until('the session', () => (sessions[0]?.available ? sessions[0] : undefined));
    const errors: TunnelError[] = [];
    const sink = { head: () => undefined, data: () => undefined, error: (e: TunnelError) => errors.push(e) };
    // Requests of 60 KB each, routed to an agent that reads nothing: 1 MiB queued is the limit.
    // Once the stream stops draining, Opens go without their bodies (a few hundred bytes each).
    for (let i = 0; i < 2_000 && session.isOpen; i++) {
      session.open({ requestId: `r${i}`, method: 'POST', path: '/x', query: '', headers: [], body: new Uint8Array(60_000), end: true }, sink);
      await new Promise((res) => setImmediate(res));
    }
    await until('the stream to be cut', () => !session.isOpen);
    expect(errors.length).toBeGreaterThan(0);
    expect(new Set(errors.map((e) => e.kind))).toEqual(new Set(['stream_lost']));
    expect(errors[0].message).toMatch(/stopped reading its stream .*ST_STREAM_QUEUE_LIMIT, 1 MiB/);
    // The status could not be written behind the unread queue: the HTTP/2 stream was reset
    // (ENHANCE_YOUR_CALM, which grpc-js reports as RESOURCE_EXHAUSTED) and its buffers freed.
    const status = await r.status;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(/Bandwidth exhausted or memory limit exceeded/);
  });

  it('drops the queued frames of an exchange cancelled before they were written, and sends no Cancel for an Open never sent', async () => {
    const r = rogue();
    r.read();
    r.call.write({ frames: [register] });
    const session = await until('the session', () => (sessions[0]?.available ? sessions[0] : undefined));
    const sink = { head: () => undefined, data: () => undefined, error: () => undefined };
    const head = { requestId: 'r', method: 'POST', path: '/x', query: '', headers: [], body: new Uint8Array(10), end: false };
    const sent = session.open(head, sink);
    await until('the first open', () => r.frames.some((f) => f.frame?.$case === 'open'));
    session.open(head, sink).cancel('the caller went away');
    sent.cancel('the caller went away too');
    await until('the cancel', () => r.frames.some((f) => f.frame?.$case === 'cancel'));
    await new Promise((res) => setTimeout(res, 50));
    // The second Open was dropped instead of being followed by a Cancel; the first was cancelled.
    expect(r.frames.map((f) => f.frame?.$case)).toEqual(['welcome', 'open', 'cancel']);
  });
});
