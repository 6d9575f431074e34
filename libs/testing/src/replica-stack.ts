import { randomBytes } from 'node:crypto';
import type { TunnelConnection } from '@st/proto';
import { builtApp } from './built-apps';
import { ControlPlaneApi } from './control-plane-api';
import { type ExitInfo, type ManagedProcess, type ProcessEnv, spawnProcess } from './managed-process';
import { type FreshDatabase, freshDatabase } from './postgres-database';
import { TestRedisServer } from './redis-server';
import { type MockModel, cleanupAll, makeTempDir, startMockModel } from './stack';
import { type StctlRun, runStctl, stctlJson } from './stctl-runner';
import { closedPort, waitUntil } from './system-probes';

/** The split server processes, by the app that runs them. */
export type ReplicaRole = 'broker' | 'gateway' | 'discovery';

/** How long a split process may take to print its ready line on a busy two-core machine. */
const READY_TIMEOUT_MS = 45_000;

/**
 * One st-broker, st-gateway or st-discovery process on fixed ports, so that it can be killed and
 * started again where the others (and the agent's URL list) expect it.
 */
export class ReplicaProcess {
  private current: ManagedProcess | undefined;
  /** How many times it was started. */
  starts = 0;

  constructor(
    readonly role: ReplicaRole,
    /** "broker-1", "gateway-2", "discovery": its ST_BROKER_ID for a broker. */
    readonly id: string,
    readonly env: ProcessEnv,
  ) {}

  /** The process of the latest start. */
  get process(): ManagedProcess {
    if (!this.current) throw new Error(`${this.id} was never started`);
    return this.current;
  }

  get running(): boolean {
    return this.current !== undefined && this.current.exit === undefined;
  }

  /** Starts it (again) and waits for its ready line. */
  async start(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    if (this.running) throw new Error(`${this.id} is already running`);
    this.starts++;
    this.current = spawnProcess({ name: `st-${this.role} ${this.id} (start ${this.starts})`, script: builtApp(this.role), env: this.env });
    await this.current.waitForLine(new RegExp(`^st-${this.role} ready: `), { timeoutMs });
  }

  /** kill -9: no goodbye to anyone. */
  kill(): Promise<ExitInfo> {
    return this.process.kill();
  }

  /**
   * SIGTERM and the wait for a clean exit; fails (after a SIGKILL) when it outlives `timeoutMs`,
   * since a shutdown that hangs is a failure of its own.
   */
  async terminate(timeoutMs: number): Promise<ExitInfo> {
    const proc = this.process;
    const exit = await proc.stop('SIGTERM', timeoutMs);
    if (exit.signal === 'SIGKILL') throw new Error(`${this.id} did not exit within ${timeoutMs} ms of SIGTERM\n${proc.describe()}`);
    return exit;
  }
}

/** A user with one session and one OpenAI tunnel in it, made through discovery with stctl. */
export interface Tenant {
  userId: string;
  userName: string;
  apiKey: string;
  sessionId: string;
  tunnelId: string;
  agentToken: string;
}

export interface ReplicaStackOptions {
  brokers?: number;
  gateways?: number;
  /** Extra environment of every server process (ST_SHUTDOWN_GRACE_MS, limits, …). */
  serverEnv?: ProcessEnv;
  /** Extra environment of the mock model server. */
  mockEnv?: ProcessEnv;
}

/**
 * A split deployment on 127.0.0.1 as the issue describes it: a Redis and a PostgreSQL database of
 * the run's own, N st-broker, M st-gateway and one st-discovery process sharing them and the
 * secrets, and a mock model server. Agents and tenants are added by the test ({@link startAgent},
 * {@link createTenant}). {@link stop} ends every process and drops the database.
 */
export class ReplicaStack {
  readonly agents: ManagedProcess[] = [];

  private constructor(
    readonly redis: TestRedisServer,
    readonly database: FreshDatabase,
    readonly mock: MockModel,
    readonly brokers: ReplicaProcess[],
    readonly gateways: ReplicaProcess[],
    readonly discovery: ReplicaProcess,
    readonly adminToken: string,
    /** host:port of discovery's gRPC port: what stctl's ST_SERVER points at. */
    readonly discoveryAddress: string,
    /** Discovery's own HTTP port (Connect for browsers, /readyz). */
    readonly discoveryHttpUrl: string,
    readonly api: ControlPlaneApi,
  ) {}

  static async start(options: ReplicaStackOptions = {}): Promise<ReplicaStack> {
    const [redis, database, mock] = await Promise.all([
      TestRedisServer.start(),
      freshDatabase(),
      startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0, ...options.mockEnv }),
    ]);
    const adminToken = `admin-${randomBytes(16).toString('hex')}`;
    // What every replica must share: split processes refuse to start without these.
    const shared: ProcessEnv = {
      ST_HOST: '127.0.0.1',
      ST_DATABASE_URL: database.url,
      ST_REDIS_URL: redis.url,
      ST_SERVICE_TOKEN: randomBytes(24).toString('hex'),
      ST_SECRET_KEY: randomBytes(32).toString('hex'),
      ST_ADMIN_TOKEN: adminToken,
      ST_HEALTH_INTERVAL_MS: 500,
      ST_SHUTDOWN_GRACE_MS: 10_000,
      // One test user sends the whole steady load: the default per-user rate would refuse some.
      ST_LIMIT_USER_RPS: 0,
      ...options.serverEnv,
    };
    const dataDir = () => makeTempDir('st-replica-');
    const gatewayPorts = await distinctPorts(options.gateways ?? 2);
    const brokerPorts = await distinctPorts(options.brokers ?? 3, gatewayPorts);
    const [discoveryGrpc, discoveryHttp] = await distinctPorts(2, [...gatewayPorts, ...brokerPorts]);
    const publicUrl = `http://127.0.0.1:${gatewayPorts[0]}`;
    const discovery = new ReplicaProcess('discovery', 'discovery', {
      ...shared,
      ST_DATA_DIR: dataDir(),
      ST_GRPC_PORT: discoveryGrpc,
      ST_HTTP_PORT: discoveryHttp,
      // The base URLs discovery hands out name a gateway (behind a load balancer, the same name).
      ST_PUBLIC_URL: publicUrl,
    });
    const brokers = brokerPorts.map(
      (port, i) =>
        new ReplicaProcess('broker', `broker-${i + 1}`, {
          ...shared,
          ST_DATA_DIR: dataDir(),
          ST_GRPC_PORT: port,
          ST_ADVERTISE_ADDRESS: `127.0.0.1:${port}`,
          ST_BROKER_ID: `broker-${i + 1}`,
        }),
    );
    const gateways = gatewayPorts.map(
      (port, i) =>
        new ReplicaProcess('gateway', `gateway-${i + 1}`, {
          ...shared,
          ST_DATA_DIR: dataDir(),
          ST_HTTP_PORT: port,
          ST_PUBLIC_URL: `http://127.0.0.1:${port}`,
        }),
    );
    // Discovery first: it applies the schema, so the others do not all queue at the migration lock.
    await discovery.start();
    await Promise.all([...brokers, ...gateways].map((p) => p.start()));
    const discoveryAddress = `127.0.0.1:${discoveryGrpc}`;
    return new ReplicaStack(redis, database, mock, brokers, gateways, discovery, adminToken, discoveryAddress, `http://127.0.0.1:${discoveryHttp}`, new ControlPlaneApi(discoveryGrpc));
  }

  /** `http://127.0.0.1:PORT` of each gateway. */
  get gatewayUrls(): string[] {
    return this.gateways.map((g) => String(g.env.ST_PUBLIC_URL));
  }

  /** `http://127.0.0.1:PORT` of each broker, what agents dial. */
  get brokerUrls(): string[] {
    return this.brokers.map((b) => `http://127.0.0.1:${b.env.ST_GRPC_PORT}`);
  }

  /** A tunnel's OpenAI base URL through every gateway. */
  baseURLs(tunnelId: string): string[] {
    return this.gatewayUrls.map((g) => `${g}/t/${tunnelId}/v1`);
  }

  /** Runs the real stctl against discovery. */
  stctl(args: string[], env: ProcessEnv = {}): Promise<StctlRun> {
    return runStctl(this.discoveryAddress, args, env);
  }

  /** `stctl … --json` against discovery that must succeed. */
  stctlJson<T = Record<string, unknown>>(args: string[], env: ProcessEnv = {}): Promise<T> {
    return stctlJson<T>(this.discoveryAddress, args, env);
  }

  /** A user (made by the admin), a session and an OpenAI tunnel, all through stctl and discovery. */
  async createTenant(name: string): Promise<Tenant> {
    const userName = `${name}-${randomBytes(3).toString('hex')}`;
    const user = await this.stctlJson<{ id: string; apiKey: string }>(['users', 'create', userName], { ST_ADMIN_TOKEN: this.adminToken });
    const asUser = { ST_API_KEY: user.apiKey };
    const session = await this.stctlJson<{ id: string }>(['sessions', 'start', '--name', `${name}-session`], asUser);
    const tunnel = await this.stctlJson<{ id: string; agentToken: string }>(['tunnels', 'create', '--session', session.id, '--openai'], asUser);
    return { userId: user.id, userName, apiKey: user.apiKey, sessionId: session.id, tunnelId: tunnel.id, agentToken: tunnel.agentToken };
  }

  /**
   * An st-agent given every broker's URL as a list and told to hold two of them. Does not wait:
   * see {@link waitForStreams}.
   */
  startAgent(agentToken: string, env: ProcessEnv = {}): ManagedProcess {
    const agent = spawnProcess({
      name: `st-agent ${this.agents.length + 1}`,
      script: builtApp('agent'),
      env: {
        ST_BROKER_URL: this.brokerUrls.join(','),
        ST_BROKER_CONNECTIONS: 2,
        ST_TUNNEL_TOKEN: agentToken,
        ST_UPSTREAM_URL: this.mock.url,
        ST_RECONNECT_MAX_MS: 500,
        ST_DRAIN_GRACE_MS: 10_000,
        ...env,
      },
    });
    this.agents.push(agent);
    return agent;
  }

  /** The tunnel's live agent streams as discovery reports them to its owner (gRPC GetTunnel). */
  async connections(tenant: Pick<Tenant, 'tunnelId' | 'apiKey'>): Promise<TunnelConnection[]> {
    return (await this.api.as(tenant.apiKey).getTunnel(tenant.tunnelId)).connections;
  }

  /**
   * Waits until the tunnel is held by `count` healthy, non-draining streams on distinct brokers
   * (none of them in `notOn`); returns them.
   */
  async waitForStreams(tenant: Pick<Tenant, 'tunnelId' | 'apiKey'>, options: { count?: number; notOn?: string[]; timeoutMs?: number } = {}): Promise<TunnelConnection[]> {
    const { count = 2, notOn = [], timeoutMs = 30_000 } = options;
    let last: TunnelConnection[] = [];
    try {
      return await waitUntil(
        `${count} healthy streams of tunnel ${tenant.tunnelId} on distinct brokers${notOn.length ? ` other than ${notOn.join(', ')}` : ''}`,
        async () => {
          last = await this.connections(tenant);
          const live = last.filter((c) => c.healthy && !c.draining && !notOn.includes(c.brokerId));
          return new Set(live.map((c) => c.brokerId)).size >= count ? live : undefined;
        },
        timeoutMs,
        200,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\nlast connections: ${JSON.stringify(last.map(describeConnection))}\n${this.describe()}`);
    }
  }

  /** The broker with this id. */
  broker(id: string): ReplicaProcess {
    const broker = this.brokers.find((b) => b.id === id);
    if (!broker) throw new Error(`no broker ${id} in this stack (${this.brokers.map((b) => b.id).join(', ')})`);
    return broker;
  }

  /** The tail of every process's output, for failure messages. */
  describe(tail = 15): string {
    const procs = [this.discovery, ...this.brokers, ...this.gateways].filter((p) => p.starts > 0).map((p) => p.process);
    return [...procs, ...this.agents].map((p) => p.describe(tail)).join('\n');
  }

  /** Ends every process the harness started, the Redis server, and drops the database. */
  async stop(): Promise<void> {
    this.api.close();
    await cleanupAll();
    await this.redis.stop();
    await this.database.drop();
  }
}

function describeConnection(c: TunnelConnection): string {
  return `${c.brokerId}${c.healthy ? ' healthy' : ''}${c.draining ? ' draining' : ''}`;
}

/** `count` ports free a moment ago, distinct from each other and from `taken`. */
async function distinctPorts(count: number, taken: number[] = []): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await closedPort();
    if (!ports.includes(port) && !taken.includes(port)) ports.push(port);
  }
  return ports;
}
