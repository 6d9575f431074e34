// A split deployment for the scale section, started like libs/testing's ReplicaStack (which the
// bench cannot import: it is TypeScript): a redis-server and a PostgreSQL database of the run's
// own, st-discovery, N st-broker and two st-gateway processes on 127.0.0.1, a tenant made with
// stctl, and an st-agent given every broker's URL and told to hold two.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './net.mjs';

const execFileP = promisify(execFile);
const POSTGRES_URL = process.env.ST_TEST_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/test';
const READY_MS = 45_000;

function cleanEnv(extra) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ST_') && k !== 'NODE_OPTIONS'));
  return { ...env, ST_LOG_LEVEL: 'warn', ...extra };
}

async function createDatabase() {
  const name = `st_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${POSTGRES_URL.replace(/\/\/[^@]*@/, '//…@')} (${err.message}): the scale section needs it; set ST_TEST_DATABASE_URL or skip it with BENCH_SECTIONS`);
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** One server process on fixed ports, restartable where the agent and gateways expect it. */
class Replica {
  constructor(procs, root, role, id, env) {
    Object.assign(this, { procs, root, role, id, env });
    this.entry = undefined;
  }

  async start() {
    this.entry = this.procs.spawn(`st-${this.role} ${this.id}`, process.execPath, [join(this.root, 'apps', this.role, 'bin', `st-${this.role}.js`)], {
      cwd: this.root,
      env: this.env,
    });
    await this.procs.waitForLine(this.entry, new RegExp(`^st-${this.role} ready: `), READY_MS);
  }

  kill() {
    this.procs.signal(this.entry, 'SIGKILL');
    return this.entry.exitPromise;
  }

  /** SIGTERM and the wait for its exit (it drains first). */
  async terminate(timeoutMs) {
    await this.procs.stop(this.entry, timeoutMs);
  }
}

export async function startReplicas(procs, root, { brokers: brokerCount, mockUrl }) {
  const redisPort = await freePort();
  const redis = procs.spawn('redis-server', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await procs.waitForLine(redis, /Ready to accept connections/, 15_000);
  const database = await createDatabase();
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  const shared = {
    ST_HOST: '127.0.0.1',
    ST_DATABASE_URL: database.url,
    ST_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    ST_SERVICE_TOKEN: randomBytes(24).toString('hex'),
    ST_SECRET_KEY: randomBytes(32).toString('hex'),
    ST_ADMIN_TOKEN: adminToken,
    ST_SHUTDOWN_GRACE_MS: '10000',
    ST_HEALTH_INTERVAL_MS: '1000',
    // One bench user sends thousands of requests/s: lift the per-user rate and per-connection caps.
    ST_LIMIT_USER_RPS: '0',
    ST_MAX_REQUESTS_PER_CONNECTION: '0',
  };
  const ports = new Set();
  const port = async () => {
    for (;;) {
      const p = await freePort();
      if (!ports.has(p)) {
        ports.add(p);
        return p;
      }
    }
  };
  const [grpc, http] = [await port(), await port()];
  const gatewayPorts = [await port(), await port()];
  const discovery = new Replica(procs, root, 'discovery', 'discovery', cleanEnv({ ...shared, ST_DATA_DIR: procs.tmpDir('discovery'), ST_GRPC_PORT: String(grpc), ST_HTTP_PORT: String(http), ST_PUBLIC_URL: `http://127.0.0.1:${gatewayPorts[0]}` }));
  await discovery.start();
  const brokers = [];
  for (let i = 1; i <= brokerCount; i++) {
    const p = await port();
    brokers.push(
      new Replica(procs, root, 'broker', `broker-${i}`, cleanEnv({ ...shared, ST_DATA_DIR: procs.tmpDir(`broker-${i}`), ST_GRPC_PORT: String(p), ST_ADVERTISE_ADDRESS: `127.0.0.1:${p}`, ST_BROKER_ID: `broker-${i}` })),
    );
  }
  const gateways = gatewayPorts.map(
    (p, i) => new Replica(procs, root, 'gateway', `gateway-${i + 1}`, cleanEnv({ ...shared, ST_DATA_DIR: procs.tmpDir(`gateway-${i + 1}`), ST_HTTP_PORT: String(p), ST_PUBLIC_URL: `http://127.0.0.1:${p}` })),
  );
  await Promise.all([...brokers, ...gateways].map((r) => r.start()));

  const server = `127.0.0.1:${grpc}`;
  const stctl = async (args, env) => {
    const { stdout } = await execFileP(process.execPath, [join(root, 'apps', 'cli', 'bin', 'stctl.js'), ...args, '--json'], { cwd: root, env: cleanEnv({ ST_SERVER: server, ...env }), timeout: 30_000 });
    return JSON.parse(stdout);
  };
  const user = await stctl(['users', 'create', `bench-${randomBytes(3).toString('hex')}`], { ST_ADMIN_TOKEN: adminToken });
  const asUser = { ST_API_KEY: user.apiKey };
  const session = await stctl(['sessions', 'start', '--name', 'bench'], asUser);
  const tunnel = await stctl(['tunnels', 'create', '--session', session.id, '--openai'], asUser);
  const agent = procs.spawn('st-agent', process.execPath, [join(root, 'apps', 'agent', 'bin', 'st-agent.js')], {
    cwd: root,
    env: cleanEnv({
      ST_BROKER_URL: brokers.map((b) => `http://127.0.0.1:${b.env.ST_GRPC_PORT}`).join(','),
      ST_BROKER_CONNECTIONS: '2',
      ST_TUNNEL_TOKEN: tunnel.agentToken,
      ST_UPSTREAM_URL: mockUrl,
      ST_RECONNECT_MAX_MS: '500',
      ST_DRAIN_GRACE_MS: '10000',
    }),
  });
  const want = Math.min(2, brokerCount);
  /** The brokers holding a healthy, non-draining stream of the tunnel (from `stctl tunnels get`). */
  const heldBy = async () => {
    const t = await stctl(['tunnels', 'get', tunnel.id], asUser);
    return [...new Set((t.connections ?? []).filter((c) => c.healthy && !c.draining).map((c) => c.brokerId))];
  };
  const waitHeld = async (timeoutMs = 60_000) => {
    const deadline = performance.now() + timeoutMs;
    let last = [];
    while (performance.now() < deadline) {
      if (agent.exited) throw new Error(`st-agent exited: ${agent.tail}`);
      last = await heldBy();
      if (last.length >= want) return last;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`the agent was not held by ${want} brokers within ${timeoutMs} ms (held by: ${last.join(', ') || 'none'})`);
  };
  await waitHeld();
  return {
    brokers,
    gateways,
    agent,
    tunnelId: tunnel.id,
    sessionId: session.id,
    discoveryAddress: server,
    apiKey: user.apiKey,
    gatewayOrigins: gatewayPorts.map((p) => `http://127.0.0.1:${p}`),
    heldBy,
    waitHeld,
    /** Stops this deployment's processes (newest first) and drops its database; the mock stays. */
    async stop() {
      for (const entry of [agent, ...gateways.map((g) => g.entry), ...brokers.map((b) => b.entry), discovery.entry, redis]) await procs.stop(entry, 1500);
      await database.drop().catch(() => {});
    },
  };
}
