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
  if (!/^[A-Za-z0-9.:_-]{1,253}$/.test(host)) throw invalid(`remote host ${JSON.stringify(host)} is not valid: give a host name or an IP address`);
  return host;
}
