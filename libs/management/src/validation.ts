import { isIPv6 } from 'node:net';
import { invalid } from './grpc-unary';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Names of users, sessions and tunnels: they appear in URLs and in the unified model ids. */
export function checkName(what: string, name: string): string {
  if (!NAME.test(name)) {
    throw invalid(`${what} name ${JSON.stringify(name)} is not valid: use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  return name;
}

export function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`remote port ${port} is not valid: use 1 to 65535`);
  return port;
}

export function checkHost(host: string): string {
  // A colon is only valid in an IPv6 literal; "10.0.0.5:8000" is a port typed into the host.
  const ok = host.includes(':') ? isIPv6(host) : /^[A-Za-z0-9._-]{1,253}$/.test(host);
  if (!ok) throw invalid(`remote host ${JSON.stringify(host)} is not valid: give a host name or an IP address (the port goes in --port)`);
  return host;
}
