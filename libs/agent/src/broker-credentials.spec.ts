import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BrokerTargetError, brokerTarget, describeDialFailure } from './broker-credentials';

const dir = mkdtempSync(join(tmpdir(), 'st-ca-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('brokerTarget', () => {
  it('dials http:// in plaintext and https:// with TLS, with default ports', () => {
    expect(brokerTarget('http://broker:50051')).toMatchObject({ address: 'broker:50051', host: 'broker', tls: false });
    expect(brokerTarget('https://broker.example.com')).toMatchObject({ address: 'broker.example.com:443', tls: true });
    expect(brokerTarget('http://[::1]:7')).toMatchObject({ address: '[::1]:7', host: '::1' });
    expect(brokerTarget('https://b:1').credentials._isSecure()).toBe(true);
  });

  it('refuses a CA file it cannot read or that holds no certificate, naming the setting', () => {
    expect(() => brokerTarget('https://b:1', { caFile: join(dir, 'missing.pem') })).toThrow(/ST_BROKER_CA_FILE \/ --ca-file: cannot read/);
    const key = join(dir, 'key.pem');
    writeFileSync(key, '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n');
    expect(() => brokerTarget('https://b:1', { caFile: key })).toThrow(BrokerTargetError);
    expect(() => brokerTarget('https://b:1', { caFile: key })).toThrow(/holds no PEM certificate/);
    const broken = join(dir, 'broken.pem');
    writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
    expect(() => brokerTarget('https://b:1', { caFile: broken })).toThrow(/cannot be parsed/);
  });
});

describe('describeDialFailure', () => {
  const tls = { tls: true, host: '127.0.0.1' };
  it('turns TLS verification errors into the setting to fix', () => {
    const reason = 'No connection established. Last error: Error: unable to verify the first certificate. Resolution note: ';
    expect(describeDialFailure(reason, { ...tls, caFile: '/etc/st/ca.pem' })).toMatch(/not trusted: it was not signed by the CA in ST_BROKER_CA_FILE \(\/etc\/st\/ca.pem\)/);
    expect(describeDialFailure('Error: self-signed certificate in certificate chain', tls)).toMatch(/not trusted: set ST_BROKER_CA_FILE/);
    expect(describeDialFailure("Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list", tls)).toMatch(/does not name 127\.0\.0\.1/);
    expect(describeDialFailure('Error: certificate has expired', tls)).toMatch(/validity period/);
    expect(describeDialFailure('ssl3_get_record:wrong version number', tls)).toMatch(/does not speak TLS.*http:\/\//);
  });

  it('suggests https:// when a plaintext dial is cut at once, and nothing for a plain refusal', () => {
    expect(describeDialFailure('No connection established. Last error: Failed to connect (2026-01-01T00:00:00.000Z)', { tls: false, host: 'b' })).toMatch(/https:\/\//);
    expect(describeDialFailure('No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1', { tls: false, host: 'b' })).toBeUndefined();
  });

  it('points at the proxy when the dial went through one', () => {
    const hint = describeDialFailure('No connection established. Last error: undefined.', {
      tls: false,
      host: 'b',
      address: 'b:50051',
      proxy: { url: 'http://proxy:3128', variable: 'HTTPS_PROXY' },
    });
    expect(hint).toMatch(/HTTP proxy http:\/\/proxy:3128 \(HTTPS_PROXY\).*CONNECT to b:50051.*NO_PROXY/);
  });
});
