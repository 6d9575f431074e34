import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '@st/config';
import { parseDocument } from 'yaml';

/** The keys an agent config file may set: the schema's names, camelCase. */
export const FILE_KEYS = ['brokerUrl', 'tokenFile', 'upstreamUrl', 'caFile', 'drainGraceMs', 'reconnectMaxMs', 'brokerConnections', 'metricsAddr', 'lightClient'] as const;
export type FileKey = (typeof FILE_KEYS)[number];

/** Keys holding paths: relative ones are taken from the file's own directory, not the cwd. */
const PATH_KEYS: readonly FileKey[] = ['tokenFile', 'caFile'];

/**
 * Reads an agent config file (YAML; JSON is YAML too). A missing optional file gives `{}`; a key
 * that is not a setting is an error naming it (a typo must not be ignored), and so is `token`:
 * the file is readable by more than the agent, so the secret belongs in a file of its own.
 * Empty values (`upstreamUrl:`) count as unset, so an example file can list every key.
 */
export function readAgentConfigFile(path: string, required: boolean): Partial<Record<FileKey, unknown>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!required && code === 'ENOENT') return {};
    const fix = code === 'ENOENT' ? 'create it, or give the right path with --config / ST_AGENT_CONFIG' : 'make it readable by the agent (under systemd: mode 0640, group session-tunnels)';
    throw new ConfigError(`config file ${path}: cannot read it (${code ?? (err as Error).message}): ${fix}`);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${doc.errors[0].message.split('\n')[0].replace(/:$/, '')}`);
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`config file ${path}: expected settings as \`key: value\` lines (a YAML mapping), got ${Array.isArray(data) ? 'a list' : typeof data}`);
  }
  const entries = Object.entries(data as Record<string, unknown>);
  if ('token' in data) {
    throw new ConfigError(
      `config file ${path}: \`token\` is not read from this file (others may read it): put the token in a file of its own (mode 0600) and set \`tokenFile\` to it, or use systemd's LoadCredential=token:…`,
    );
  }
  const unknown = entries.map(([key]) => key).filter((key) => !(FILE_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    const hints = unknown.map((key) => {
      const near = FILE_KEYS.find((k) => squash(k) === squash(key));
      return near ? `${key} (did you mean ${near}?)` : key;
    });
    throw new ConfigError(`config file ${path}: unknown setting(s) ${hints.join(', ')}; the settings are ${FILE_KEYS.join(', ')}`);
  }
  const out: Partial<Record<FileKey, unknown>> = {};
  for (const [key, value] of entries as [FileKey, unknown][]) {
    if (value === null || value === '') continue;
    out[key] = PATH_KEYS.includes(key) && typeof value === 'string' ? resolve(dirname(path), value) : value;
  }
  return out;
}

/** `broker_url`, `BrokerURL`, `broker-url` → `brokerurl`: for "did you mean". */
function squash(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}
