import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAgentConfig } from './agent-config';

const dir = mkdtempSync(join(tmpdir(), 'st-agent-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** Writes `text` to a fresh file in the temp dir and returns its path. */
function file(text: string, name = `f${++n}.yaml`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** No default file, an empty environment: only what a test gives counts. */
const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadAgentConfig({ argv, env, defaultConfigFile: join(dir, 'absent.yaml') });

describe('agent configuration', () => {
  it('takes flags over environment over the file over defaults', () => {
    const yaml = file('brokerUrl: http://file:1\nupstreamUrl: http://file-model:8000\ndrainGraceMs: 5000\ntokenFile:\n');
    const token = ['--token', 't'];
    expect(load(['--config', yaml, ...token])).toMatchObject({
      brokerUrl: 'http://file:1',
      upstreamUrl: 'http://file-model:8000',
      drainGraceMs: 5000,
      reconnectMaxMs: 30_000,
      configFile: yaml,
    });
    const env = { ST_BROKER_URL: 'http://env:2', ST_DRAIN_GRACE_MS: '7000' };
    expect(load(['--config', yaml, ...token], env)).toMatchObject({ brokerUrl: 'http://env:2', drainGraceMs: 7000, upstreamUrl: 'http://file-model:8000' });
    expect(load([`--config=${yaml}`, '--broker-url', 'http://flag:3', ...token], env).brokerUrl).toBe('http://flag:3');
  });

  it('reads the default file only when it exists, and ST_AGENT_CONFIG like --config', () => {
    const yaml = file('brokerUrl: http://default:1\n');
    expect(loadAgentConfig({ argv: ['--token', 't'], env: {}, defaultConfigFile: yaml }).brokerUrl).toBe('http://default:1');
    expect(() => load(['--token', 't'])).toThrow(/ST_BROKER_URL \/ --broker-url: required: the broker's gRPC URL/);
    expect(load(['--token', 't'], { ST_AGENT_CONFIG: yaml }).configFile).toBe(yaml);
  });

  it('requires a file named by --config or ST_AGENT_CONFIG to exist', () => {
    const missing = join(dir, 'missing.yaml');
    expect(() => load(['--config', missing, '--token', 't'])).toThrow(`config file ${missing}: cannot read it (ENOENT)`);
    expect(() => load(['--token', 't'], { ST_AGENT_CONFIG: missing })).toThrow(/cannot read it \(ENOENT\): create it, or give the right path/);
    expect(() => load(['--config'])).toThrow(/--config: give the path/);
  });

  it('names unknown keys, with the key meant when only the spelling differs', () => {
    const yaml = file('broker_url: http://x:1\nupstream: http://m\n');
    expect(() => load(['--config', yaml, '--token', 't'])).toThrow(
      `config file ${yaml}: unknown setting(s) broker_url (did you mean brokerUrl?), upstream; the settings are brokerUrl, tokenFile, upstreamUrl, caFile, drainGraceMs, reconnectMaxMs, brokerConnections`,
    );
  });

  it('says where YAML is broken, and refuses a list, a token and a bad value', () => {
    expect(() => load(['--config', file('brokerUrl: [http://x\n'), '--token', 't'])).toThrow(/is not valid YAML: .*at line 2, column 1$/);
    expect(() => load(['--config', file('a: 1\na: 2\n'), '--token', 't'])).toThrow(/is not valid YAML: Map keys must be unique/);
    expect(() => load(['--config', file('- brokerUrl\n'), '--token', 't'])).toThrow(/a YAML mapping\), got a list/);
    expect(() => load(['--config', file('brokerUrl: http://x:1\ntoken: secret\n')])).toThrow(/`token` is not read from this file .* set `tokenFile`/);
    const yaml = file('brokerUrl: ftp://x\ndrainGraceMs: soon\n');
    expect(() => load(['--config', yaml, '--token', 't'], { ST_BROKER_URL: 'http://fine:1' })).toThrow(
      `brokerUrl in ${yaml}: expected an http:// or https:// URL (got "ftp://x"); fix it there, or override it with ST_BROKER_URL / --broker-url`,
    );
  });

  it('reads the token from a file (relative to the config file), never needing it on the command line', () => {
    mkdirSync(join(dir, 'etc'));
    writeFileSync(join(dir, 'etc', 'agent.token'), '  st_agent_secret\n');
    const yaml = file('brokerUrl: http://b:1\ntokenFile: agent.token\n', 'etc/agent.yaml');
    expect(load(['--config', yaml])).toMatchObject({ token: 'st_agent_secret', tokenSource: `the file ${join(dir, 'etc', 'agent.token')}` });
    expect(load(['--broker-url', 'http://b:1', '--token-file', join(dir, 'etc', 'agent.token')]).token).toBe('st_agent_secret');
  });

  it('picks the token given with the highest precedence', () => {
    const tokenFile = file('from-file\n', 'precedence.token');
    const base = ['--broker-url', 'http://b:1'];
    // Environment token over a token file named in the config file.
    const yaml = file(`tokenFile: ${tokenFile}\n`);
    expect(load([...base, '--config', yaml], { ST_TUNNEL_TOKEN: 'from-env' }).token).toBe('from-env');
    // A --token-file flag over an environment token.
    expect(load([...base, '--token-file', tokenFile], { ST_TUNNEL_TOKEN: 'from-env' }).token).toBe('from-file');
    // At the same level, the token itself.
    expect(load(base, { ST_TUNNEL_TOKEN: 'from-env', ST_TUNNEL_TOKEN_FILE: tokenFile }).token).toBe('from-env');
  });

  it("falls back to systemd's credential, and says how to fix a missing or empty token", () => {
    const credentials = join(dir, 'credentials');
    mkdirSync(credentials);
    const base = ['--broker-url', 'http://b:1'];
    expect(() => load(base, { CREDENTIALS_DIRECTORY: credentials })).toThrow(
      /systemd credential "token" .*: cannot read .*token \(ENOENT\): LoadCredential=token:\/etc\/session-tunnels\/agent.token: create that file/,
    );
    writeFileSync(join(credentials, 'token'), 'st_agent_cred\n');
    expect(load(base, { CREDENTIALS_DIRECTORY: credentials })).toMatchObject({ token: 'st_agent_cred', tokenSource: `the systemd credential ${join(credentials, 'token')}` });
    expect(() => load(base)).toThrow(/ST_TUNNEL_TOKEN_FILE \/ --token-file \/ tokenFile \(or ST_TUNNEL_TOKEN\): required/);
    expect(() => load([...base, '--token-file', file('\n')])).toThrow(/is empty: write the agent token/);
    expect(() => load([...base, '--token-file', join(dir, 'nope')])).toThrow(/ST_TUNNEL_TOKEN_FILE \/ --token-file: cannot read .*nope \(ENOENT\)/);
  });

  it('checks a CA file at start, before anything is dialled', () => {
    const notPem = file('not a certificate\n', 'ca.pem');
    expect(() => load(['--broker-url', 'https://b:1', '--token', 't', '--ca-file', notPem])).toThrow(
      `invalid configuration:\n  ST_BROKER_CA_FILE / --ca-file: ${notPem} holds no PEM certificate`,
    );
  });

  it('takes one broker URL or a comma-separated list (a YAML list in the file), and how many brokers to hold', () => {
    const token = ['--token', 't'];
    expect(load(token, { ST_BROKER_URL: 'http://lb:50051' })).toMatchObject({ brokerUrl: 'http://lb:50051', brokerUrls: ['http://lb:50051'], brokerConnections: 2 });
    expect(load(token, { ST_BROKER_URL: ' http://a:1/, http://b:2,,http://a:1', ST_BROKER_CONNECTIONS: '3' })).toMatchObject({
      brokerUrl: 'http://a:1,http://b:2',
      brokerUrls: ['http://a:1', 'http://b:2'],
      brokerConnections: 3,
    });
    const yaml = file('brokerUrl:\n  - http://a:1\n  - https://b:2\nbrokerConnections: 1\n');
    expect(load(['--config', yaml, ...token])).toMatchObject({ brokerUrls: ['http://a:1', 'https://b:2'], brokerConnections: 1 });
    expect(load(['--config', yaml, '--broker-connections', '4', ...token]).brokerConnections).toBe(4);
  });

  it('names the bad URL of a list and a broker count out of range', () => {
    const token = ['--token', 't'];
    expect(() => load(token, { ST_BROKER_URL: 'http://a:1,b:2' })).toThrow(
      'ST_BROKER_URL / --broker-url: expected http:// or https:// URLs separated by commas; "b:2" is not one (got "http://a:1,b:2")',
    );
    expect(() => load(token, { ST_BROKER_URL: ' , ' })).toThrow(/ST_BROKER_URL \/ --broker-url: expected an http:\/\/ or https:\/\/ URL, or a comma-separated list of them/);
    expect(() => load(token, { ST_BROKER_URL: 'http://a:1', ST_BROKER_CONNECTIONS: '0' })).toThrow(/ST_BROKER_CONNECTIONS \/ --broker-connections: expected at least 1/);
    expect(() => load(token, { ST_BROKER_URL: 'http://a:1', ST_BROKER_CONNECTIONS: 'two' })).toThrow(/ST_BROKER_CONNECTIONS .*: expected how many brokers to hold a stream to, a whole number from 1 to 16 \(got "two"\)/);
    expect(() => load(token, { ST_BROKER_URL: 'http://a:1', ST_BROKER_CONNECTIONS: '99' })).toThrow(/expected at most 16/);
  });

  it('still rejects unknown flags', () => {
    expect(() => load(['--brokr-url', 'x'])).toThrow(/--help/);
  });
});
