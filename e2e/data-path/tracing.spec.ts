import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ManagedProcess,
  type MockModel,
  OtlpReceiver,
  REPO_ROOT,
  type ReceivedSpan,
  type Stack,
  cleanupAll,
  demoInit,
  mockTraceHeaders,
  startAgent,
  startMockModel,
  startServer,
  startStack,
  waitForTunnel,
  waitUntil,
} from '@st/testing';
import { MODEL, openai, readChatStream, userMessage } from './support';

// Issue 10, part 3: a W3C traceparent crosses gateway, broker and agent to the model server, and
// with OTEL_EXPORTER_OTLP_ENDPOINT every hop exports its span over OTLP/HTTP JSON to a receiver
// in this process. Gateway and broker run apart here, so the trace also crosses RelayService.
// A second stack without the variables exports nothing and passes the caller's traceparent on.

let receiver: OtlpReceiver;
let mock: MockModel;
let gateway: ManagedProcess;
let brokerProcess: ManagedProcess;
let tracedBaseURL: string;
let tracedKey: string;
let plain: Stack;

/** Makes st-server say, on SIGUSR2, how many OpenTelemetry modules it loaded. */
const REPORT_OTEL_MODULES = join(REPO_ROOT, 'e2e', 'fixtures', 'report-otel-modules.cjs');

const SPAN_SERVER = 2;
const SPAN_CLIENT = 3;

beforeAll(async () => {
  receiver = await OtlpReceiver.start();
  // Spans leave every 100 ms instead of every 5 s, so the test waits on them briefly.
  const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: 100 };
  mock = await startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 });
  const broker = await startServer({ ST_ROLE: 'broker', NODE_OPTIONS: `--require ${REPORT_OTEL_MODULES}`, ...otel });
  brokerProcess = broker.process;
  const gatewayServer = await startServer({ ST_ROLE: 'gateway', ST_DATA_DIR: broker.dataDir, ST_BROKER_ADDRESS: `127.0.0.1:${broker.grpcPort}`, ST_LOG_LEVEL: 'debug', ...otel });
  gateway = gatewayServer.process;
  const demo = await demoInit(broker.dataDir);
  await startAgent({ ST_BROKER_URL: `http://127.0.0.1:${broker.grpcPort}`, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: mock.url, ...otel });
  tracedKey = demo.apiKey;
  tracedBaseURL = `${gatewayServer.publicUrl}/t/${demo.tunnelId}/v1`;
  await waitForTunnel(tracedBaseURL, tracedKey);
  // The stack without tracing: none of the OTEL_* variables (the harness strips the runner's).
  plain = await startStack({ serverEnv: { NODE_OPTIONS: `--require ${REPORT_OTEL_MODULES}` } });
});

afterAll(async () => {
  await cleanupAll();
  await receiver?.close();
});

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** One streamed chat answer through `baseURL`, read to its end. */
async function chat(baseURL: string, apiKey: string, headers: Record<string, string>): Promise<void> {
  const stream = await openai(baseURL, apiKey).chat.completions.create({ model: MODEL, messages: userMessage('trace me'), max_tokens: 5, stream: true }, { headers });
  const { content } = await readChatStream(stream);
  expect(content).toMatch(/^( \w+){5}$/);
}

/** The traceparent and tracestate the model server saw for the request with this x-request-id. */
async function receivedBy(mockUrl: string, requestId: string): Promise<{ traceparent: string | null; tracestate: string | null }> {
  const entry = (await mockTraceHeaders(mockUrl)).find((e) => e.requestId === requestId);
  expect(entry, `the mock's record of ${requestId}`).toBeDefined();
  return { traceparent: entry!.traceparent, tracestate: entry!.tracestate };
}

/** Waits for the four spans of one exchange (gateway, broker, agent, upstream call) and returns them by hop. */
async function hopsOf(traceId: string): Promise<Record<'gateway' | 'broker' | 'agent' | 'upstream', ReceivedSpan>> {
  const find = () => {
    const spans = receiver.trace(traceId);
    return {
      gateway: spans.find((s) => s.service === 'st-gateway' && s.kind === SPAN_SERVER),
      broker: spans.find((s) => s.service === 'st-broker' && s.name === 'broker exchange'),
      agent: spans.find((s) => s.service === 'st-agent' && s.name === 'agent exchange'),
      upstream: spans.find((s) => s.service === 'st-agent' && s.kind === SPAN_CLIENT),
    };
  };
  await waitUntil(`the spans of trace ${traceId} from every hop`, () => Promise.resolve(Object.values(find()).every(Boolean)), 15_000).catch((err: Error) => {
    const got = receiver.spans.map((s) => `${s.service} ${s.name} ${s.traceId}`).join('; ');
    throw new Error(`${err.message}; the receiver had ${receiver.requests} exports: ${got || 'no spans'}`);
  });
  return find() as Record<'gateway' | 'broker' | 'agent' | 'upstream', ReceivedSpan>;
}

describe('tracing with an OTLP endpoint', () => {
  it("continues the caller's trace on every hop, as one parent chain down to the model server", async () => {
    const traceId = hex(16);
    const clientSpan = hex(8);
    const requestId = `r-trace-${hex(4)}`;
    await chat(tracedBaseURL, tracedKey, { traceparent: `00-${traceId}-${clientSpan}-01`, tracestate: 'vendor=abc', 'x-request-id': requestId });

    const hops = await hopsOf(traceId);
    expect(hops.gateway.parentSpanId).toBe(clientSpan);
    expect(hops.gateway.name).toBe('POST /t/{tunnel}/v1/chat/completions');
    expect(hops.gateway.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.response.status_code': 200, 'st.request_id': requestId });
    expect(hops.broker.parentSpanId).toBe(hops.gateway.spanId);
    expect(hops.agent.parentSpanId).toBe(hops.broker.spanId);
    expect(hops.upstream.parentSpanId).toBe(hops.agent.spanId);
    expect(hops.upstream.attributes['http.response.status_code']).toBe(200);
    expect(Object.values(hops).map((s) => s.statusCode)).toEqual([0, 0, 0, 0]);

    // The model server is a child of the upstream call; the caller's tracestate travels as it came.
    expect(await receivedBy(mock.url, requestId)).toEqual({ traceparent: `00-${traceId}-${hops.upstream.spanId}-01`, tracestate: 'vendor=abc' });
    // The gateway's request log line names the trace (its debug line, as ST_LOG_LEVEL=debug here).
    const [line] = await gateway.waitForLine(new RegExp(`^\\{.*"requestId":"${requestId}".*"msg":"exchange done".*\\}$`));
    expect(JSON.parse(line)).toMatchObject({ requestId, trace_id: traceId, status: 200 });
    // With an endpoint the SDK is loaded (the check the stack without one relies on sees it).
    process.kill(brokerProcess.pid, 'SIGUSR2');
    const [, loaded] = await brokerProcess.waitForLine(/^opentelemetry modules loaded: (\d+)$/, { stream: 'stderr' });
    expect(Number(loaded)).toBeGreaterThan(0);
  });

  it('starts a trace at the gateway when the caller sent none, or an invalid one (and then drops its tracestate)', async () => {
    const cases: Record<string, string>[] = [{}, { traceparent: `ff-${hex(16)}-${hex(8)}-01`, tracestate: 'vendor=stale' }, { traceparent: `00-${'0'.repeat(32)}-${hex(8)}-01` }];
    for (const headers of cases) {
      const requestId = `r-new-${hex(4)}`;
      await chat(tracedBaseURL, tracedKey, { ...headers, 'x-request-id': requestId });
      const seen = await receivedBy(mock.url, requestId);
      const traceId = /^00-([0-9a-f]{32})-[0-9a-f]{16}-01$/.exec(seen.traceparent ?? '')?.[1];
      expect(traceId, seen.traceparent ?? 'no traceparent').toBeDefined();
      expect(seen.traceparent).not.toContain(headers.traceparent?.slice(3, 35) ?? 'none');
      expect(seen.tracestate).toBeNull();
      const hops = await hopsOf(traceId!);
      expect(hops.gateway.parentSpanId).toBe('');
      expect(seen.traceparent).toBe(`00-${traceId}-${hops.upstream.spanId}-01`);
    }
  });
});

describe('tracing without an OTLP endpoint', () => {
  it("makes no spans and passes the caller's traceparent and tracestate to the model server untouched", async () => {
    const traceId = hex(16);
    const traceparent = `00-${traceId}-${hex(8)}-01`;
    const requestId = `r-plain-${hex(4)}`;
    await chat(plain.baseURL, plain.apiKey, { traceparent, tracestate: 'vendor=xyz', 'x-request-id': requestId });
    expect(await receivedBy(plain.mockUrl, requestId)).toEqual({ traceparent, tracestate: 'vendor=xyz' });
    // A traced request after it: once its spans are in, anything the untraced stack had sent
    // would be too (no process of that stack knows the receiver's address anyway).
    const later = hex(16);
    await chat(tracedBaseURL, tracedKey, { traceparent: `00-${later}-${hex(8)}-01` });
    await hopsOf(later);
    expect(receiver.trace(traceId)).toEqual([]);
    expect(receiver.spans.filter((s) => s.service === 'st-server')).toEqual([]);
    expect(plain.server.process.lines.some((l) => l.text.includes('tracing on'))).toBe(false);
    // Not even loaded: the SDK stays on disk while no endpoint is configured.
    process.kill(plain.server.process.pid, 'SIGUSR2');
    const [, loaded] = await plain.server.process.waitForLine(/^opentelemetry modules loaded: (\d+)$/, { stream: 'stderr' });
    expect(Number(loaded)).toBe(0);
    expect(plain.agent.lines.some((l) => l.text.includes('tracing on'))).toBe(false);
  });
});
