export { ManagedProcess, spawnProcess, killAllProcesses } from './managed-process';
export type { ExitInfo, OutputLine, ProcessEnv, SpawnOptions } from './managed-process';
export { REPO_ROOT, builtApp } from './built-apps';
export type { AppName } from './built-apps';
export {
  AGENT_CONNECTED,
  cleanupAll,
  demoInit,
  makeTempDir,
  mockStats,
  startAgent,
  startMockModel,
  startServer,
  startStack,
  waitForTunnel,
} from './stack';
export type { DemoCredentials, MockModel, Server, Stack, StackOptions } from './stack';
export { closedPort, portIsFree, rssBytes, waitUntil } from './system-probes';
export { capturingLogger, warningRecorder } from './capturing-logger';
export type { LoggedLine, RecordedWarning } from './capturing-logger';
export { ControlPlaneApi, grpcError, sessionStatusName, statusName, tunnelStatusName, unaryCall } from './control-plane-api';
export type { CallerApi, CreateTunnelInput, TunnelStatusName } from './control-plane-api';
export { ProviderWatch, connectDiscoveryClient, providerView, watchProvidersConnect, watchProvidersGrpc } from './provider-watch';
export type { ProviderChangeName, ProviderEventRecord, ProviderView } from './provider-watch';
export { closeAllRecorders, startHttpRecorder } from './http-recorder';
export type { HttpRecorder, RecordedRequest, RecorderHandler } from './http-recorder';
export { chunksAt, forceGc, fuzzRuns, fuzzSeed, settledHeapBytes } from './fuzz-support';
export { parseFirst, rawRequest } from './raw-http';
export type { RawOutcome, RawResponse } from './raw-http';
export { TestRedisServer } from './redis-server';
export { ReplicaProcess, ReplicaStack } from './replica-stack';
export type { ReplicaRole, ReplicaStackOptions, Tenant } from './replica-stack';
export { SteadyLoad } from './steady-load';
export type { LoadRecord, SteadyLoadOptions } from './steady-load';
export { runStctl, stctlJson } from './stctl-runner';
export type { StctlRun } from './stctl-runner';
export { NspawnContainer, ensureRootfs, nspawnUnavailable, rootfsDir } from './nspawn-container';
export type { Bind, BootOptions, ExecResult } from './nspawn-container';
export { startDiscovery } from './discovery-process';
export type { DiscoveryProcess } from './discovery-process';
export { freshDatabase } from './postgres-database';
export type { FreshDatabase } from './postgres-database';
export { OtlpReceiver } from './otlp-receiver';
export type { ReceivedSpan } from './otlp-receiver';
export { mockTraceHeaders } from './stack';
export { PrometheusText, parsePrometheusText } from './prometheus-text';
export type { MetricFamily, MetricType, Sample } from './prometheus-text';
export { scrapeMetrics, metricsUrlOf } from './metrics-scrape';
