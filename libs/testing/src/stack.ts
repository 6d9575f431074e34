import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MockStats, type ReceivedTraceHeaders, TRACE_HEADERS_PATH } from '@st/mock-model';
import { builtApp } from './built-apps';
import { closeAllRecorders } from './http-recorder';
import { type ManagedProcess, type ProcessEnv, killAllProcesses, spawnProcess } from './managed-process';

/** Matches `"msg":"connected to broker"` in st-agent's JSON log. */
export const AGENT_CONNECTED = /"msg":"connected to broker"/;

const tempDirs = new Set<string>();

/** A fresh directory removed by {@link cleanupAll}. */
export function makeTempDir(prefix = 'st-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/**
 * For afterAll: kills every process the harness started, closes its in-process HTTP recorders and
 * removes its temporary directories.
 */
export async function cleanupAll(): Promise<void> {
  await Promise.all([killAllProcesses(), closeAllRecorders()]);
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export interface MockModel {
  process: ManagedProcess;
  /** `http://127.0.0.1:PORT` (no /v1). */
  url: string;
  port: number;
  /** The mock's counters, read over HTTP. */
  stats(): Promise<MockStats>;
}

/** Starts st-mock-model on a free port. `env` may set ST_MOCK_TOKEN_DELAY_MS, ST_MOCK_MAX_TOKENS, … */
export async function startMockModel(env: ProcessEnv = {}): Promise<MockModel> {
  const proc = spawnProcess({ name: 'st-mock-model', script: builtApp('mock-model'), env: { ST_MOCK_PORT: 0, ...env } });
  const [, url, port] = await proc.waitForLine(/^st-mock-model listening on (http:\/\/[^\s:]+:(\d+))$/);
  return { process: proc, url, port: Number(port), stats: () => mockStats(url) };
}

/** `GET /mock/stats` of a mock model server. */
export async function mockStats(mockUrl: string): Promise<MockStats> {
  const res = await fetch(`${mockUrl}/mock/stats`);
  if (res.status !== 200) throw new Error(`GET ${mockUrl}/mock/stats answered ${res.status}`);
  return (await res.json()) as MockStats;
}

/** `GET /mock/trace-headers`: the trace headers the mock's last /v1 requests came with. */
export async function mockTraceHeaders(mockUrl: string): Promise<ReceivedTraceHeaders[]> {
  const res = await fetch(`${mockUrl}${TRACE_HEADERS_PATH}`);
  if (res.status !== 200) throw new Error(`GET ${mockUrl}${TRACE_HEADERS_PATH} answered ${res.status}`);
  return ((await res.json()) as { received: ReceivedTraceHeaders[] }).received;
}

export interface Server {
  process: ManagedProcess;
  dataDir: string;
  /** Gateway base URL (`http://127.0.0.1:PORT`); undefined when the gateway role is not served. */
  publicUrl: string | undefined;
  httpPort: number | undefined;
  /** undefined when the broker role is not served. */
  grpcPort: number | undefined;
  /** The environment it was started with (ports as asked, not as bound). */
  env: ProcessEnv;
}

/**
 * Starts st-server and waits for its ready line. Defaults: a fresh temporary ST_DATA_DIR, free
 * ports (0) for HTTP and gRPC, listening on 127.0.0.1.
 */
export async function startServer(env: ProcessEnv = {}): Promise<Server> {
  const full: ProcessEnv = { ST_HOST: '127.0.0.1', ST_HTTP_PORT: 0, ST_GRPC_PORT: 0, ...env };
  if (full.ST_DATA_DIR === undefined) full.ST_DATA_DIR = makeTempDir();
  const proc = spawnProcess({ name: 'st-server', script: builtApp('server'), env: full });
  const [, gateway, grpc] = await proc.waitForLine(/^st-server ready: gateway (\S+) grpc (\S+)$/);
  const httpPort = gateway === '-' ? undefined : Number(new URL(gateway).port);
  const grpcPort = grpc === '-' ? undefined : Number(grpc.slice(grpc.lastIndexOf(':') + 1));
  return { process: proc, dataDir: String(full.ST_DATA_DIR), publicUrl: gateway === '-' ? undefined : gateway, httpPort, grpcPort, env: full };
}

/** The demo's fresh credentials, as `st-server demo-init` prints them. */
export interface DemoCredentials {
  userId: string;
  tunnelId: string;
  apiKey: string;
  agentToken: string;
  /** A fresh admin token (the earlier one stops working); absent when ST_ADMIN_TOKEN is set. */
  adminToken?: string;
}

/** Runs `st-server demo-init` on a data directory: user `demo`, tunnel `demo`, a new key and token. */
export async function demoInit(dataDir: string, env: ProcessEnv = {}): Promise<DemoCredentials> {
  const proc = spawnProcess({ name: 'st-server demo-init', script: builtApp('server'), args: ['demo-init'], env: { ...env, ST_DATA_DIR: dataDir } });
  const [line] = await proc.waitForLine(/^\{.*"agentToken".*\}$/);
  const exit = await proc.exited;
  if (exit.code !== 0) throw new Error(`st-server demo-init failed\n${proc.describe()}`);
  return JSON.parse(line) as DemoCredentials;
}

/**
 * Starts st-agent. `env` needs ST_BROKER_URL and ST_TUNNEL_TOKEN (and usually ST_UPSTREAM_URL).
 * Waits for "connected to broker" unless `waitForConnected` is false.
 */
export async function startAgent(env: ProcessEnv, options: { waitForConnected?: boolean; timeoutMs?: number } = {}): Promise<ManagedProcess> {
  const proc = spawnProcess({ name: 'st-agent', script: builtApp('agent'), env });
  if (options.waitForConnected ?? true) await proc.waitForLine(AGENT_CONNECTED, { timeoutMs: options.timeoutMs });
  return proc;
}

/**
 * Polls `GET <baseUrl>/models` until it answers 200: the whole path (gateway, broker, agent,
 * model server) is up. `baseUrl` is a tunnel's OpenAI base URL (`…/t/<id>/v1`).
 */
export async function waitForTunnel(baseUrl: string, apiKey: string, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const res = await fetch(`${baseUrl}/models`, { headers: { authorization: `Bearer ${apiKey}` } });
      const text = await res.text();
      if (res.status === 200) return;
      last = `${res.status} ${text.slice(0, 300)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (performance.now() > deadline) throw new Error(`tunnel ${baseUrl} did not answer 200 within ${timeoutMs} ms; last answer: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface StackOptions {
  /** Extra environment of the mock (default ST_MOCK_TOKEN_DELAY_MS=0: tests ask for delays per request). */
  mockEnv?: ProcessEnv;
  serverEnv?: ProcessEnv;
  agentEnv?: ProcessEnv;
}

/** Everything one test file usually needs: mock model, st-server, demo tunnel, a connected agent. */
export interface Stack {
  /** Gateway base URL, `http://127.0.0.1:PORT`. */
  publicUrl: string;
  grpcPort: number;
  /** `http://127.0.0.1:GRPCPORT`, what agents dial. */
  brokerUrl: string;
  userId: string;
  tunnelId: string;
  apiKey: string;
  agentToken: string;
  /** The tunnel's OpenAI base URL: `publicUrl + /t/<tunnelId>/v1`. */
  baseURL: string;
  /** The mock model server's base URL (no /v1): talk to it directly for expected answers. */
  mockUrl: string;
  dataDir: string;
  mock: MockModel;
  server: Server;
  agent: ManagedProcess;
  /** The environment the agent was started with (for starting it again). */
  agentEnv: ProcessEnv;
  /** Stops every process of the stack (SIGTERM, then SIGKILL after a short grace). */
  stop(): Promise<void>;
}

/** Starts a whole stack and waits until its tunnel answers. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const [mock, server] = await Promise.all([
    startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0, ...options.mockEnv }),
    startServer(options.serverEnv),
  ]);
  const demo = await demoInit(server.dataDir);
  const brokerUrl = `http://127.0.0.1:${server.grpcPort}`;
  const agentEnv: ProcessEnv = { ST_BROKER_URL: brokerUrl, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: mock.url, ...options.agentEnv };
  const agent = await startAgent(agentEnv);
  const publicUrl = server.publicUrl!;
  const baseURL = `${publicUrl}/t/${demo.tunnelId}/v1`;
  await waitForTunnel(baseURL, demo.apiKey);
  const stack: Stack = {
    publicUrl,
    grpcPort: server.grpcPort!,
    brokerUrl,
    ...demo,
    baseURL,
    mockUrl: mock.url,
    dataDir: server.dataDir,
    mock,
    server,
    agent,
    agentEnv,
    async stop() {
      // A test may have replaced stack.agent or stack.server (restarts): stop whatever is current.
      await Promise.all([stack.agent.stop('SIGTERM', 2_000), stack.server.process.stop('SIGTERM', 3_000), stack.mock.process.stop('SIGTERM', 2_000)]);
    },
  };
  return stack;
}
