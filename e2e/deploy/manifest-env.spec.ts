import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ManagedProcess, REPO_ROOT, TestRedisServer, cleanupAll, closedPort, freshDatabase, spawnProcess } from '@st/testing';
import { type K8sObject, kustomize } from './kubernetes-render';

/**
 * The split layout started the way the Kubernetes base starts it: each Deployment's command, the
 * ConfigMap's settings and the Secret's keys (with real values), the container's own env with
 * $(VAR) expanded as the kubelet does, then every readiness and liveness probe asked as the
 * kubelet asks it. Only the addresses change: 127.0.0.1 and free ports instead of a pod's.
 */


let objects: K8sObject[];
let redis: TestRedisServer;
let database: { url: string; drop(): Promise<void> };
const started = new Map<string, { process: ManagedProcess; ports: Map<number, number> }>();


/** The container's env as the kubelet builds it: envFrom first, then env with $(VAR) expanded. */
function containerEnv(container: K8sObject, sources: Record<string, Record<string, string>>, fields: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) Object.assign(env, sources[from.configMapRef?.name ?? from.secretRef?.name]);
  for (const e of container.env ?? []) {
    env[e.name] = e.valueFrom ? fields[e.valueFrom.fieldRef.fieldPath] : String(e.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v) => env[v] ?? m);
  }
  return env;
}

/** grpc.health.v1.Health/Check for the whole server (service ""), as the kubelet's gRPC probe asks. */
function grpcHealth(port: number): Promise<string> {
  const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
  const client = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    Check(req: { service: string }, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
  };
  return new Promise((resolve, reject) => {
    client.Check({ service: '' }, { deadline: Date.now() + 5_000 }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res!.status);
    });
  });
}

const deploymentOf = (role: string) => objects.find((o) => o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/component'] === role)!;
const launcherOf = (role: string) => join(REPO_ROOT, deploymentOf(role).spec.template.spec.containers[0].command[1]);

/** Starts one role's container as its Deployment says; container ports map to free local ones. */
async function startRole(role: string, secrets: Record<string, string>): Promise<void> {
  const container = deploymentOf(role).spec.template.spec.containers[0];
  const [command, script, ...args] = container.command;
  expect(command).toBe('node');
  const settings = objects.find((o) => o.kind === 'ConfigMap')!.data;
  const grpcPort = await closedPort();
  const httpPort = await closedPort();
  const ports = new Map([
    [Number(settings.ST_GRPC_PORT), grpcPort],
    [Number(settings.ST_HTTP_PORT), httpPort],
  ]);
  // What the kubelet would make of it with the pod at 127.0.0.1; then the pod's ports become
  // free local ones, the advertised port with them.
  const sources = { 'session-tunnels-settings': settings, 'session-tunnels-secrets': secrets };
  const env = containerEnv(container, sources, { 'status.podIP': '127.0.0.1' });
  Object.assign(env, { ST_HOST: '127.0.0.1', ST_GRPC_PORT: String(grpcPort), ST_HTTP_PORT: String(httpPort), ST_REDIS_URL: redis.url });
  if (env.ST_ADVERTISE_ADDRESS) env.ST_ADVERTISE_ADDRESS = env.ST_ADVERTISE_ADDRESS.replace(/:(\d+)$/, (_m, p) => `:${ports.get(Number(p))}`);
  const proc = spawnProcess({ name: `st-${role}`, script: join(REPO_ROOT, script), args, cwd: REPO_ROOT, env: { ...env, ST_DATA_DIR: '/nonexistent/no-data-dir' } });
  await proc.waitForLine(/ ready: /, { timeoutMs: 30_000 });
  started.set(role, { process: proc, ports });
}

beforeAll(async () => {
  objects = await kustomize('base');
  [redis, database] = await Promise.all([TestRedisServer.start(), freshDatabase('st_deploy')]);
  const secrets = {
    ST_SERVICE_TOKEN: randomBytes(24).toString('base64url'),
    ST_SECRET_KEY: randomBytes(24).toString('base64url'),
    ST_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
    ST_DATABASE_URL: database.url,
  };
  // One at a time: the first applies the migrations (the others would wait at its lock anyway).
  for (const role of ['broker', 'gateway', 'discovery']) if (existsSync(launcherOf(role))) await startRole(role, secrets);
}, 120_000);

afterAll(async () => {
  await cleanupAll();
  await redis?.stop();
  await database?.drop();
});

describe.each(['broker', 'gateway', 'discovery'])('the %s Deployment, started as its manifest says', (role) => {
  // st-discovery (apps/discovery) may not be on this branch yet; once it is, it is checked too.
  it.skipIf(!existsSync(join(REPO_ROOT, 'apps', role, 'bin')))('answers its readiness and liveness probes as the kubelet asks them', async () => {
    const { process: proc, ports } = started.get(role)!;
    const container = deploymentOf(role).spec.template.spec.containers[0];
    const named = new Map<string, number>(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    for (const kind of ['readinessProbe', 'livenessProbe']) {
      const probe = container[kind];
      if (probe.grpc) {
        expect(await grpcHealth(ports.get(probe.grpc.port)!), `${role} ${kind}`).toBe('SERVING');
      } else {
        const port = ports.get(named.get(probe.httpGet.port) ?? probe.httpGet.port)!;
        const res = await fetch(`http://127.0.0.1:${port}${probe.httpGet.path}`, { signal: AbortSignal.timeout(5_000) });
        expect(res.status, `${role} ${kind} ${probe.httpGet.path}`).toBe(200);
      }
    }
    // With every secret in the environment nothing was written to a data directory.
    expect(existsSync('/nonexistent/no-data-dir')).toBe(false);
    expect(proc.lines.map((l) => l.text).join('\n')).not.toMatch(/admin token \(shown once/);
  });
});
