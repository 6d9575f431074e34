import { beforeAll, describe, expect, it } from 'vitest';
import { SERVER_SETTINGS, loadServerConfig } from '@st/control-plane';
import { type K8sObject, kustomize, validateObject } from './kubernetes-render';

/**
 * deploy/kubernetes renders with kubectl's kustomize (CI: Debian's kubectl 1.20), every object
 * matches the Kubernetes schemas bundled by kubernetes-models, and the things an operator relies
 * on hold: replica counts, probes, disruption budgets, brokers advertising their pod address,
 * Services that reach the pods, a hardened container, and no secret in the ConfigMap.
 */

const SECRET_SETTINGS = ['ST_SERVICE_TOKEN', 'ST_SECRET_KEY', 'ST_ADMIN_TOKEN', 'ST_DATABASE_URL'];
const KNOWN_SETTINGS = new Set(Object.values(SERVER_SETTINGS).map((s) => s.env));
const ROLES = { broker: 3, gateway: 2, discovery: 2 } as const;
type RoleName = keyof typeof ROLES;

let base: K8sObject[];
let overlay: K8sObject[];

beforeAll(async () => {
  [base, overlay] = await Promise.all([kustomize('base'), kustomize('overlays/example')]);
});

const ofKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const deployment = (objects: K8sObject[], role: RoleName) => {
  const found = ofKind(objects, 'Deployment').find((d) => d.metadata.labels?.['app.kubernetes.io/component'] === role);
  if (!found) throw new Error(`no Deployment with app.kubernetes.io/component=${role}`);
  return found;
};
const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
const settingsOf = (objects: K8sObject[]) => ofKind(objects, 'ConfigMap').find((c) => c.metadata.name === 'session-tunnels-settings')!.data as Record<string, string>;

describe.each([
  ['base', () => base],
  ['overlays/example', () => overlay],
])('kubectl kustomize %s', (_name, objects) => {
  it('renders objects that each match the Kubernetes schema of their kind', async () => {
    const kinds = objects().map((o) => o.kind);
    expect(new Set(kinds)).toEqual(new Set(['ConfigMap', 'Secret', 'Deployment', 'Service', 'PodDisruptionBudget']));
    for (const obj of objects()) await validateObject(obj);
  });

  it('gives every container a readiness and a liveness probe on a port it declares', () => {
    for (const d of ofKind(objects(), 'Deployment')) {
      for (const c of d.spec.template.spec.containers) {
        const ports = c.ports ?? [];
        for (const kind of ['readinessProbe', 'livenessProbe']) {
          const probe = c[kind];
          expect(probe, `${d.metadata.name}/${c.name} ${kind}`).toBeDefined();
          const port = probe.grpc?.port ?? probe.httpGet?.port;
          expect(ports.some((p: { name: string; containerPort: number }) => p.name === port || p.containerPort === port), `${d.metadata.name} ${kind} port ${port}`).toBe(true);
        }
      }
    }
  });

  it('probes brokers and discovery through grpc.health.v1 and gateways through /readyz and /healthz', () => {
    const container = (role: RoleName) => deployment(objects(), role).spec.template.spec.containers[0];
    const grpcPort = Number(settingsOf(objects()).ST_GRPC_PORT);
    expect(container('broker').readinessProbe.grpc).toEqual({ port: grpcPort });
    expect(container('broker').livenessProbe.grpc).toEqual({ port: grpcPort });
    expect(container('discovery').readinessProbe.grpc).toEqual({ port: grpcPort });
    expect(container('discovery').livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
    expect(container('gateway').readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
    expect(container('gateway').livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
    // The named ports are the ones the processes listen on.
    const http = Number(settingsOf(objects()).ST_HTTP_PORT);
    expect(container('gateway').ports).toContainEqual(expect.objectContaining({ name: 'http', containerPort: http }));
    expect(container('discovery').ports).toContainEqual(expect.objectContaining({ name: 'http', containerPort: http }));
    expect(container('broker').ports).toContainEqual(expect.objectContaining({ name: 'grpc', containerPort: grpcPort }));
  });

  it('runs each role through its launcher, with requests and a memory limit', () => {
    for (const role of Object.keys(ROLES) as RoleName[]) {
      const c = deployment(objects(), role).spec.template.spec.containers[0];
      expect(c.command).toEqual(['node', `apps/${role}/bin/st-${role}.js`]);
      expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
      expect(c.resources.limits.memory).toEqual(expect.any(String));
    }
  });

  it('has one disruption budget per Deployment, letting at most one broker go at a time', () => {
    const budgets = ofKind(objects(), 'PodDisruptionBudget');
    for (const d of ofKind(objects(), 'Deployment')) {
      const labels = d.spec.template.metadata.labels;
      const mine = budgets.filter((b) => selects(b.spec.selector.matchLabels, labels));
      expect(mine.map((b) => b.metadata.name), d.metadata.name).toHaveLength(1);
      expect(mine[0].spec.maxUnavailable === 1 || mine[0].spec.minAvailable >= 1, d.metadata.name).toBe(true);
    }
    const brokerBudget = budgets.find((b) => selects(b.spec.selector.matchLabels, deployment(objects(), 'broker').spec.template.metadata.labels));
    expect(brokerBudget!.spec.maxUnavailable).toBe(1);
  });

  it("sets each broker's ST_ADVERTISE_ADDRESS from its pod IP and gRPC port", () => {
    const c = deployment(objects(), 'broker').spec.template.spec.containers[0];
    const names = c.env.map((e: { name: string }) => e.name);
    const podIp = c.env.find((e: { name: string }) => e.name === 'POD_IP');
    expect(podIp.valueFrom.fieldRef.fieldPath).toBe('status.podIP');
    const advertise = c.env.find((e: { name: string }) => e.name === 'ST_ADVERTISE_ADDRESS');
    expect(advertise.value).toBe(`$(POD_IP):${settingsOf(objects()).ST_GRPC_PORT}`);
    // $(VAR) expands only variables defined before it.
    expect(names.indexOf('POD_IP')).toBeLessThan(names.indexOf('ST_ADVERTISE_ADDRESS'));
    expect(settingsOf(objects()).ST_HOST).toBe('0.0.0.0');
  });

  it('keeps secrets out of the ConfigMap and names only real settings', () => {
    const settings = settingsOf(objects());
    for (const key of Object.keys(settings)) {
      expect(KNOWN_SETTINGS, `ConfigMap key ${key}`).toContain(key);
      expect(SECRET_SETTINGS, `ConfigMap key ${key}`).not.toContain(key);
    }
    // A URL with a password (redis://:pw@host) belongs in the Secret.
    for (const [key, value] of Object.entries(settings)) expect(value, key).not.toMatch(/:\/\/[^/@]*:[^/@]*@/);
    expect(settings.ST_REDIS_URL).toMatch(/^redis:\/\//);
    const secret = ofKind(objects(), 'Secret').find((s) => s.metadata.name === 'session-tunnels-secrets')!;
    expect(Object.keys({ ...secret.data, ...secret.stringData }).sort()).toEqual([...SECRET_SETTINGS].sort());
    // Every container takes both, and sets nothing else that is not a setting.
    for (const d of ofKind(objects(), 'Deployment')) {
      const c = d.spec.template.spec.containers[0];
      expect(c.envFrom).toEqual([{ configMapRef: { name: 'session-tunnels-settings' } }, { secretRef: { name: 'session-tunnels-secrets' } }]);
      for (const e of c.env ?? []) if (e.name !== 'POD_IP') expect(KNOWN_SETTINGS, `${d.metadata.name} env ${e.name}`).toContain(e.name);
    }
  });

  it("holds settings that the servers' own validation accepts, with the pod's advertise address", () => {
    const env = {
      ...settingsOf(objects()),
      ST_SERVICE_TOKEN: 'a'.repeat(32),
      ST_SECRET_KEY: 'b'.repeat(32),
      ST_ADMIN_TOKEN: 'c'.repeat(32),
      ST_DATABASE_URL: 'postgresql://st:pw@db:5432/st',
      ST_ADVERTISE_ADDRESS: '10.1.2.3:50051',
    };
    const config = loadServerConfig({ env, argv: [] });
    expect(config).toMatchObject({ host: '0.0.0.0', grpcPort: 50051, httpPort: 8080, advertiseAddress: '10.1.2.3:50051' });
    expect(config.redisUrl).toBe(settingsOf(objects()).ST_REDIS_URL);
  });

  it('gives pods longer to stop than the servers take to drain', () => {
    const graceMs = Number(settingsOf(objects()).ST_SHUTDOWN_GRACE_MS);
    // run-server.ts exits by itself 1.5 s after the grace; a preStop pause comes before SIGTERM.
    for (const d of ofKind(objects(), 'Deployment')) {
      const pod = d.spec.template.spec;
      const pause = Number(pod.containers[0].lifecycle?.preStop?.exec?.command?.[1] ?? 0);
      expect(pod.terminationGracePeriodSeconds * 1000, d.metadata.name).toBeGreaterThan(pause * 1000 + graceMs + 1500);
    }
  });

  it('runs every container as non-root on a read-only root file system with no capabilities', () => {
    for (const d of ofKind(objects(), 'Deployment')) {
      const pod = d.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot, d.metadata.name).toBe(true);
      for (const c of pod.containers) {
        expect(c.securityContext, `${d.metadata.name}/${c.name}`).toMatchObject({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        });
      }
    }
  });

  it('has Services that reach the pods: a headless one for brokers, one agents dial, one per gateway and discovery', () => {
    const services = ofKind(objects(), 'Service');
    const podsOf = (svc: K8sObject) => ofKind(objects(), 'Deployment').filter((d) => selects(svc.spec.selector, d.spec.template.metadata.labels));
    for (const svc of services) {
      const [target] = podsOf(svc);
      expect(podsOf(svc), svc.metadata.name).toHaveLength(1);
      const portNames = target.spec.template.spec.containers[0].ports.map((p: { name: string }) => p.name);
      for (const p of svc.spec.ports) expect(portNames, `${svc.metadata.name} targetPort`).toContain(p.targetPort);
    }
    const role = (svc: K8sObject) => podsOf(svc)[0].metadata.labels!['app.kubernetes.io/component'];
    const brokerServices = services.filter((s) => role(s) === 'broker');
    expect(brokerServices.find((s) => s.spec.clusterIP === 'None')).toBeDefined();
    const agentFacing = brokerServices.find((s) => ['LoadBalancer', 'NodePort'].includes(s.spec.type));
    expect(agentFacing!.spec.ports).toEqual([expect.objectContaining({ targetPort: 'grpc' })]);
    expect(services.filter((s) => role(s) === 'gateway').flatMap((s) => s.spec.ports.map((p: { targetPort: string }) => p.targetPort))).toEqual(['http']);
    expect(services.filter((s) => role(s) === 'discovery').flatMap((s) => s.spec.ports.map((p: { targetPort: string }) => p.targetPort)).sort()).toEqual(['grpc', 'http']);
  });
});

describe('the base', () => {
  it('runs 3 brokers, 2 gateways and 2 discovery replicas of the placeholder image', () => {
    for (const [role, replicas] of Object.entries(ROLES) as [RoleName, number][]) {
      const d = deployment(base, role);
      expect(d.spec.replicas, role).toBe(replicas);
      expect(d.spec.template.spec.containers[0].image).toBe('registry.example.com/session-tunnels:0.1.0');
    }
  });

  it('ships placeholder secrets that the servers refuse, not usable ones', () => {
    const secret = ofKind(base, 'Secret')[0];
    for (const key of SECRET_SETTINGS) expect(secret.stringData[key], key).toBe('REPLACE-ME');
    // Started as they are, the servers stop at once (exit 2) naming the settings to fill in.
    const env = { ...settingsOf(base), ...secret.stringData, ST_ADVERTISE_ADDRESS: '10.1.2.3:50051' };
    let message = '';
    try {
      loadServerConfig({ env, argv: [] });
    } catch (err) {
      message = (err as Error).message;
    }
    for (const key of ['ST_SERVICE_TOKEN', 'ST_SECRET_KEY', 'ST_DATABASE_URL']) expect(message, key).toContain(key);
  });
});

describe('the example overlay', () => {
  it('puts everything in its namespace, patches the broker count and keeps the others', () => {
    for (const obj of overlay) expect(obj.metadata.namespace, `${obj.kind} ${obj.metadata.name}`).toBe('session-tunnels');
    expect(deployment(overlay, 'broker').spec.replicas).toBe(5);
    expect(deployment(overlay, 'gateway').spec.replicas).toBe(2);
    expect(deployment(overlay, 'discovery').spec.replicas).toBe(2);
  });

  it('merges its settings over the base and replaces the Secret that every Deployment reads', () => {
    const settings = settingsOf(overlay);
    expect(settings.ST_PUBLIC_URL).toBe('https://tunnels.example.org');
    expect(settings.ST_SHUTDOWN_GRACE_MS).toBe(settingsOf(base).ST_SHUTDOWN_GRACE_MS);
    const secrets = ofKind(overlay, 'Secret');
    expect(secrets).toHaveLength(1);
    expect(Object.keys(secrets[0].data).sort()).toEqual([...SECRET_SETTINGS].sort());
    for (const d of ofKind(overlay, 'Deployment')) {
      expect(d.spec.template.spec.containers[0].envFrom[1].secretRef.name).toBe(secrets[0].metadata.name);
    }
  });
});
