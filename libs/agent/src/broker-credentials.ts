import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';

/** Where and how the agent dials its broker. */
export interface BrokerTarget {
  /** `host:port` for grpc-js. */
  address: string;
  /** `host` alone (an IPv6 literal without brackets), for no_proxy matching and messages. */
  host: string;
  /** The port, for dialling without grpc-js (the light client). */
  port: number;
  tls: boolean;
  credentials: grpc.ChannelCredentials;
  /** ST_BROKER_CA_FILE's PEM, when given (https:// only): the one CA trusted. */
  ca?: Buffer;
}

/** A broker URL or CA file that cannot be used; the message names the setting and the fix. */
export class BrokerTargetError extends Error {
  override readonly name = 'BrokerTargetError';
}

/**
 * The grpc-js target and credentials for a broker URL: `http://host:port` is plaintext,
 * `https://host:port` is TLS, verified against `caFile` when given (that CA alone is trusted
 * then) or else against Node's bundled CAs (plus NODE_EXTRA_CA_CERTS).
 */
export function brokerTarget(url: string, options: { caFile?: string } = {}): BrokerTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BrokerTargetError(`ST_BROKER_URL / --broker-url: ${JSON.stringify(url)} is not a URL: use http://host:port or https://host:port`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new BrokerTargetError(`ST_BROKER_URL / --broker-url: unsupported scheme ${parsed.protocol} in ${url}: use http:// (plaintext) or https:// (TLS)`);
  }
  const tls = parsed.protocol === 'https:';
  const port = parsed.port || (tls ? '443' : '80');
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const address = `${parsed.hostname}:${port}`;
  if (!tls) return { address, host, port: Number(port), tls, credentials: grpc.credentials.createInsecure() };
  const ca = options.caFile ? loadBrokerCa(options.caFile) : undefined;
  return { address, host, port: Number(port), tls, credentials: grpc.credentials.createSsl(ca ?? null), ca };
}

/**
 * Reads ST_BROKER_CA_FILE: PEM with at least one certificate. grpc-js accepts anything here and
 * then trusts nothing, so a wrong file would look like an untrusted broker; it is checked now.
 */
export function loadBrokerCa(caFile: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(caFile);
  } catch (err) {
    throw new BrokerTargetError(`ST_BROKER_CA_FILE / --ca-file: cannot read ${caFile}: ${(err as Error).message}`);
  }
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new BrokerTargetError(`ST_BROKER_CA_FILE / --ca-file: ${caFile} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
  }
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new BrokerTargetError(`ST_BROKER_CA_FILE / --ca-file: ${caFile} holds a certificate that cannot be parsed: ${(err as Error).message}`);
    }
  }
  return pem;
}

/** TLS verification errors (OpenSSL's and Node's wording) that mean "this certificate is not trusted". */
const UNTRUSTED =
  /unable to verify the first certificate|unable to get local issuer certificate|unable to get issuer certificate|self[- ]signed certificate|certificate signature failure|CERT_UNTRUSTED|certificate is not trusted/i;

/**
 * A hint for a failed dial, in words an operator can act on (the setting to change), or
 * undefined when the raw reason says enough (a refused connection, a broker that went away).
 */
export function describeDialFailure(
  reason: string,
  target: { tls: boolean; host: string; address?: string; caFile?: string; proxy?: { url: string; variable: string } },
): string | undefined {
  const hint = describeTlsOrSchemeFailure(reason, target);
  if (hint || !target.proxy) return hint;
  // grpc-js reports proxy failures only on stderr ("Failed to connect to … through proxy …");
  // the call itself says "Last error: undefined".
  const { url, variable } = target.proxy;
  return `the broker is dialled through the HTTP proxy ${url} (${variable}): check that the proxy is reachable and allows CONNECT to ${target.address ?? target.host} (st-agent's stderr has the proxy's answer), or exclude the broker with NO_PROXY`;
}

function describeTlsOrSchemeFailure(reason: string, target: { tls: boolean; host: string; caFile?: string }): string | undefined {
  if (target.tls) {
    if (UNTRUSTED.test(reason)) {
      return target.caFile
        ? `the broker's TLS certificate is not trusted: it was not signed by the CA in ST_BROKER_CA_FILE (${target.caFile}); set ST_BROKER_CA_FILE / --ca-file to the PEM of the CA that signed the broker's certificate`
        : "the broker's TLS certificate is not trusted: set ST_BROKER_CA_FILE / --ca-file to the PEM of the CA that signed the broker's certificate";
    }
    if (/certificate has expired|certificate is not yet valid/i.test(reason)) {
      return "the broker's TLS certificate is outside its validity period: renew it on the broker (ST_TLS_CERT_FILE), or check this host's clock";
    }
    if (/does not match certificate's altnames|Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID/i.test(reason)) {
      return `the broker's TLS certificate does not name ${target.host}: dial the broker by a name its certificate lists (ST_BROKER_URL), or reissue the certificate with ${target.host} as a subject alternative name`;
    }
    if (/wrong version number|packet length too long|unknown protocol|http request/i.test(reason)) {
      return 'the broker does not speak TLS on this port: use an http:// broker URL (ST_BROKER_URL), or enable TLS on the broker (ST_TLS_CERT_FILE and ST_TLS_KEY_FILE)';
    }
  } else if (/Failed to connect \(|Protocol error|Connection closed before starting HTTP\/2/i.test(reason)) {
    return 'the broker closed the plaintext connection at once: if its port uses TLS, use an https:// broker URL (ST_BROKER_URL) and ST_BROKER_CA_FILE';
  }
  return undefined;
}
