import { randomBytes } from 'node:crypto';

/**
 * A fresh id for this st-agent process (16 hex characters), sent in every Register: with the
 * connection epoch it lets a broker tell this process's newer stream from an older one of it.
 */
export function newAgentInstanceId(): string {
  return randomBytes(8).toString('hex');
}
