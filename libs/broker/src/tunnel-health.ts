import type { HealthReport } from '@st/proto';

/** The model server's health as the tunnel's agent last reported it. */
export interface TunnelHealth {
  healthy: boolean;
  models: string[];
  error: string;
  /** When the broker received the report (the agent probes just before sending). */
  checkedAt: Date;
}

export function healthFromReport(report: HealthReport, now = new Date()): TunnelHealth {
  return { healthy: report.healthy, models: [...report.models], error: report.error, checkedAt: now };
}

/** True when a report says what the previous one said (verdict, error, models): no change worth pushing. */
export function sameHealth(a: TunnelHealth | undefined, b: TunnelHealth): boolean {
  return a !== undefined && a.healthy === b.healthy && a.error === b.error && a.models.join('\n') === b.models.join('\n');
}
