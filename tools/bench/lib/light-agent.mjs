// A light st-agent for the idle-tunnel phase: one HTTP/2 connection (node:http2, no grpc-js
// channel) and one TunnelService.Connect stream per tunnel, framed and encoded by hand, so that
// one process can hold 10,000 of them. It speaks the real protocol: Register (with the health
// capability), a HealthReport every Welcome.health_interval_ms, Pong for every Ping, a
// ResponseHead 200 for every RequestOpen (so a request through the tunnel is answered), and on
// Drain a replacement stream first, the old one closed once it is in. Lost streams are redialled
// with st-agent's own backoff (libs/agent/src/reconnect-backoff.ts and retry-delay.ts, bundled by
// the caller) and its supervisor's rules: reset after a stable connection, no backoff after Drain.
import http2 from 'node:http2';

const CONNECT_PATH = '/sessiontunnel.v1.TunnelService/Connect';
/** AgentSupervisor's constants (libs/agent/src/agent-supervisor.ts, reconnect-backoff.ts). */
const REPLACEMENT_WAIT_MS = 5_000;
const WELCOME_TIMEOUT_MS = 15_000;
const STATUS = { CANCELLED: 1, UNKNOWN: 2, DEADLINE_EXCEEDED: 4, UNAVAILABLE: 14 };

// ---- protobuf, by hand (field numbers of proto/sessiontunnel/v1/tunnel.proto) -------------------

function varint(n) {
  const out = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
const len = (no, bytes) => Buffer.concat([varint((no << 3) | 2), varint(bytes.length), bytes]);
const num = (no, value) => Buffer.concat([varint(no << 3), varint(value)]);
const str = (no, s) => len(no, Buffer.from(s, 'utf8'));

/** One gRPC message (5-byte prefix) of a ConnectRequest holding the given AgentFrame cases. */
function message(...frames) {
  const body = Buffer.concat(frames.map(([caseNo, inner]) => len(1, len(caseNo, inner))));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

function register({ instanceId, epoch }) {
  return message([
    1,
    Buffer.concat([num(1, 1), str(2, 'bench-light-agent'), str(3, 'health-report'), str(3, 'flow-control'), str(4, 'bench'), str(7, instanceId), num(8, epoch)]),
  ]);
}
const HEALTH = message([9, Buffer.concat([num(1, 1), str(2, 'mock-model')])]);
const pong = (nonce) => message([7, num(1, nonce)]);
/** ResponseHead{exchange_id, status 200, end}: the answer to any request. */
const answer = (exchangeId) => message([2, Buffer.concat([num(1, exchangeId), num(2, 200), num(5, 1)])]);

/** Fields of one protobuf message: [fieldNo, value] with value a number or a Buffer. */
function* fields(buf) {
  let i = 0;
  const readVarint = () => {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = buf[i++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
  };
  while (i < buf.length) {
    const tag = readVarint();
    const wire = tag & 7;
    const no = Math.floor(tag / 8);
    if (wire === 0) yield [no, readVarint()];
    else if (wire === 2) {
      const n = readVarint();
      yield [no, buf.subarray(i, i + n)];
      i += n;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else return;
  }
}
const first = (buf, no) => {
  for (const [n, v] of fields(buf)) if (n === no) return v;
  return undefined;
};

// ---- one agent ------------------------------------------------------------------------------------

/**
 * One tunnel's agent. `hooks.welcomed(agent)` / `hooks.lost(agent)` keep the owner's count of
 * serving agents; `hooks.attempt(outcome)` counts dial outcomes.
 */
export class LightAgent {
  /** @param {{ url: string, token: string, index: number, backoff: any, retryDelay: Function, stableMs: number, hooks: any }} o */
  constructor(o) {
    this.o = o;
    this.instanceId = `bench-${o.index}-${Math.random().toString(36).slice(2, 10)}`;
    this.epoch = 0;
    /** Streams open now (at most two: a draining one and its replacement). */
    this.streams = new Set();
    this.serving = false;
    this.stopped = false;
    this.timer = undefined;
  }

  start() {
    this.dial();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const s of this.streams) s.close();
  }

  /** Streams that count (not draining). */
  counting() {
    return [...this.streams].filter((s) => !s.draining);
  }

  setServing(serving) {
    if (serving === this.serving) return;
    this.serving = serving;
    if (serving) this.o.hooks.welcomed(this);
    else this.o.hooks.lost(this);
  }

  updateServing() {
    this.setServing([...this.streams].some((s) => s.welcomed && !s.closed));
  }

  dial() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const s = new LightStream(this, ++this.epoch);
    this.streams.add(s);
    s.open();
  }

  scheduleDial(delayMs) {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.counting().length === 0) this.dial();
    }, delayMs);
  }

  onWelcome(s) {
    for (const o of this.streams) if (o !== s && o.drainAsked) o.retire();
    this.updateServing();
  }

  onDrain(s) {
    if (s.draining) return;
    s.draining = true;
    s.drainAsked = Date.now();
    this.o.backoff.connectionLost?.(Date.now() - s.started);
    // A planned drain: the replacement is dialled at once, as st-agent does.
    if (this.counting().length === 0) this.dial();
    setTimeout(() => s.retire(), REPLACEMENT_WAIT_MS).unref();
  }

  onEnd(s, outcome) {
    this.streams.delete(s);
    this.updateServing();
    this.o.hooks.attempt(outcome);
    if (this.stopped || s.draining) {
      if (!this.stopped && this.counting().length === 0 && !this.timer) this.dial();
      return;
    }
    if (Date.now() - s.started >= this.o.stableMs) this.o.backoff.reset();
    // st-agent's supervisor: a served stream lost opens the backoff's quick window (when it has one).
    if (outcome.welcomed) this.o.backoff.connectionLost?.(Date.now() - s.started);
    const { delayMs } = this.o.retryDelay(outcome, this.o.backoff);
    this.scheduleDial(delayMs);
  }
}

class LightStream {
  constructor(agent, epoch) {
    this.agent = agent;
    this.epoch = epoch;
    this.started = Date.now();
    this.welcomed = false;
    this.draining = false;
    this.drainAsked = undefined;
    this.closed = false;
    this.pending = Buffer.alloc(0);
    this.healthTimer = undefined;
  }

  open() {
    const { url, token } = this.agent.o;
    const session = http2.connect(url);
    this.session = session;
    session.on('error', (err) => this.end({ code: STATUS.UNAVAILABLE, reason: err.code ?? err.message }));
    session.on('close', () => this.end({ code: STATUS.UNAVAILABLE, reason: 'connection closed' }));
    session.on('goaway', () => {});
    const stream = session.request({
      ':method': 'POST',
      ':path': CONNECT_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      authorization: `Bearer ${token}`,
    });
    this.stream = stream;
    let grpcStatus;
    const takeStatus = (headers) => {
      if (headers['grpc-status'] !== undefined) grpcStatus = { code: Number(headers['grpc-status']), reason: decodeURIComponent(String(headers['grpc-message'] ?? '')) };
    };
    stream.on('response', takeStatus);
    stream.on('trailers', takeStatus);
    stream.on('data', (chunk) => this.onData(chunk));
    stream.on('error', (err) => this.end(grpcStatus ?? { code: STATUS.UNAVAILABLE, reason: err.code ?? err.message }));
    stream.on('close', () => this.end(grpcStatus ?? { code: STATUS.CANCELLED, reason: 'stream closed' }));
    stream.write(register({ instanceId: this.agent.instanceId, epoch: this.epoch }));
    this.welcomeTimer = setTimeout(() => {
      if (!this.welcomed) this.end({ code: STATUS.DEADLINE_EXCEEDED, reason: 'no Welcome in time' });
    }, WELCOME_TIMEOUT_MS);
  }

  onData(chunk) {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 5) {
      const n = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + n) return;
      const msg = this.pending.subarray(5, 5 + n);
      this.pending = this.pending.subarray(5 + n);
      for (const [no, frame] of fields(msg)) if (no === 1) this.onFrame(frame);
    }
  }

  onFrame(frame) {
    for (const [caseNo, body] of fields(frame)) {
      if (caseNo === 1) this.onWelcome(body);
      else if (caseNo === 2) this.write(answer(first(body, 1) ?? 0));
      else if (caseNo === 6) this.write(pong(first(body, 1) ?? 0));
      else if (caseNo === 8) this.agent.onDrain(this);
    }
  }

  onWelcome(body) {
    if (this.welcomed || this.closed) return;
    this.welcomed = true;
    this.welcomedAt = Date.now();
    clearTimeout(this.welcomeTimer);
    const interval = first(body, 9) || 10_000;
    this.write(HEALTH);
    this.healthTimer = setInterval(() => this.write(HEALTH), interval);
    this.agent.onWelcome(this);
  }

  write(buf) {
    if (!this.closed && this.stream.writable) this.stream.write(buf);
  }

  /** Half-closes once its replacement is in (st-agent sends Draining first; the end is enough here). */
  retire() {
    if (this.closed) return;
    this.stream.end();
    setTimeout(() => this.close(), 2_000).unref();
  }

  close() {
    if (this.closed) return;
    this.end({ code: STATUS.CANCELLED, reason: 'closed by the bench' });
  }

  end(outcome) {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.welcomeTimer);
    clearInterval(this.healthTimer);
    try {
      this.stream?.close();
    } catch {
      // already gone
    }
    this.session?.destroy();
    this.agent.onEnd(this, { ...outcome, welcomed: this.welcomed });
  }
}
