import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpUrl, listenAddress, loadConfig, logLevel, onOff, ConfigError, type ConfigInputs, type SettingSource } from '@st/config';
import { z } from 'zod';
import { BrokerTargetError, loadBrokerCa } from './broker-credentials';
import { readAgentConfigFile, type FileKey } from './config-file';

/** Read when it exists and neither --config nor ST_AGENT_CONFIG names a file. */
export const DEFAULT_CONFIG_FILE = '/etc/session-tunnels/agent.yaml';

const required = (what: string) => (issue: { input: unknown }) => (issue.input === undefined ? `required: ${what}` : undefined);

/**
 * One URL or a comma-separated list (a YAML list in the file too), each http(s)://, duplicates
 * dropped. A single bad URL keeps the message of a single URL; in a list the bad one is named.
 */
const brokerUrls = () =>
  z.union([z.string(), z.array(z.string())]).transform((value, ctx) => {
    const items = (Array.isArray(value) ? value : value.split(',')).map((u) => u.trim()).filter((u) => u !== '');
    if (items.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'expected an http:// or https:// URL, or a comma-separated list of them' });
      return z.NEVER;
    }
    const bad = items.find((u) => !/^https?:\/\/[^/]+/.test(u));
    if (bad !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: items.length === 1 ? 'expected an http:// or https:// URL' : `expected http:// or https:// URLs separated by commas; ${JSON.stringify(bad)} is not one`,
      });
      return z.NEVER;
    }
    return [...new Set(items.map((u) => u.replace(/\/+$/, '')))];
  });

/**
 * Milliseconds, like @st/config's millis() but with a message for a value that is not a number
 * at all ("soon"), where zod would say "expected number, received NaN".
 */
const millis = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a positive number of milliseconds, e.g. 30000' })
    .int('expected a whole number of milliseconds')
    .positive('expected a positive number of milliseconds')
    .default(fallback);

/** ST_BROKER_CONNECTIONS above this would be a typo (konnectivity's agents hold a handful). */
export const MAX_BROKER_CONNECTIONS = 16;

const schema = z.object({
  brokerUrl: z
    .union([z.string(), z.array(z.string())], {
      error: required("the broker's gRPC URL, e.g. http://st.example.com:50051, or a comma-separated list of them (or brokerUrl in the config file)"),
    })
    .pipe(brokerUrls()),
  brokerConnections: z.coerce
    .number({ error: `expected how many brokers to hold a stream to, a whole number from 1 to ${MAX_BROKER_CONNECTIONS}` })
    .int(`expected a whole number from 1 to ${MAX_BROKER_CONNECTIONS}`)
    .min(1, 'expected at least 1 (the agent always holds a stream to one broker)')
    .max(MAX_BROKER_CONNECTIONS, `expected at most ${MAX_BROKER_CONNECTIONS}`)
    .default(2),
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  upstreamUrl: httpUrl().optional(),
  drainGraceMs: millis(30_000),
  reconnectMaxMs: millis(30_000),
  caFile: z.string().optional(),
  metricsAddr: listenAddress().optional(),
  lightClient: onOff(true),
  logLevel: logLevel(),
});

export type AgentConfig = Omit<z.infer<typeof schema>, 'token' | 'tokenFile' | 'brokerUrl'> & {
  /** The broker URL(s) as given, normalised: one URL, or several joined by commas. */
  brokerUrl: string;
  /** Each broker URL: one (maybe a load-balanced name) or several to dial in turn. */
  brokerUrls: string[];
  token: string;
  /** Where the token came from, for people (`--token`, `the file /run/credentials/…/token`). */
  tokenSource: string;
  /** The config file that was read, if any. */
  configFile: string | undefined;
};

export const AGENT_SETTINGS: { [K in keyof z.infer<typeof schema>]-?: SettingSource } = {
  brokerUrl: {
    env: 'ST_BROKER_URL',
    flag: 'broker-url',
    help: 'broker to dial: http://host:port (plaintext) or https://host:port (TLS); one (maybe load-balanced) URL or a comma-separated list',
  },
  brokerConnections: {
    env: 'ST_BROKER_CONNECTIONS',
    flag: 'broker-connections',
    help: 'how many distinct brokers to hold a stream to, when that many are live (default 2)',
  },
  token: { env: 'ST_TUNNEL_TOKEN', flag: 'token', help: "the tunnel's agent token (prefer ST_TUNNEL_TOKEN_FILE: a flag shows in ps)", secret: true },
  tokenFile: {
    env: 'ST_TUNNEL_TOKEN_FILE',
    flag: 'token-file',
    help: 'file holding the agent token (default under systemd: $CREDENTIALS_DIRECTORY/token)',
  },
  upstreamUrl: { env: 'ST_UPSTREAM_URL', flag: 'upstream-url', help: "model server URL; overrides the tunnel's host and port" },
  drainGraceMs: { env: 'ST_DRAIN_GRACE_MS', flag: 'drain-grace-ms', help: 'how long open answers may finish on SIGTERM (default 30000)' },
  reconnectMaxMs: { env: 'ST_RECONNECT_MAX_MS', flag: 'reconnect-max-ms', help: 'longest wait between reconnect attempts (default 30000)' },
  caFile: { env: 'ST_BROKER_CA_FILE', flag: 'ca-file', help: "PEM file of the CA that signed the broker's certificate (https:// broker URLs)" },
  metricsAddr: {
    env: 'ST_AGENT_METRICS_ADDR',
    flag: 'metrics-addr',
    help: 'serve Prometheus metrics at http://<host:port>/metrics, e.g. 127.0.0.1:9464 (default: off)',
  },
  lightClient: {
    env: 'ST_AGENT_LIGHT_CLIENT',
    help: "dial the broker's TunnelService/Connect with st-agent's own light HTTP/2 client instead of grpc-js (less CPU per request); false = grpc-js; through an HTTP proxy grpc-js is always used (default true)",
  },
  logLevel: { env: 'ST_LOG_LEVEL', help: 'fatal, error, warn, info (default), debug, trace or silent' },
};

/** The config file setting: not part of the schema, since it says where the schema's values are. */
export const CONFIG_FILE_SETTING: SettingSource = {
  env: 'ST_AGENT_CONFIG',
  flag: 'config',
  help: `YAML file of settings (camelCase keys, e.g. brokerUrl); default ${DEFAULT_CONFIG_FILE} if it exists`,
};

export interface AgentConfigInputs extends Omit<ConfigInputs, 'file'> {
  /** The file read when none is named (tests point it elsewhere). */
  defaultConfigFile?: string;
}

/**
 * Reads and validates st-agent's configuration: flags over environment over the config file over
 * defaults, each message naming the setting where it was given and the fix. The token may come
 * from a file (never from the command line, where `ps` shows it), by default systemd's credential.
 */
export function loadAgentConfig(inputs: AgentConfigInputs = {}): AgentConfig {
  const env = inputs.env ?? process.env;
  const { configPath, argv } = takeConfigFlag(inputs.argv ?? process.argv.slice(2));
  const named = configPath ?? nonEmpty(env[CONFIG_FILE_SETTING.env]);
  const path = named ?? inputs.defaultConfigFile ?? DEFAULT_CONFIG_FILE;
  const file = readAgentConfigFile(path, named !== undefined);
  checkFileValues(file, path);
  const configFile = named !== undefined || existsSync(path) ? path : undefined;

  const { token, tokenFile, brokerUrl, ...rest } = loadConfig(schema, AGENT_SETTINGS, { env, argv, file });
  const secret = pickToken({ token, tokenFile, file, env, argv, configFile });
  if (rest.caFile) checkCaFile(rest.caFile);
  return { ...rest, brokerUrl: brokerUrl.join(','), brokerUrls: brokerUrl, ...secret, configFile };
}

/** A CA file that cannot be used is a configuration error now, before systemd hears READY=1. */
function checkCaFile(caFile: string): void {
  try {
    loadBrokerCa(caFile);
  } catch (err) {
    if (err instanceof BrokerTargetError) throw new ConfigError(`invalid configuration:\n  ${err.message}`);
    throw err;
  }
}

/** Splits `--config PATH` / `--config=PATH` off the flags that loadConfig parses. */
function takeConfigFlag(argv: string[]): { configPath: string | undefined; argv: string[] } {
  const rest: string[] = [];
  let configPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--config') {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new ConfigError('--config: give the path of the config file, e.g. --config /etc/session-tunnels/agent.yaml');
      configPath = value;
      i++;
    } else if (arg.startsWith('--config=')) {
      configPath = arg.slice('--config='.length);
    } else {
      rest.push(arg);
    }
  }
  return { configPath, argv: rest };
}

/** Validates the file's values on their own, so a message can say "brokerUrl in <file>". */
function checkFileValues(file: Partial<Record<FileKey, unknown>>, path: string): void {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(file) as [FileKey, unknown][]) {
    const parsed = schema.shape[key].safeParse(value);
    if (!parsed.success) {
      const s = AGENT_SETTINGS[key];
      problems.push(`  ${key} in ${path}: ${parsed.error.issues[0].message} (got ${JSON.stringify(value)}); fix it there, or override it with ${s.env} / --${s.flag}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
}

/**
 * The token given where precedence is highest (flag > environment > file); at the same level the
 * token itself beats a token file. With neither, systemd's credential `token`, if any.
 */
function pickToken(options: {
  token: string | undefined;
  tokenFile: string | undefined;
  file: Partial<Record<FileKey, unknown>>;
  env: NodeJS.ProcessEnv;
  argv: string[];
  configFile: string | undefined;
}): { token: string; tokenSource: string } {
  const { token, tokenFile, env, argv } = options;
  const rank = (key: 'token' | 'tokenFile') => {
    const s = AGENT_SETTINGS[key];
    if (argv.some((a) => a === `--${s.flag}` || a.startsWith(`--${s.flag}=`))) return 3;
    if (nonEmpty(env[s.env])) return 2;
    return key in options.file ? 1 : 0;
  };
  if (token && rank('token') >= rank('tokenFile')) {
    return { token, tokenSource: rank('token') === 3 ? '--token' : 'ST_TUNNEL_TOKEN' };
  }
  if (tokenFile) {
    const where = rank('tokenFile') === 1 ? `tokenFile in ${options.configFile}` : 'ST_TUNNEL_TOKEN_FILE / --token-file';
    return { token: readToken(tokenFile, where), tokenSource: `the file ${tokenFile}` };
  }
  const credentials = nonEmpty(env.CREDENTIALS_DIRECTORY);
  if (credentials) {
    const path = join(credentials, 'token');
    const where = `systemd credential "token" (${path})`;
    return { token: readToken(path, where, 'LoadCredential=token:/etc/session-tunnels/agent.token: create that file (mode 0600) holding the token'), tokenSource: `the systemd credential ${path}` };
  }
  throw new ConfigError(
    'invalid configuration:\n  ST_TUNNEL_TOKEN_FILE / --token-file / tokenFile (or ST_TUNNEL_TOKEN): required: give the agent token shown when the tunnel was created, best in a file of its own (mode 0600)',
  );
}

function readToken(path: string, where: string, fix = 'point it at a readable file holding the agent token'): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`invalid configuration:\n  ${where}: cannot read ${path} (${code}): ${fix}`);
  }
  const token = text.trim();
  if (!token) throw new ConfigError(`invalid configuration:\n  ${where}: ${path} is empty: write the agent token shown when the tunnel was created into it`);
  if (/\s/.test(token)) throw new ConfigError(`invalid configuration:\n  ${where}: ${path} holds more than one word: it must hold only the agent token`);
  return token;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
