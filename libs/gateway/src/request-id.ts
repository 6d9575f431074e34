import { randomUUID } from 'node:crypto';

/** A caller's x-request-id is honoured when it is a sane token; otherwise one is made. */
export function requestIdOf(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  if (value && value.length <= 128 && /^[\w.:@/+=-]+$/.test(value)) return value;
  return randomUUID();
}
