import type { ManagedProcess } from './managed-process';
import { type PrometheusText, parsePrometheusText } from './prometheus-text';

/** GET a /metrics URL, check its content type and parse it strictly. */
export async function scrapeMetrics(url: string): Promise<PrometheusText> {
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text.slice(0, 300)}`);
  const type = res.headers.get('content-type') ?? '';
  if (!/^text\/plain; version=0\.0\.4/.test(type)) throw new Error(`GET ${url}: content-type ${type}, not the Prometheus text format`);
  return parsePrometheusText(text);
}

/** The /metrics URL a process logged ("metrics listening"), waiting for the line. */
export async function metricsUrlOf(proc: ManagedProcess, timeoutMs = 15_000): Promise<string> {
  const [, url] = await proc.waitForLine(/"url":"([^"]+\/metrics)".*"msg":"metrics listening"/, { timeoutMs });
  return url;
}
