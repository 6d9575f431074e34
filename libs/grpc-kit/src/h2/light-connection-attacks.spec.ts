import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { sniffConnection } from './connection-sniffer';
import { H2_ERROR } from './h2-errors';
import {
  CLIENT_PREFACE,
  FLAG,
  FRAME,
  type Frame,
  FrameReader,
  encodeFrame,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeSettingsAck,
  encodeWindowUpdate,
  parseGoaway,
  parseSettings,
  parseWindowUpdate,
  parseRstStream,
} from './h2-frames';
import { encodeHeaderBlock } from './hpack-encoder';
import { HpackDecoder } from './hpack-decoder';
import { DEFAULT_LIGHT_LIMITS, type LightLimits } from './light-limits';
import { LightGrpcServer } from './light-grpc-server';

/*
 * An attacker's bytes over raw sockets against the light stack: each gets its answer in the
 * protocol (GOAWAY or RST_STREAM with the code a public HTTP/2 server owes), and another client
 * is served meanwhile.
 */
const PATH = '/st.test.Light/Connect';
const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const REQUEST = encodeHeaderBlock([
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', PATH],
  [':authority', 'localhost'],
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
]);

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

/** The light stack alone on a port, with `limits`; the handler echoes, or holds the call paused. */
async function serve(limits: Partial<LightLimits> = {}, prefaceTimeoutMs?: number): Promise<number> {
  const light = new LightGrpcServer(silentLogger(), { ...DEFAULT_LIGHT_LIMITS, ...limits });
  light.addMethod<Buffer, Buffer>(
    PATH,
    (call) => {
      if (call.metadata.get('x-pause').length > 0) call.pause();
      if (call.metadata.get('x-widen').length > 0) call.widenWindows();
      call.on('data', (m: Buffer) => call.write(m));
    },
    raw,
  );
  const server = createServer((socket) =>
    sniffConnection(socket, {
      wants: (p) => light.serves(p),
      light: (s, sniffed) => light.adopt(s, sniffed),
      fallback: (s) => s.destroy(),
      prefaceTimeoutMs,
    }),
  );
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

/** A raw HTTP/2 client: writes what a test says, collects the server's frames. */
class RawClient {
  readonly frames: Frame[] = [];
  /** Decoded HEADERS the server sent, by stream. */
  readonly headersOn = new Map<number, Array<[string, string]>>();
  closed = false;
  private readonly decoder = new HpackDecoder();
  private readonly reader = new FrameReader({ maxFrameSize: 1 << 24, expectPreface: false });
  private waiters: Array<() => void> = [];

  constructor(
    readonly socket: Socket,
    private readonly behaviour: { ackSettings: boolean; ackPings: boolean } = { ackSettings: true, ackPings: false },
  ) {
    sockets.push(socket);
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.reader.push(chunk)) {
        this.frames.push(f);
        if (f.type === FRAME.HEADERS) this.headersOn.set(f.streamId, this.decoder.decode(f.payload).headers);
        if (f.type === FRAME.SETTINGS && !(f.flags & FLAG.ACK) && this.behaviour.ackSettings) socket.write(encodeSettingsAck());
        if (f.type === FRAME.PING && !(f.flags & FLAG.ACK) && this.behaviour.ackPings) socket.write(encodePing(true, f.payload));
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number, extraHeaders: Array<[string, string]> = [], behaviour?: { ackSettings: boolean; ackPings: boolean }): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const client = new RawClient(socket, behaviour);
    socket.write(Buffer.concat([CLIENT_PREFACE, encodeSettings([])]));
    client.headers(1, extraHeaders.length > 0 ? encodeHeaderBlock([...requestHeaders(), ...extraHeaders]) : REQUEST);
    return client;
  }

  headers(streamId: number, block: Buffer = REQUEST, flags: number = FLAG.END_HEADERS): void {
    this.socket.write(encodeFrame(FRAME.HEADERS, flags, streamId, block));
  }

  write(buffer: Buffer): void {
    this.socket.write(buffer);
  }

  /** Resolves with the first frame from the server that matches. */
  async next(match: (f: Frame) => boolean): Promise<Frame> {
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.closed) throw new Error(`the server closed the connection; frames: ${this.frames.map((f) => f.type).join(',')}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  async goaway(): Promise<{ code: number; debug: string }> {
    const f = await this.next((x) => x.type === FRAME.GOAWAY);
    return { code: parseGoaway(f.payload).code, debug: f.payload.subarray(8).toString() };
  }

  async rst(streamId: number): Promise<number> {
    return parseRstStream((await this.next((x) => x.type === FRAME.RST_STREAM && x.streamId === streamId)).payload);
  }

  /** Resolves once the server closed the socket. */
  async closedByServer(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

function requestHeaders(): Array<[string, string]> {
  return [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', PATH],
    [':authority', 'localhost'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
  ];
}

function grpcMessage(body: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/** Another client, after the attack: its message comes back on a fresh connection. */
async function stillServes(port: number): Promise<void> {
  const c = await RawClient.open(port);
  c.write(encodeFrame(FRAME.DATA, 0, 1, grpcMessage(Buffer.from('still here'))));
  const data = await c.next((f) => f.type === FRAME.DATA && f.streamId === 1);
  expect(data.payload.subarray(5).toString()).toBe('still here');
}

describe('light HTTP/2 connection under attack', () => {
  it('answers a rapid-reset flood (CVE-2023-44487) with GOAWAY ENHANCE_YOUR_CALM', async () => {
    const port = await serve();
    const c = await RawClient.open(port);
    for (let id = 3; id < 3 + 2 * 300; id += 2) {
      c.headers(id);
      c.write(encodeRstStream(id, H2_ERROR.CANCEL));
    }
    expect((await c.goaway()).code).toBe(H2_ERROR.ENHANCE_YOUR_CALM);
    await stillServes(port);
  });

  it('answers a CONTINUATION flood with GOAWAY ENHANCE_YOUR_CALM before decoding it', async () => {
    const port = await serve();
    const c = await RawClient.open(port);
    c.headers(3, REQUEST, 0);
    const fragment = Buffer.alloc(16_000, 0x40);
    for (let i = 0; i < 10; i++) c.write(encodeFrame(FRAME.CONTINUATION, 0, 3, fragment));
    expect((await c.goaway()).code).toBe(H2_ERROR.ENHANCE_YOUR_CALM);
    await stillServes(port);
  });

  it('answers a SETTINGS flood with GOAWAY ENHANCE_YOUR_CALM', async () => {
    const port = await serve();
    const c = await RawClient.open(port);
    for (let i = 0; i < 500; i++) c.write(encodeSettings([[4, 65_535]]));
    expect((await c.goaway()).code).toBe(H2_ERROR.ENHANCE_YOUR_CALM);
    await stillServes(port);
  });

  it('answers a PING flood with GOAWAY ENHANCE_YOUR_CALM "too_many_pings", as grpc servers do', async () => {
    const port = await serve();
    const c = await RawClient.open(port);
    for (let i = 0; i < 20; i++) c.write(encodePing(false, Buffer.alloc(8, i)));
    expect(await c.goaway()).toEqual({ code: H2_ERROR.ENHANCE_YOUR_CALM, debug: 'too_many_pings' });
    await stillServes(port);
  });

  it('acknowledges pings at the permitted interval', async () => {
    const port = await serve({ minPingIntervalMs: 0 });
    const c = await RawClient.open(port);
    for (let i = 0; i < 5; i++) c.write(encodePing(false, Buffer.alloc(8, i)));
    await c.next((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0 && f.payload[0] === 4);
    expect(c.frames.some((f) => f.type === FRAME.GOAWAY)).toBe(false);
  });

  it('answers a connection WINDOW_UPDATE past 2^31-1 with GOAWAY FLOW_CONTROL_ERROR', async () => {
    const port = await serve();
    const c = await RawClient.open(port);
    c.write(encodeWindowUpdate(0, 2 ** 31 - 1));
    expect((await c.goaway()).code).toBe(H2_ERROR.FLOW_CONTROL_ERROR);
  });

  it('answers a stream WINDOW_UPDATE past 2^31-1 with RST_STREAM FLOW_CONTROL_ERROR and keeps the connection', async () => {
    const port = await serve();
    const c = await RawClient.open(port);
    c.write(encodeWindowUpdate(1, 2 ** 31 - 1));
    expect(await c.rst(1)).toBe(H2_ERROR.FLOW_CONTROL_ERROR);
    c.headers(3);
    c.write(encodeFrame(FRAME.DATA, 0, 3, grpcMessage(Buffer.from('on 3'))));
    expect((await c.next((f) => f.type === FRAME.DATA && f.streamId === 3)).payload.subarray(5).toString()).toBe('on 3');
  });

  it('opens 8 MiB stream and 16 MiB connection windows once the call widens them, and accepts DATA up to them', async () => {
    const port = await serve();
    const c = await RawClient.open(port, [['x-widen', '1'], ['x-pause', '1']]);
    const settings = await c.next((f) => f.type === FRAME.SETTINGS && !(f.flags & FLAG.ACK) && parseSettings(f.payload).some(([id, v]) => id === 4 && v === 8 * 1024 * 1024));
    expect(settings).toBeDefined();
    const update = await c.next((f) => f.type === FRAME.WINDOW_UPDATE && f.streamId === 0);
    expect(parseWindowUpdate(update.payload)).toBe(16 * 1024 * 1024 - 65_535);
    // 1 MiB on a paused call: far beyond the 64 KiB windows of before, within the new ones.
    const chunk = Buffer.alloc(16_384);
    for (let i = 0; i < 64; i++) c.write(encodeFrame(FRAME.DATA, 0, 1, chunk));
    c.write(encodePing(false, Buffer.alloc(8, 7)));
    await c.next((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0);
    expect(c.frames.some((f) => f.type === FRAME.GOAWAY || f.type === FRAME.RST_STREAM)).toBe(false);
  });

  it('answers DATA beyond the window with FLOW_CONTROL_ERROR', async () => {
    const port = await serve();
    const c = await RawClient.open(port, [['x-pause', '1']]);
    const chunk = Buffer.alloc(16_384);
    for (let i = 0; i < 5; i++) c.write(encodeFrame(FRAME.DATA, 0, 1, chunk));
    expect((await c.goaway()).code).toBe(H2_ERROR.FLOW_CONTROL_ERROR);
    await stillServes(port);
  });

  it('refuses streams above MAX_CONCURRENT_STREAMS with RST_STREAM REFUSED_STREAM', async () => {
    const port = await serve({ maxConcurrentStreams: 2 });
    const c = await RawClient.open(port);
    c.headers(3);
    c.headers(5);
    expect(await c.rst(5)).toBe(H2_ERROR.REFUSED_STREAM);
    expect(c.frames.some((f) => f.type === FRAME.GOAWAY)).toBe(false);
  });

  it('answers an even stream id with GOAWAY PROTOCOL_ERROR', async () => {
    const port = await serve();
    const c = await RawClient.open(port);
    c.headers(2);
    expect((await c.goaway()).code).toBe(H2_ERROR.PROTOCOL_ERROR);
  });

  it('answers a reused stream id with GOAWAY PROTOCOL_ERROR', async () => {
    const port = await serve();
    const c = await RawClient.open(port);
    c.headers(5);
    c.headers(3);
    expect((await c.goaway()).code).toBe(H2_ERROR.PROTOCOL_ERROR);
  });

  it('answers a peer that never acknowledges our SETTINGS with GOAWAY SETTINGS_TIMEOUT, at a keepalive', async () => {
    const port = await serve({ keepaliveTimeMs: 20, keepaliveTimeoutMs: 60_000 });
    const c = await RawClient.open(port, [], { ackSettings: false, ackPings: true });
    expect((await c.goaway()).code).toBe(H2_ERROR.SETTINGS_TIMEOUT);
  });

  it('drops a peer that does not answer our keepalive PING in time', async () => {
    const port = await serve({ keepaliveTimeMs: 20, keepaliveTimeoutMs: 20 });
    const c = await RawClient.open(port, [], { ackSettings: true, ackPings: false });
    await c.next((f) => f.type === FRAME.PING);
    await c.closedByServer();
  });

  it('keeps a peer that answers keepalive PINGs', async () => {
    const port = await serve({ keepaliveTimeMs: 10, keepaliveTimeoutMs: 60_000 });
    const c = await RawClient.open(port, [], { ackSettings: true, ackPings: true });
    await c.next((f) => f.type === FRAME.PING && f.payload.readUInt32BE(4) === 5);
    expect(c.closed).toBe(false);
    await stillServes(port);
  });

  it('closes a connection that sends no preface in time (slowloris)', async () => {
    const port = await serve({}, 50);
    const socket = connect(port, '127.0.0.1');
    const c = new RawClient(socket);
    socket.write(CLIENT_PREFACE.subarray(0, 10));
    await c.closedByServer();
    await stillServes(port);
  });

  it('refuses another path on a light connection with a GOAWAY that leaves it unprocessed; a compressed message is INTERNAL', async () => {
    const port = await serve();
    const c = await RawClient.open(port);
    c.headers(3, encodeHeaderBlock([...requestHeaders().filter(([n]) => n !== ':path'), [':path', '/other.Service/Call']]));
    const goaway = await c.next((f) => f.type === FRAME.GOAWAY);
    expect(parseGoaway(goaway.payload)).toEqual({ lastStreamId: 1, code: H2_ERROR.NO_ERROR });
    expect(goaway.payload.subarray(8).toString()).toContain(`serves only ${PATH}`);
    const compressed = grpcMessage(Buffer.from('x'));
    compressed[0] = 1;
    c.write(encodeFrame(FRAME.DATA, 0, 1, compressed));
    await c.next((f) => f.type === FRAME.HEADERS && f.streamId === 1 && (f.flags & FLAG.END_STREAM) !== 0);
    const internal = new Map(c.headersOn.get(1));
    expect(internal.get('grpc-status')).toBe('13');
    expect(internal.get('grpc-message')).toContain('compressed');
  });
});
