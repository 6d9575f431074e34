// How long a session's stop takes to reach every replica (issue 8: goal under a second): from
// the StopSession call through discovery until (a) both gateways answer 503 and (b) a watcher on
// discovery (WatchProviders over gRPC) sees the provider stopped.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const STOPPED = 'TUNNEL_STATUS_STOPPED';

function services(root) {
  const definition = protoLoader.loadSync(['sessiontunnel/v1/management.proto', 'sessiontunnel/v1/discovery.proto'], {
    includeDirs: [join(root, 'proto')],
    keepCase: false,
    enums: String,
    defaults: true,
  });
  return grpc.loadPackageDefinition(definition).sessiontunnel.v1;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every 10 ms until it is true; the time it first was, or undefined at the deadline. */
async function firstTrue(probe, deadline) {
  while (performance.now() < deadline) {
    if (await probe()) return performance.now();
    await sleep(10);
  }
  return undefined;
}

export async function measureSessionStop(root, replicas, { timeoutMs = 10_000 } = {}) {
  const v1 = services(root);
  const creds = grpc.credentials.createInsecure();
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${replicas.apiKey}`);
  const sessions = new v1.SessionService(replicas.discoveryAddress, creds);
  const discovery = new v1.ProviderDiscoveryService(replicas.discoveryAddress, creds);
  let stoppedSeenAt;
  let synced = false;
  const watch = discovery.watchProviders({}, metadata);
  watch.on('data', (event) => {
    if (event.change === 'PROVIDER_CHANGE_SYNCED') synced = true;
    if (synced && event.provider?.id === replicas.tunnelId && event.provider.status === STOPPED) stoppedSeenAt ??= performance.now();
  });
  watch.on('error', () => undefined);
  try {
    if ((await firstTrue(() => synced, performance.now() + timeoutMs)) === undefined) throw new Error('the provider watch did not sync');
    const answers503 = async (origin) => {
      const res = await fetch(`${origin}/t/${replicas.tunnelId}/v1/models`, { headers: { authorization: `Bearer ${replicas.apiKey}` } }).catch(() => undefined);
      await res?.arrayBuffer();
      return res?.status === 503;
    };
    const t0 = performance.now();
    await new Promise((resolve, reject) => sessions.stopSession({ id: replicas.sessionId }, metadata, (err) => (err ? reject(err) : resolve())));
    const writtenMs = performance.now() - t0;
    const deadline = t0 + timeoutMs;
    const gatewayTimes = await Promise.all(replicas.gatewayOrigins.map((origin) => firstTrue(() => answers503(origin), deadline)));
    const watcherAt = await firstTrue(() => stoppedSeenAt !== undefined, deadline).then(() => stoppedSeenAt);
    const ms = (t) => (t === undefined ? undefined : t - t0);
    return { writtenMs, gatewaysMs: gatewayTimes.map(ms), watcherMs: ms(watcherAt) };
  } finally {
    watch.cancel();
    sessions.close();
    discovery.close();
  }
}
