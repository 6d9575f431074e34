import { readFileSync } from 'node:fs';
import { httpUrl, loadConfig, millis, ConfigError, type ConfigInputs, type SettingSource } from '@st/config';
import { z } from 'zod';

const schema = z.object({
  brokerUrl: httpUrl(),
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  upstreamUrl: httpUrl().optional(),
  drainGraceMs: millis(30_000),
  reconnectMaxMs: millis(30_000),
  caFile: z.string().optional(),
});

export type AgentConfig = Omit<z.infer<typeof schema>, 'token' | 'tokenFile'> & { token: string };

export const AGENT_SETTINGS: { [K in keyof z.infer<typeof schema>]: SettingSource } = {
  brokerUrl: { env: 'ST_BROKER_URL', flag: 'broker-url', help: 'broker to dial: http://host:port (plaintext) or https://host:port (TLS)' },
  token: { env: 'ST_TUNNEL_TOKEN', flag: 'token', help: "the tunnel's agent token (prefer ST_TUNNEL_TOKEN_FILE: a flag shows in ps)" },
  tokenFile: { env: 'ST_TUNNEL_TOKEN_FILE', flag: 'token-file', help: 'file holding the agent token' },
  upstreamUrl: { env: 'ST_UPSTREAM_URL', flag: 'upstream-url', help: "model server URL; overrides the tunnel's host and port" },
  drainGraceMs: { env: 'ST_DRAIN_GRACE_MS', flag: 'drain-grace-ms', help: 'how long open answers may finish on SIGTERM (default 30000)' },
  reconnectMaxMs: { env: 'ST_RECONNECT_MAX_MS', flag: 'reconnect-max-ms', help: 'longest wait between reconnect attempts (default 30000)' },
  caFile: { env: 'ST_BROKER_CA_FILE', flag: 'ca-file', help: "PEM file of the CA that signed the broker's certificate (https:// broker URLs)" },
};

/** Reads and validates st-agent's configuration; the token may come from a file. */
export function loadAgentConfig(inputs?: ConfigInputs): AgentConfig {
  const { token, tokenFile, ...rest } = loadConfig(schema, AGENT_SETTINGS, inputs);
  let secret = token;
  if (!secret && tokenFile) {
    try {
      secret = readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(`ST_TUNNEL_TOKEN_FILE / --token-file: cannot read ${tokenFile}: ${(err as Error).message}`);
    }
  }
  if (!secret) {
    throw new ConfigError(
      'invalid configuration:\n  ST_TUNNEL_TOKEN / --token: required: give the agent token shown when the tunnel was created (or ST_TUNNEL_TOKEN_FILE)',
    );
  }
  return { ...rest, token: secret };
}
