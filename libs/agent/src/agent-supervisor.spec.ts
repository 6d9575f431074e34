import { createServer, type Server as HttpServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { waitUntil } from '@st/testing';
import { type AgentFrame, type ConnectRequest, type ConnectResponse, type Register, TunnelServiceService, Welcome } from '@st/proto';
import { AgentSupervisor } from './agent-supervisor';
import { systemClock } from './clock';
import { EXIT_OK, EXIT_TOKEN_REFUSED } from './exit-codes';
import { QUICK_MIN_SERVED_MS, QUICK_RETRY_MAX_MS } from './reconnect-backoff';

/** Orders events across every fake broker's streams. */
let clock = 0;

/** One agent stream as a fake broker saw it. */
interface SeenStream {
  brokerId: string;
  register?: Register;
  frames: { at: number; frame: AgentFrame }[];
  /** When the agent half-closed it (or cancelled it). */
  endedAt?: number;
  call: grpc.ServerDuplexStream<ConnectRequest, ConnectResponse>;
}

interface FakeBrokerOptions {
  /** The broker id each accepted stream is told (a load balancer in front of several brokers). */
  brokerIds: () => string;
  liveBrokers?: number;
  /** Refuses the stream with this status instead of welcoming it. */
  refuse?: () => { code: grpc.status; details: string } | undefined;
}

/** A TunnelService that welcomes agents, pings them and records what they send. */
class FakeBroker {
  readonly streams: SeenStream[] = [];
  private readonly server = new grpc.Server();
  port = 0;

  constructor(private readonly options: FakeBrokerOptions) {}

  async start(): Promise<this> {
    this.server.addService(TunnelServiceService, { connect: (call: grpc.ServerDuplexStream<ConnectRequest, ConnectResponse>) => this.accept(call) });
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Streams still open (not half-closed by the agent) that were welcomed. */
  open(): SeenStream[] {
    return this.streams.filter((s) => s.endedAt === undefined && s.register);
  }

  stop(): void {
    this.server.forceShutdown();
  }

  private accept(call: grpc.ServerDuplexStream<ConnectRequest, ConnectResponse>): void {
    const refusal = this.options.refuse?.();
    if (refusal) {
      call.emit('error', { code: refusal.code, details: refusal.details, metadata: new grpc.Metadata() });
      return;
    }
    const seen: SeenStream = { brokerId: this.options.brokerIds(), frames: [], call };
    this.streams.push(seen);
    const ping = setInterval(() => call.write({ frames: [{ frame: { $case: 'ping', value: { nonce: 1 } } }] }), 100);
    const ended = () => {
      clearInterval(ping);
      seen.endedAt ??= ++clock;
    };
    call.on('data', (request: ConnectRequest) => {
      for (const frame of request.frames) {
        seen.frames.push({ at: ++clock, frame });
        if (frame.frame?.$case !== 'register') continue;
        seen.register = frame.frame.value;
        const welcome: Welcome = {
          ...Welcome.decode(new Uint8Array()),
          tunnelId: 'tun_test',
          brokerId: seen.brokerId,
          pingIntervalMs: 1_000,
          healthIntervalMs: 300,
          upstreamUrl: model.url,
          liveBrokers: this.options.liveBrokers ?? 1,
        };
        call.write({ frames: [{ frame: { $case: 'welcome', value: welcome } }] });
      }
    });
    call.on('end', () => {
      ended();
      call.end();
    });
    call.on('cancelled', ended);
    call.on('error', ended);
  }
}

/** A model server answering GET /v1/models, counting the probes. */
const model = { url: '', probes: 0, server: undefined as HttpServer | undefined };

beforeAll(async () => {
  model.server = createServer((req, res) => {
    if (req.url === '/v1/models') model.probes++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ object: 'list', data: [{ id: 'm1', object: 'model' }] }));
  });
  await new Promise<void>((r) => model.server!.listen(0, '127.0.0.1', r));
  const address = model.server.address();
  model.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(() => model.server?.close());

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function brokers(...options: FakeBrokerOptions[]): Promise<FakeBroker[]> {
  const started = await Promise.all(options.map((o) => new FakeBroker(o).start()));
  cleanups.push(() => started.forEach((b) => b.stop()));
  return started;
}

function supervise(brokerUrl: string, extra: Partial<ConstructorParameters<typeof AgentSupervisor>[0]> = {}) {
  const statuses: string[] = [];
  const supervisor = new AgentSupervisor({
    brokerUrl,
    brokerConnections: 2,
    token: 'st_agent_test',
    agentVersion: 'test',
    logger: silentLogger(),
    backoff: { initialMs: 50, maxMs: 200 },
    onStatus: (s) => statuses.push(s),
    ...extra,
  });
  const running = supervisor.run();
  cleanups.push(async () => {
    supervisor.stopNow();
    await running;
  });
  return { supervisor, running, statuses };
}

const kinds = (s: SeenStream) => s.frames.map((f) => f.frame.frame?.$case);
const firstAt = (s: SeenStream, kind: string) => s.frames.find((f) => f.frame.frame?.$case === kind)?.at;

describe('AgentSupervisor with several brokers', () => {
  it('holds a stream to each broker of a list, one instance id and rising epochs, health reported on each from one probe loop', async () => {
    const [a, b] = await brokers({ brokerIds: () => 'b1' }, { brokerIds: () => 'b2' });
    const { statuses } = supervise(`${a.url},${b.url}`);
    await waitUntil('a stream to each broker', () => a.open().length === 1 && b.open().length === 1, 10_000);
    const [ra, rb] = [a.open()[0].register!, b.open()[0].register!];
    expect(ra.agentInstanceId).toMatch(/^[0-9a-f]{16}$/);
    expect(rb.agentInstanceId).toBe(ra.agentInstanceId);
    expect([Number(ra.connectionEpoch), Number(rb.connectionEpoch)].sort()).toEqual([1, 2]);
    await waitUntil('health on both streams', () => a.open()[0].frames.some((f) => f.frame.frame?.$case === 'health') && b.open()[0].frames.some((f) => f.frame.frame?.$case === 'health'), 10_000);
    await waitUntil('status naming both brokers', () => statuses.some((s) => /^connected to 2 brokers: (b1, b2|b2, b1) for tunnel tun_test/.test(s)), 10_000);
    // Three more health reports on each stream: one probe per report, not one per stream.
    const reports = () => Math.min(...[a, b].map((x) => kinds(x.open()[0]).filter((k) => k === 'health').length));
    const before = { probes: model.probes, reports: reports() };
    await waitUntil('three more reports on each stream', () => reports() >= before.reports + 3, 10_000);
    expect(model.probes - before.probes).toBeLessThanOrEqual(reports() - before.reports + 1);
  });

  it('redials one load-balanced URL until it holds two distinct brokers; a newer stream to a held broker replaces the older one politely', async () => {
    const ids = ['b1', 'b1', 'b2'];
    const [lb] = await brokers({ brokerIds: () => ids.shift() ?? 'b3', liveBrokers: 2 });
    const { statuses } = supervise(lb.url);
    await waitUntil('streams to b1 and b2', () => lb.open().map((s) => s.brokerId).sort().join() === 'b1,b2', 10_000);
    const [first] = lb.streams;
    // The older stream to b1 said it was draining before it half-closed: nothing new goes to it.
    expect(first.endedAt).toBeDefined();
    expect(kinds(first)).toContain('draining');
    expect(lb.streams).toHaveLength(3);
    await waitUntil('status naming both', () => statuses.some((s) => s.startsWith('connected to 2 brokers: b1, b2')), 10_000);
  });

  it("on a broker's Drain opens the replacement first and only then finishes the old stream", async () => {
    const [a, b] = await brokers({ brokerIds: () => 'b1' }, { brokerIds: () => 'b2' });
    supervise(`${a.url},${b.url}`, { brokerConnections: 1 });
    await waitUntil('one stream', () => a.open().length + b.open().length === 1, 10_000);
    const [old] = [...a.open(), ...b.open()];
    old.call.write({ frames: [{ frame: { $case: 'drain', value: { reason: 'broker shutting down' } } }] });
    await waitUntil('the old stream closed', () => old.endedAt !== undefined, 10_000);
    const replacement = [...a.streams, ...b.streams].find((s) => s !== old && s.register)!;
    expect(replacement).toBeDefined();
    // Registered (and welcomed) before the old stream sent Draining and half-closed.
    expect(firstAt(replacement, 'register')!).toBeLessThan(firstAt(old, 'draining')!);
    expect(replacement.endedAt).toBeUndefined();
  });

  it('lets a drained stream finish after a short bound when no replacement can connect', async () => {
    let refusing = false;
    const [a] = await brokers({ brokerIds: () => 'b1', refuse: () => (refusing ? { code: grpc.status.UNAVAILABLE, details: 'broker shutting down: reconnect' } : undefined) });
    supervise(a.url, { replacementWaitMs: 400 });
    await waitUntil('one stream', () => a.open().length === 1, 10_000);
    const [old] = a.open();
    refusing = true;
    old.call.write({ frames: [{ frame: { $case: 'drain', value: { reason: 'broker shutting down' } } }] });
    await waitUntil('the old stream closed', () => old.endedAt !== undefined, 10_000);
    expect(kinds(old)).toContain('draining');
  });

  it('exits 3 when one broker refuses the token, though another accepted it', async () => {
    const [a, b] = await brokers({ brokerIds: () => 'b1' }, { brokerIds: () => 'b2', refuse: () => ({ code: grpc.status.UNAUTHENTICATED, details: 'invalid agent token' }) });
    const { running } = supervise(`${a.url},${b.url}`);
    const exit = await running;
    expect(exit.exitCode).toBe(EXIT_TOKEN_REFUSED);
    expect(exit.reason).toMatch(/refused the tunnel token: invalid agent token/);
  });

  it('on stop drains every stream and exits 0', async () => {
    const [a, b] = await brokers({ brokerIds: () => 'b1' }, { brokerIds: () => 'b2' });
    const { supervisor, running } = supervise(`${a.url},${b.url}`);
    // Welcomed on both (a health report follows Welcome): a stream still connecting is just cancelled.
    const reported = (x: FakeBroker) => x.open().length === 1 && kinds(x.open()[0]).includes('health');
    await waitUntil('a welcomed stream to each broker', () => reported(a) && reported(b), 10_000);
    const [sa, sb] = [a.open()[0], b.open()[0]];
    await supervisor.stop(5_000);
    expect(await running).toEqual({ exitCode: EXIT_OK, reason: 'stopped' });
    for (const s of [sa, sb]) {
      expect(kinds(s)).toContain('draining');
      expect(s.endedAt).toBeDefined();
    }
  });
});

describe('AgentSupervisor after its broker went away', () => {
  it('keeps retrying within half a second while no broker answers, after a stream that served (a broker restart)', async () => {
    const [b] = await brokers({ brokerIds: () => 'b1' });
    let offset = 0;
    const clock = { now: () => Date.now() + offset, sleep: systemClock.sleep };
    // The product's own backoff (500 ms doubling), not the short one of the other tests.
    const { statuses } = supervise(b.url, { brokerConnections: 1, clock, backoff: {} });
    await waitUntil('the stream to be welcomed', () => b.open().length === 1);
    offset += QUICK_MIN_SERVED_MS + 1_000; // it has served longer than a flapping broker's streams
    b.stop();
    const retries = () => statuses.filter((s) => s.startsWith('retrying in')).map((s) => Number(/retrying in ([\d.]+) s/.exec(s)![1]));
    await waitUntil('five failed attempts', () => retries().length >= 5, 15_000);
    // Exponential backoff would have grown to 2-4 s by the fourth retry.
    expect(Math.max(...retries())).toBeLessThanOrEqual(QUICK_RETRY_MAX_MS / 1000);
  });
});
