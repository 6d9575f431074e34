import type { AuthDeps } from '@st/auth';
import type { TunnelRuntime } from '@st/live-state';
import type { ChangeFeed } from '@st/events';
import type { Logger } from '@st/logging';
import type { Store } from '@st/store';

/** What the management services need; the control plane wires them. */
export interface ManagementDeps {
  store: Store;
  auth: AuthDeps;
  runtime: TunnelRuntime;
  feed: ChangeFeed;
  /** Encrypts a tunnel's upstream API key before it is stored. */
  seal(plaintext: string): string;
  publicUrl: string;
  logger: Logger;
}
