import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@st/logging';
import { createOtelTracer } from './otel-tracer';
import { parseTraceparent } from './trace-context';

const CLIENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

function tracer() {
  const exporter = new InMemorySpanExporter();
  const t = createOtelTracer({ serviceName: 'st-test', endpoint: 'http://unused' }, silentLogger(), exporter);
  return { t, spans: async (): Promise<ReadableSpan[]> => (await t.flush(), exporter.getFinishedSpans()) };
}

describe('createOtelTracer', () => {
  it("makes child spans of the caller's traceparent, and each span's traceparent names it as the parent", async () => {
    const { t, spans } = tracer();
    const server = t.start('gateway', 'server', parseTraceparent(CLIENT), { 'st.request_id': 'r-1' });
    expect(server.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    const client = t.start('upstream', 'client', parseTraceparent(server.traceparent));
    client.end();
    server.end('boom');
    server.end(); // once only
    const [c, s] = await spans();
    expect(s.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(s.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(c.parentSpanContext?.spanId).toBe(s.spanContext().spanId);
    expect(client.traceparent).toBe(`00-${c.spanContext().traceId}-${c.spanContext().spanId}-01`);
    expect(s.attributes['st.request_id']).toBe('r-1');
    expect(s.status).toMatchObject({ code: 2, message: 'boom' });
    expect(s.resource.attributes['service.name']).toBe('st-test');
    await t.shutdown();
  });

  it('starts a new trace without a parent, and keeps an unsampled caller unsampled', async () => {
    const { t, spans } = tracer();
    const root = t.start('gateway', 'server', undefined);
    expect(parseTraceparent(root.traceparent)).toMatchObject({ traceId: root.traceId, sampled: true });
    root.end();
    const unsampled = t.start('gateway', 'server', parseTraceparent(CLIENT.replace(/01$/, '00')));
    expect(unsampled.traceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-00$/);
    unsampled.end();
    expect((await spans()).map((s) => s.spanContext().traceId)).toEqual([root.traceId]);
    await t.shutdown();
  });
});
