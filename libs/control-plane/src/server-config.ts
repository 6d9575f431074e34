import { byteSize, loadConfig, millis, port, type ConfigInputs, type SettingSource } from '@st/config';
import { z } from 'zod';

export const ROLES = ['broker', 'gateway'] as const;
export type Role = (typeof ROLES)[number];

const schema = z.object({
  role: z
    .string()
    .default('all')
    .transform((v, ctx) => {
      const roles = v === 'all' ? [...ROLES] : v.split(',').map((r) => r.trim());
      for (const r of roles) {
        if (!(ROLES as readonly string[]).includes(r)) {
          ctx.addIssue({ code: 'custom', message: `unknown role "${r}": use all, broker, gateway or a comma list` });
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
  serviceToken: z.string().min(16, 'expected at least 16 characters').optional(),
  maxBodyBytes: byteSize(20 * 1024 * 1024),
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
  healthIntervalMs: millis(10_000),
  tlsCertFile: z.string().optional(),
  tlsKeyFile: z.string().optional(),
});

export type ServerConfig = z.infer<typeof schema> & { publicUrl: string };

export const SERVER_SETTINGS: { [K in keyof z.infer<typeof schema>]: SettingSource } = {
  role: { env: 'ST_ROLE', flag: 'role', help: 'roles this process serves: all (default), broker, gateway' },
  host: { env: 'ST_HOST', flag: 'host', help: 'address to listen on (default 127.0.0.1)' },
  httpPort: { env: 'ST_HTTP_PORT', flag: 'http-port', help: 'gateway HTTP port (default 8080; 0 = any free port)' },
  grpcPort: { env: 'ST_GRPC_PORT', flag: 'grpc-port', help: 'gRPC port for agents and services (default 50051)' },
  dataDir: { env: 'ST_DATA_DIR', flag: 'data-dir', help: 'where state is kept (default ./.data)' },
  publicUrl: { env: 'ST_PUBLIC_URL', flag: 'public-url', help: 'base URL callers use (default http://ST_HOST:ST_HTTP_PORT)' },
  brokerAddress: { env: 'ST_BROKER_ADDRESS', flag: 'broker-address', help: 'host:port of the broker, for a gateway running without the broker role' },
  serviceToken: { env: 'ST_SERVICE_TOKEN', help: 'shared secret between gateway and broker (default: made once in the data directory)' },
  maxBodyBytes: { env: 'ST_MAX_BODY', flag: 'max-body', help: 'largest request body (default 20m)' },
  firstByteTimeoutMs: { env: 'ST_FIRST_BYTE_TIMEOUT_MS', help: "deadline for the model server's first reply (default 300000)" },
  idleTimeoutMs: { env: 'ST_IDLE_TIMEOUT_MS', help: 'deadline for silence in the middle of an answer (default 300000)' },
  shutdownGraceMs: { env: 'ST_SHUTDOWN_GRACE_MS', help: 'how long open answers may finish at shutdown (default 3000)' },
  adminToken: { env: 'ST_ADMIN_TOKEN', help: 'admin credential for stctl users …; default: made on first start and printed once' },
  secretKey: { env: 'ST_SECRET_KEY', help: "key that encrypts tunnels' upstream API keys; default: a key file made in the data directory" },
  databaseUrl: { env: 'ST_DATABASE_URL', flag: 'database-url', help: 'PostgreSQL URL; default: SQLite in the data directory' },
  corsOrigins: { env: 'ST_CORS_ORIGINS', help: 'browser origins allowed to call discovery over Connect (comma list)' },
  healthIntervalMs: { env: 'ST_HEALTH_INTERVAL_MS', help: 'how often agents probe their model server (default 10000)' },
  tlsCertFile: { env: 'ST_TLS_CERT_FILE', help: 'PEM certificate chain for TLS on the gRPC port (with ST_TLS_KEY_FILE)' },
  tlsKeyFile: { env: 'ST_TLS_KEY_FILE', help: 'PEM private key for TLS on the gRPC port' },
};

/** Reads and validates st-server's configuration (flags > environment > defaults). */
export function loadServerConfig(inputs?: ConfigInputs): ServerConfig {
  const config = loadConfig(schema, SERVER_SETTINGS, inputs);
  return { ...config, publicUrl: (config.publicUrl ?? '').replace(/\/+$/, '') };
}
