import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { type ChannelCredentials, credentials } from '@grpc/grpc-js';
import { ConfigError, byteSize, loadConfig, logLevel, millis, onOff, optionalPort, port, type ConfigInputs, type SettingSource } from '@st/config';
import { z } from 'zod';
import { serviceChannelCredentials } from './service-tls';

export const ROLES = ['broker', 'gateway', 'discovery'] as const;
export type Role = (typeof ROLES)[number];

const schema = z.object({
  role: z
    .string()
    .default('all')
    .transform((v, ctx) => {
      const roles = v === 'all' ? [...ROLES] : v.split(',').map((r) => r.trim());
      for (const r of roles) {
        if (!(ROLES as readonly string[]).includes(r)) {
          ctx.addIssue({ code: 'custom', message: `unknown role "${r}": use all, broker, gateway, discovery or a comma list` });
          return z.NEVER;
        }
      }
      return roles as Role[];
    }),
  host: z.string().min(1).default('127.0.0.1'),
  httpPort: port(8080),
  grpcPort: port(50051),
  dataDir: z.string().min(1).default('./.data'),
  publicUrl: z.string().optional(),
  brokerAddress: z.string().optional(),
  redisUrl: z
    .string()
    .refine((v) => /^rediss?:\/\/[^/]+(\/\d+)?\/?$/.test(v), 'expected redis://host:port[/db] (or rediss:// for TLS)')
    .optional(),
  redisPrefix: z.string().min(1).max(64).regex(/^[A-Za-z0-9:_.-]+$/, 'expected letters, digits and : _ . - only').default('st:'),
  advertiseAddress: z
    .string()
    .refine((v) => /^[^\s/]+:\d+$/.test(v), 'expected host:port that other services reach this broker at')
    .optional(),
  brokerId: z.string().max(128, 'expected at most 128 characters').regex(/^\S+$/, 'expected no spaces').optional(),
  serviceToken: z.string().min(16, 'expected at least 16 characters').optional(),
  maxBodyBytes: byteSize(20 * 1024 * 1024),
  maxJsonDepth: z.coerce.number().int('expected a whole number of levels').min(1, 'expected at least 1 level').max(100_000, 'expected at most 100000 levels').default(128),
  firstByteTimeoutMs: millis(300_000),
  idleTimeoutMs: millis(300_000),
  shutdownGraceMs: millis(3_000),
  adminToken: z.string().min(1).optional(),
  secretKey: z.string().min(16, 'expected at least 16 characters').optional(),
  databaseUrl: z
    .string()
    .refine((v) => /^postgres(ql)?:\/\//.test(v), 'expected a postgres:// or postgresql:// URL')
    .optional(),
  corsOrigins: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean)),
  consoleDir: z.string().min(1).optional(),
  healthIntervalMs: millis(10_000),
  streamQueueLimitBytes: byteSize(8 * 1024 * 1024).refine((v) => v >= 1024 * 1024, 'expected at least 1m: a smaller queue cuts agents that are merely busy'),
  tlsCertFile: z.string().optional(),
  tlsKeyFile: z.string().optional(),
  brokerCaFile: z.string().optional(),
  tlsCaFile: z.string().optional(),
  bodyIdleTimeoutMs: millis(30_000),
  bodyMinRate: byteSize(1024),
  bodyRateWindowMs: millis(30_000),
  headerTimeoutMs: millis(10_000),
  maxConnections: limit(4096),
  keepAliveTimeoutMs: millis(5_000),
  maxRequestsPerConnection: limit(1000),
  maxWatchesPerUser: limit(16),
  limitTunnelConcurrency: limit(256),
  limitUserConcurrency: limit(512),
  limitUserRps: z.coerce.number({ error: 'expected a number of requests per second (0 = no limit)' }).min(0, 'expected 0 (no limit) or more').default(100),
  limitUserBurst: limit(400),
  maxStreamsPerTunnel: limit(4),
  lightAgentStreams: onOff(true),
  metricsPort: optionalPort(),
  usage: onOff(true),
  logLevel: logLevel(),
});

export type ServerConfig = z.infer<typeof schema> & { publicUrl: string };

export const SERVER_SETTINGS: { [K in keyof z.infer<typeof schema>]: SettingSource } = {
  role: { env: 'ST_ROLE', flag: 'role', help: 'roles this process serves: all (default), broker, gateway, discovery' },
  host: { env: 'ST_HOST', flag: 'host', help: 'address to listen on (default 127.0.0.1)' },
  httpPort: { env: 'ST_HTTP_PORT', flag: 'http-port', help: 'gateway HTTP port (default 8080; 0 = any free port)' },
  grpcPort: { env: 'ST_GRPC_PORT', flag: 'grpc-port', help: 'gRPC port for agents and services (default 50051)' },
  dataDir: { env: 'ST_DATA_DIR', flag: 'data-dir', help: 'where state is kept (default ./.data)' },
  publicUrl: { env: 'ST_PUBLIC_URL', flag: 'public-url', help: 'base URL callers use (default http://ST_HOST:ST_HTTP_PORT)' },
  redisUrl: { env: 'ST_REDIS_URL', flag: 'redis-url', help: 'redis://host:port[/db] for live state shared by replicas (presence, change feed, limits); default: none (one process)' },
  redisPrefix: { env: 'ST_REDIS_PREFIX', help: 'prefix of every Redis key and channel, so installations can share a Redis (default st:)' },
  advertiseAddress: { env: 'ST_ADVERTISE_ADDRESS', help: "host:port at which gateways reach this broker (default ST_HOST:ST_GRPC_PORT; required when ST_HOST is 0.0.0.0 or ::)" },
  brokerId: { env: 'ST_BROKER_ID', help: 'names this broker in presence, Welcome and `tunnels get` (default <hostname>:<grpc port>); unique per broker, the same across its restarts' },
  brokerAddress: { env: 'ST_BROKER_ADDRESS', flag: 'broker-address', help: 'host:port of the broker (https://host:port when its gRPC port has TLS), for a gateway running without the broker role' },
  serviceToken: { env: 'ST_SERVICE_TOKEN', help: 'shared secret between gateway and broker (default: made once in the data directory; required by split processes on ST_DATABASE_URL)', secret: true },
  maxBodyBytes: { env: 'ST_MAX_BODY', flag: 'max-body', help: 'largest request body (default 20m)' },
  maxJsonDepth: { env: 'ST_MAX_JSON_DEPTH', help: 'deepest nesting of a JSON request body; deeper is a 400 (default 128)' },
  firstByteTimeoutMs: { env: 'ST_FIRST_BYTE_TIMEOUT_MS', help: "deadline for the model server's first reply (default 300000)" },
  idleTimeoutMs: { env: 'ST_IDLE_TIMEOUT_MS', help: 'deadline for silence in the middle of an answer (default 300000)' },
  shutdownGraceMs: { env: 'ST_SHUTDOWN_GRACE_MS', help: 'how long open answers may finish at shutdown (default 3000)' },
  adminToken: { env: 'ST_ADMIN_TOKEN', help: 'admin credential for stctl users …; default: made on first start and printed once (split processes on ST_DATABASE_URL: this or the one already in the database)', secret: true },
  secretKey: { env: 'ST_SECRET_KEY', help: "key that encrypts tunnels' upstream API keys; default: a key file made in the data directory (required by split processes on ST_DATABASE_URL)", secret: true },
  databaseUrl: { env: 'ST_DATABASE_URL', flag: 'database-url', help: 'PostgreSQL URL; default: SQLite in the data directory' },
  corsOrigins: { env: 'ST_CORS_ORIGINS', help: 'browser origins allowed to call discovery over Connect (comma list)' },
  consoleDir: { env: 'ST_CONSOLE_DIR', help: "the web console's build, served at / (default: apps/console/dist beside the server's bundle)" },
  healthIntervalMs: { env: 'ST_HEALTH_INTERVAL_MS', help: 'how often agents probe their model server (default 10000)' },
  streamQueueLimitBytes: { env: 'ST_STREAM_QUEUE_LIMIT', help: 'bytes queued towards one agent stream before the broker cuts it with RESOURCE_EXHAUSTED (default 8m)' },
  tlsCertFile: { env: 'ST_TLS_CERT_FILE', help: 'PEM certificate chain for TLS on the gRPC port (with ST_TLS_KEY_FILE)' },
  tlsKeyFile: { env: 'ST_TLS_KEY_FILE', help: 'PEM private key for TLS on the gRPC port' },
  brokerCaFile: { env: 'ST_BROKER_CA_FILE', flag: 'broker-ca-file', help: "PEM of the CA that signed the broker's certificate, for a gateway dialling https://host:port" },
  tlsCaFile: { env: 'ST_TLS_CA_FILE', help: "PEM of the CA that signed the other services' gRPC certificates (gateways dialling brokers found in presence)" },
  bodyIdleTimeoutMs: { env: 'ST_BODY_IDLE_TIMEOUT_MS', help: 'a request body with no byte for this long gets 408 (default 30000)' },
  bodyMinRate: { env: 'ST_BODY_MIN_RATE', help: 'a request body slower than this many bytes/s over ST_BODY_RATE_WINDOW_MS gets 408; 0 = no minimum (default 1k)' },
  bodyRateWindowMs: { env: 'ST_BODY_RATE_WINDOW_MS', help: 'window over which ST_BODY_MIN_RATE is averaged (default 30000)' },
  headerTimeoutMs: { env: 'ST_HEADER_TIMEOUT_MS', help: 'an HTTP request line and headers must arrive within this long (default 10000)' },
  maxConnections: { env: 'ST_MAX_CONNECTIONS', help: 'open HTTP connections at most; more are closed at once; 0 = no cap (default 4096)' },
  keepAliveTimeoutMs: { env: 'ST_KEEPALIVE_TIMEOUT_MS', help: 'an idle keep-alive HTTP connection is closed after this long (default 5000)' },
  maxRequestsPerConnection: { env: 'ST_MAX_REQUESTS_PER_CONNECTION', help: 'requests served on one HTTP connection before it is closed; 0 = no limit (default 1000)' },
  maxWatchesPerUser: { env: 'ST_MAX_WATCHES_PER_USER', help: 'open WatchProviders streams per user (gRPC and Connect together); 0 = no limit (default 16)' },
  limitTunnelConcurrency: { env: 'ST_LIMIT_TUNNEL_CONCURRENCY', help: 'open requests per tunnel; more get 429; 0 = no limit (default 256)' },
  limitUserConcurrency: { env: 'ST_LIMIT_USER_CONCURRENCY', help: 'open requests per user across their tunnels; more get 429; 0 = no limit (default 512)' },
  limitUserRps: { env: 'ST_LIMIT_USER_RPS', help: 'requests per second per user (token bucket); more get 429; 0 = no limit (default 100)' },
  limitUserBurst: { env: 'ST_LIMIT_USER_BURST', help: 'requests a user may send at once above ST_LIMIT_USER_RPS (bucket size; default 400)' },
  lightAgentStreams: {
    env: 'ST_LIGHT_AGENT_STREAMS',
    help: "serve agents' TunnelService/Connect on plaintext gRPC ports with the light HTTP/2 stack (a few KB per idle agent instead of ~26 KB); false = grpc-js for everything (default true)",
  },
  maxStreamsPerTunnel: { env: 'ST_MAX_STREAMS_PER_TUNNEL', help: 'agent streams per tunnel; more are refused with RESOURCE_EXHAUSTED; 0 = no limit (default 4)' },
  metricsPort: { env: 'ST_METRICS_PORT', flag: 'metrics-port', help: 'serve Prometheus metrics at /metrics on this port of ST_HOST, every role of the process together (default: off; 0 = any free port)' },
  usage: {
    env: 'ST_USAGE',
    help: "token usage accounting by the gateway (stctl usage): counts each OpenAI answer's usage, asking streams for it; off = answers pass untouched and nothing is recorded (default on)",
  },
  logLevel: { env: 'ST_LOG_LEVEL', help: 'fatal, error, warn, info (default), debug, trace or silent' },
};

/** A count where 0 means no limit. */
function limit(fallback: number) {
  return z.coerce
    .number({ error: 'expected a whole number (0 = no limit)' })
    .int('expected a whole number (0 = no limit)')
    .min(0, 'expected 0 (no limit) or more')
    .default(fallback);
}

/** Reads and validates st-server's configuration (flags > environment > defaults). */
export function loadServerConfig(inputs?: ConfigInputs): ServerConfig {
  const config = loadConfig(schema, SERVER_SETTINGS, inputs);
  // Checked here so that a bad certificate stops the server at once with exit code 2 (a
  // configuration error), not after the store was opened; ControlPlane.start reads them again.
  loadGrpcTls(config);
  if (config.brokerAddress) brokerRelayTarget(config.brokerAddress, config.brokerCaFile);
  if (config.role.includes('broker') && config.redisUrl && !config.advertiseAddress && isWildcardHost(config.host)) {
    throw new ConfigError(
      `invalid configuration:\n  ST_ADVERTISE_ADDRESS: required with ST_REDIS_URL when ST_HOST is ${config.host}: gateways cannot dial a wildcard address; set it to host:port at which they reach this broker (in Kubernetes, the pod IP and ST_GRPC_PORT)`,
    );
  }
  if (config.tlsCaFile) serviceChannelCredentials(config);
  checkMetricsPort(config);
  return { ...config, publicUrl: (config.publicUrl ?? '').replace(/\/+$/, '') };
}

/** The metrics never share a port with callers: a port of their own, for the operator's Prometheus. */
function checkMetricsPort(config: { metricsPort?: number; httpPort: number; grpcPort: number }): void {
  const { metricsPort } = config;
  if (metricsPort === undefined || metricsPort === 0) return;
  const clash = metricsPort === config.httpPort ? 'ST_HTTP_PORT' : metricsPort === config.grpcPort ? 'ST_GRPC_PORT' : undefined;
  if (clash) {
    throw new ConfigError(
      `invalid configuration:\n  ST_METRICS_PORT / --metrics-port: ${metricsPort} is also ${clash}: metrics are served on a port of their own, never on the public one; choose another port`,
    );
  }
}

/** 0.0.0.0, :: and their spellings: an address to listen on, never one to dial. */
export function isWildcardHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === '0.0.0.0' || /^[0:]+$/.test(h);
}

/** The certificate chain and key for TLS on the gRPC port, as PEM. */
export interface GrpcTlsFiles {
  certChain: Buffer;
  privateKey: Buffer;
}

/**
 * Reads ST_TLS_CERT_FILE and ST_TLS_KEY_FILE: both or neither (neither = plaintext gRPC), each
 * readable, and the key must belong to the certificate. Throws a ConfigError naming the setting.
 */
export function loadGrpcTls(config: Pick<ServerConfig, 'tlsCertFile' | 'tlsKeyFile'>): GrpcTlsFiles | undefined {
  const { tlsCertFile, tlsKeyFile } = config;
  if (!tlsCertFile && !tlsKeyFile) return undefined;
  if (!tlsCertFile || !tlsKeyFile) {
    const [given, missing] = tlsCertFile ? ['ST_TLS_CERT_FILE', 'ST_TLS_KEY_FILE'] : ['ST_TLS_KEY_FILE', 'ST_TLS_CERT_FILE'];
    throw new ConfigError(
      `invalid configuration:\n  ${missing}: required because ${given} is set: TLS on the gRPC port needs both the certificate chain and its private key (or unset both for plaintext)`,
    );
  }
  const certChain = readPem('ST_TLS_CERT_FILE', tlsCertFile, 'CERTIFICATE');
  const privateKey = readPem('ST_TLS_KEY_FILE', tlsKeyFile, 'PRIVATE KEY');
  try {
    createSecureContext({ cert: certChain, key: privateKey });
  } catch (err) {
    const mismatch = /key values mismatch/i.test((err as Error).message);
    throw new ConfigError(
      mismatch
        ? `invalid configuration:\n  ST_TLS_KEY_FILE: the private key in ${tlsKeyFile} does not belong to the certificate in ${tlsCertFile} (ST_TLS_CERT_FILE)`
        : `invalid configuration:\n  ST_TLS_CERT_FILE / ST_TLS_KEY_FILE: ${tlsCertFile} and ${tlsKeyFile} cannot be used for TLS: ${(err as Error).message}`,
    );
  }
  return { certChain, privateKey };
}

function readPem(setting: string, path: string, label: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (err) {
    throw new ConfigError(`invalid configuration:\n  ${setting}: cannot read ${path}: ${(err as Error).message}`);
  }
  if (!pem.toString('latin1').includes(`-----BEGIN `) || !pem.toString('latin1').includes(label)) {
    throw new ConfigError(`invalid configuration:\n  ${setting}: ${path} holds no PEM ${label} ("-----BEGIN ... ${label}-----")`);
  }
  return pem;
}

/**
 * Where a gateway without the broker role dials its broker: `host:port` or `http://host:port` in
 * plaintext, `https://host:port` with TLS (verified against ST_BROKER_CA_FILE when set).
 */
export function brokerRelayTarget(brokerAddress: string, caFile: string | undefined): { address: string; credentials: ChannelCredentials } {
  const match = /^(https?):\/\/([^/]+)\/?$/i.exec(brokerAddress.trim());
  if (!match) {
    if (caFile) throw new ConfigError(`invalid configuration:\n  ST_BROKER_CA_FILE: set, but ST_BROKER_ADDRESS (${brokerAddress}) is not an https:// address`);
    return { address: brokerAddress, credentials: credentials.createInsecure() };
  }
  const tls = match[1].toLowerCase() === 'https';
  const address = /:\d+$/.test(match[2]) ? match[2] : `${match[2]}:${tls ? 443 : 80}`;
  if (!tls) return { address, credentials: credentials.createInsecure() };
  let ca: Buffer | null = null;
  if (caFile) {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new ConfigError(`invalid configuration:\n  ST_BROKER_CA_FILE: cannot read ${caFile}: ${(err as Error).message}`);
    }
    if (!ca.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(`invalid configuration:\n  ST_BROKER_CA_FILE: ${caFile} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
    }
  }
  return { address, credentials: credentials.createSsl(ca) };
}
