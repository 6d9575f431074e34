import { createServer, type Server, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import type { LightClientCall, LightServiceError } from './h2/grpc-light-client-call';
import { FLAG, FRAME, type Frame, FrameReader, SETTING, encodeFrame, encodeGoaway, encodePing, encodeSettings, encodeSettingsAck, encodeWindowUpdate, frameHeader } from './h2/h2-frames';
import { encodeHeaderBlock } from './h2/hpack-encoder';
import { H2_ERROR } from './h2/h2-errors';
import { openLightCall } from './light-grpc-client';

/*
 * The light client against hand-made servers that break the rules: what a hostile or broken
 * broker can do must end the call with a status (or the connection with GOAWAY), never make the
 * agent buffer without bound or hang.
 */
const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };

/** One scripted server connection: the frames the client sent, and a way to send ours. */
interface Peer {
  socket: Socket;
  frames: Frame[];
  send(...buffers: Buffer[]): void;
}

const servers: Server[] = [];
const handles: Array<{ close(): void }> = [];
afterEach(() => {
  for (const h of handles.splice(0)) h.close();
  for (const s of servers.splice(0)) s.close();
});

async function scripted(onFrame: (peer: Peer, frame: Frame) => void, options: { read?: boolean } = {}): Promise<{ port: number; peers: Peer[] }> {
  const peers: Peer[] = [];
  const server = createServer((socket) => {
    const reader = new FrameReader({ maxFrameSize: 16_384, expectPreface: true });
    const peer: Peer = { socket, frames: [], send: (...buffers) => void socket.write(Buffer.concat(buffers)) };
    peers.push(peer);
    socket.on('error', () => undefined);
    if (options.read === false) {
      socket.pause();
      return;
    }
    socket.on('data', (chunk) => {
      for (const frame of reader.push(chunk)) {
        const copy = { ...frame, payload: Buffer.from(frame.payload) };
        peer.frames.push(copy);
        onFrame(peer, copy);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, peers };
}

function open(port: number): LightClientCall<Buffer, Buffer> {
  const handle = openLightCall({ target: { host: '127.0.0.1', port }, path: '/t.T/C', metadata: new grpc.Metadata(), codec: raw, userAgent: 'attack-spec', logger: silentLogger() });
  handles.push(handle);
  return handle.call;
}

function outcome(call: LightClientCall<Buffer, Buffer>): Promise<{ code: grpc.status; details: string; messages: Buffer[] }> {
  const messages: Buffer[] = [];
  call.on('data', (m: Buffer) => messages.push(Buffer.from(m)));
  return new Promise((resolve) => {
    call.on('error', (e: LightServiceError) => resolve({ code: e.code, details: e.details, messages }));
    call.on('end', () => resolve({ code: grpc.status.OK, details: '', messages }));
  });
}

const headers = (list: Array<[string, string]>, flags: number = FLAG.END_HEADERS) => encodeFrame(FRAME.HEADERS, flags, 1, encodeHeaderBlock(list));
const RESPONSE: Array<[string, string]> = [[':status', '200'], ['content-type', 'application/grpc']];
const message = (body: Buffer) => {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return encodeFrame(FRAME.DATA, 0, 1, Buffer.concat([prefix, body]));
};

/** Answers the client's HEADERS with `reply` (after our SETTINGS and an ACK of the client's). */
function onRequest(reply: (peer: Peer) => void): (peer: Peer, frame: Frame) => void {
  return (peer, frame) => {
    if (frame.type === FRAME.HEADERS) {
      peer.send(encodeSettings([]), encodeSettingsAck());
      reply(peer);
    }
  };
}

describe('light gRPC client against hostile servers', () => {
  it('a frame above our SETTINGS_MAX_FRAME_SIZE: GOAWAY FRAME_SIZE_ERROR, the call UNAVAILABLE', async () => {
    const { port, peers } = await scripted(onRequest((p) => p.send(headers(RESPONSE), frameHeader(FRAME.DATA, 0, 1, 20_000), Buffer.alloc(20_000))));
    const result = await outcome(open(port));
    expect(result.code).toBe(grpc.status.UNAVAILABLE);
    expect(result.details).toMatch(/exceeds our SETTINGS_MAX_FRAME_SIZE/);
    await waitFor(() => peers[0].frames.some((f) => f.type === FRAME.GOAWAY && f.payload.readUInt32BE(4) === H2_ERROR.FRAME_SIZE_ERROR));
  });

  it('a WINDOW_UPDATE that overflows the connection window: GOAWAY FLOW_CONTROL_ERROR', async () => {
    const { port, peers } = await scripted(onRequest((p) => p.send(encodeWindowUpdate(0, 2 ** 31 - 1))));
    const result = await outcome(open(port));
    expect(result.code).toBe(grpc.status.UNAVAILABLE);
    await waitFor(() => peers[0].frames.some((f) => f.type === FRAME.GOAWAY && f.payload.readUInt32BE(4) === H2_ERROR.FLOW_CONTROL_ERROR));
  });

  it('a message announced above the receive limit: RESOURCE_EXHAUSTED before anything is allocated', async () => {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(64 * 1024 * 1024, 1);
    const { port } = await scripted(onRequest((p) => p.send(headers(RESPONSE), encodeFrame(FRAME.DATA, 0, 1, prefix))));
    const result = await outcome(open(port));
    expect(result.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('a broker that never reads: write() says false at the high-water mark and the queue stays bounded', async () => {
    const { port } = await scripted(() => undefined, { read: false });
    const call = open(port);
    call.on('error', () => undefined);
    const chunk = Buffer.alloc(64 * 1024);
    let writes = 0;
    while (call.write(chunk) && writes < 10_000) writes++;
    // The peer's 64 KiB window and the 1 MiB stream high-water mark stop it, not the kernel.
    expect(writes).toBeLessThan(32);
  });

  it('GOAWAY mid-stream naming our stream: the answer finishes with its status', async () => {
    const { port } = await scripted(
      onRequest((p) => p.send(headers(RESPONSE), message(Buffer.from('one')), encodeGoaway(1, H2_ERROR.NO_ERROR, 'restarting'), message(Buffer.from('two')), headers([['grpc-status', '0']], FLAG.END_HEADERS | FLAG.END_STREAM))),
    );
    const result = await outcome(open(port));
    expect(result.code).toBe(grpc.status.OK);
    expect(result.messages.map(String)).toEqual(['one', 'two']);
  });

  it('GOAWAY that leaves our stream unprocessed: UNAVAILABLE (retry on a new connection)', async () => {
    const { port } = await scripted(onRequest((p) => p.send(encodeGoaway(0, H2_ERROR.NO_ERROR, 'draining'))));
    const result = await outcome(open(port));
    expect(result.code).toBe(grpc.status.UNAVAILABLE);
    expect(result.details).toMatch(/GOAWAY/);
  });

  it.each([
    ['no grpc-status', [] as Array<[string, string]>, grpc.status.UNKNOWN],
    ['a grpc-status that is not a number', [['grpc-status', 'OK']] as Array<[string, string]>, grpc.status.UNKNOWN],
    ['a grpc-status out of range', [['grpc-status', '99']] as Array<[string, string]>, grpc.status.UNKNOWN],
  ])('bad trailers (%s): UNKNOWN, never OK', async (_what, trailers, code) => {
    const { port } = await scripted(onRequest((p) => p.send(headers(RESPONSE), headers(trailers, FLAG.END_HEADERS | FLAG.END_STREAM))));
    expect((await outcome(open(port))).code).toBe(code);
  });

  it('trailers without END_STREAM: INTERNAL, and the stream is reset', async () => {
    const { port, peers } = await scripted(onRequest((p) => p.send(headers(RESPONSE), headers([['grpc-status', '0']]))));
    expect((await outcome(open(port))).code).toBe(grpc.status.INTERNAL);
    await waitFor(() => peers[0].frames.some((f) => f.type === FRAME.RST_STREAM));
  });

  it('an HTTP status instead of a gRPC answer: mapped as gRPC does (401: UNAUTHENTICATED)', async () => {
    const { port } = await scripted(onRequest((p) => p.send(headers([[':status', '401']], FLAG.END_HEADERS | FLAG.END_STREAM))));
    expect((await outcome(open(port))).code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('answers PINGs, honours SETTINGS, and a PING flood gets GOAWAY ENHANCE_YOUR_CALM', async () => {
    const opaque = Buffer.from('12345678');
    const flood = Array.from({ length: 200 }, () => encodePing(false, opaque));
    const { port, peers } = await scripted((p, f) => {
      if (f.type !== FRAME.HEADERS) return;
      p.send(encodeSettings([[SETTING.MAX_FRAME_SIZE, 32_768], [SETTING.INITIAL_WINDOW_SIZE, 1_000_000]]), encodePing(false, opaque));
      setTimeout(() => p.send(...flood), 50);
    });
    const call = open(port);
    const done = outcome(call);
    await waitFor(() => peers[0]?.frames.some((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0 && f.payload.equals(opaque)));
    expect(peers[0].frames.some((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) !== 0)).toBe(true);
    expect((await done).code).toBe(grpc.status.UNAVAILABLE);
    await waitFor(() => peers[0].frames.some((f) => f.type === FRAME.GOAWAY && f.payload.readUInt32BE(4) === H2_ERROR.ENHANCE_YOUR_CALM));
  });
});

async function waitFor(check: () => boolean | undefined, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
