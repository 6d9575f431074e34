import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { describeIssue } from './issue-message';

/** Where one setting may come from, and what it is for (printed by `--help`). */
export interface SettingSource {
  /** Environment variable, e.g. `ST_HTTP_PORT`. */
  env: string;
  /** Command-line flag without dashes, e.g. `http-port`. */
  flag?: string;
  /** One line for `--help`. */
  help: string;
  /** A secret: an invalid value is never echoed in the error (it would land in logs). */
  secret?: boolean;
}

/** Inputs of {@link loadConfig}; each defaults to the real process. */
export interface ConfigInputs {
  env?: NodeJS.ProcessEnv;
  argv?: string[];
  /** Values from a config file (already parsed), lowest precedence above defaults. */
  file?: Record<string, unknown>;
}

/** A configuration that cannot be used; the message names each bad setting and its fix. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Reads a typed configuration with the precedence flags > environment > file > defaults and
 * validates it against `schema`. Unknown flags are an error (a typo must not be ignored).
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  sources: { [K in keyof z.infer<S>]: SettingSource },
  inputs: ConfigInputs = {},
): z.infer<S> {
  const env = inputs.env ?? process.env;
  const argv = inputs.argv ?? process.argv.slice(2);
  const entries = Object.entries(sources) as [string, SettingSource][];
  const options: Record<string, { type: 'string' }> = {};
  for (const [, s] of entries) if (s.flag) options[s.flag] = { type: 'string' };

  let flags: Record<string, string | undefined>;
  try {
    flags = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | undefined
    >;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}. Run with --help to see the settings.`);
  }

  const raw: Record<string, unknown> = { ...(inputs.file ?? {}) };
  for (const [key, s] of entries) {
    const fromEnv = env[s.env];
    if (fromEnv !== undefined && fromEnv !== '') raw[key] = fromEnv;
    const fromFlag = s.flag ? flags[s.flag] : undefined;
    if (fromFlag !== undefined) raw[key] = fromFlag;
  }

  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '');
    const s = (sources as Record<string, SettingSource>)[key];
    const where = s ? [s.env, s.flag ? `--${s.flag}` : undefined].filter(Boolean).join(' / ') : key;
    const got = describeValue(raw[key], s?.secret === true);
    return `  ${where}: ${describeIssue(issue)} (got ${got})`;
  });
  throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
}

/**
 * What an error says was given. Secrets are described by their length only, and a URL's password
 * is masked: configuration errors go to the journal and `kubectl logs`.
 */
function describeValue(value: unknown, secret: boolean): string {
  if (value === undefined) return 'nothing';
  if (secret) return typeof value === 'string' ? `${value.length} characters, not shown` : 'a value, not shown';
  if (typeof value === 'string') return JSON.stringify(value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@'));
  return JSON.stringify(value);
}

/** Reads a JSON config file; a missing optional file gives `{}`. */
export function readConfigFile(path: string, required: boolean): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** `--help` text listing every setting with its variable, flag and meaning. */
export function describeSettings(sources: Record<string, SettingSource>): string {
  return Object.values(sources)
    .map((s) => `  ${s.flag ? `--${s.flag}`.padEnd(22) : ''.padEnd(22)} ${s.env.padEnd(26)} ${s.help}`)
    .join('\n');
}
