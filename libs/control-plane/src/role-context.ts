import type { AuthDeps } from '@st/auth';
import type { Logger } from '@st/logging';
import type { MetricsRegistry } from '@st/metrics';
import type { Store } from '@st/store';
import type { LiveState } from './live-state-wiring';
import type { SecretBox } from './secret-box';
import type { ServerConfig } from './server-config';

/** What every role of one process shares: its settings, store, secrets and live state. */
export interface RoleContext {
  config: ServerConfig;
  store: Store;
  auth: AuthDeps;
  secrets: SecretBox;
  serviceToken: string;
  live: LiveState;
  logger: Logger;
  /** The process's metrics when ST_METRICS_PORT is set; the roles add theirs to it. */
  metrics?: MetricsRegistry;
  /** Known once the HTTP port is bound when ST_PUBLIC_URL is unset. */
  readonly publicUrl: string;
}
