import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, loadConfig } from './load-config';
import { byteSize, httpUrl, onOff, logLevel, millis, oneOf, port } from './schema-helpers';

// Issue 7: every bad value is answered with the setting's name and what it takes, never with
// zod's own words ("Invalid input: expected number, received NaN").
const schema = z.object({
  httpPort: port(8080),
  graceMs: millis(3000),
  maxBody: byteSize(1024),
  upstream: httpUrl().optional(),
  mode: oneOf(['fast', 'safe'], 'safe'),
  verbose: onOff(false),
  logLevel: logLevel(),
  count: z.coerce.number().int().min(1).max(9).default(1),
  name: z.string().min(3).optional(),
});
const sources = {
  httpPort: { env: 'T_HTTP_PORT', flag: 'http-port', help: '' },
  graceMs: { env: 'T_GRACE_MS', help: '' },
  maxBody: { env: 'T_MAX_BODY', help: '' },
  upstream: { env: 'T_UPSTREAM_URL', help: '' },
  mode: { env: 'T_MODE', help: '' },
  verbose: { env: 'T_VERBOSE', help: '' },
  logLevel: { env: 'ST_LOG_LEVEL', help: '' },
  count: { env: 'T_COUNT', help: '' },
  name: { env: 'T_NAME', help: '' },
};

function messageFor(env: Record<string, string>): string {
  try {
    loadConfig(schema, sources, { env, argv: [] });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

const RAW_ZOD = /Invalid input|received NaN|expected number|Too (small|big)|Invalid option/;

describe('configuration messages', () => {
  it.each([
    [{ T_HTTP_PORT: 'abc' }, 'T_HTTP_PORT / --http-port: expected a port from 0 to 65535 (got "abc")'],
    [{ T_HTTP_PORT: '70000' }, 'T_HTTP_PORT / --http-port: expected a port from 0 to 65535 (got "70000")'],
    [{ T_HTTP_PORT: '80.5' }, 'T_HTTP_PORT / --http-port: expected a port from 0 to 65535 (got "80.5")'],
    [{ T_GRACE_MS: 'soon' }, 'T_GRACE_MS: expected a positive whole number of milliseconds, e.g. 30000 (got "soon")'],
    [{ T_GRACE_MS: '-5' }, 'T_GRACE_MS: expected a positive whole number of milliseconds, e.g. 30000 (got "-5")'],
    [{ T_MAX_BODY: 'lots' }, 'T_MAX_BODY: expected a size such as 20971520 or 20m (got "lots")'],
    [{ T_UPSTREAM_URL: 'localhost:8000' }, 'T_UPSTREAM_URL: expected an http:// or https:// URL (got "localhost:8000")'],
    [{ T_MODE: 'turbo' }, 'T_MODE: expected one of fast, safe (got "turbo")'],
    [{ T_VERBOSE: 'maybe' }, 'T_VERBOSE: expected true or false (also 1/0, yes/no, on/off) (got "maybe")'],
    [{ ST_LOG_LEVEL: 'verbose' }, 'ST_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent (got "verbose")'],
    // A plain zod schema without messages of its own still reads as a sentence.
    [{ T_COUNT: 'x' }, 'T_COUNT: expected a number (got "x")'],
    [{ T_COUNT: '0' }, 'T_COUNT: expected a number of at least 1 (got "0")'],
    [{ T_COUNT: '10' }, 'T_COUNT: expected a number of at most 9 (got "10")'],
    [{ T_NAME: 'ab' }, 'T_NAME: expected at least 3 characters (got "ab")'],
  ])('%o: %s', (env, line) => {
    const message = messageFor(env);
    expect(message).toBe(`invalid configuration:\n  ${line}`);
    expect(message).not.toMatch(RAW_ZOD);
  });

  it('accepts the good values of each helper', () => {
    const config = loadConfig(schema, sources, {
      env: { T_HTTP_PORT: '0', T_MODE: 'fast', T_VERBOSE: 'YES', ST_LOG_LEVEL: 'debug', T_UPSTREAM_URL: 'http://h:1/' },
      argv: [],
    });
    expect(config).toMatchObject({ httpPort: 0, mode: 'fast', verbose: true, logLevel: 'debug', upstream: 'http://h:1' });
  });
});
