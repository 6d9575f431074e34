import type { ServerResponse } from 'node:http';
import { ControlPlaneApi, type HttpRecorder, type RecordedRequest, type Stack, startAgent, startHttpRecorder, waitForTunnel } from '@st/testing';

/** An address that must never be asked for (TEST-NET-2): the page may not load what an answer points at. */
export const ELSEWHERE = 'http://198.51.100.7';
export const MARKDOWN_MODEL = 'markdown-model';

/**
 * An answer with Markdown to render and HTML, images and a javascript: link that must not come
 * alive: what a model may well write, and what a console must show safely.
 */
export const MARKDOWN_ANSWER = [
  'Here is **bold** and `code`.\n\n',
  '- one\n- two\n\n',
  '<img src="' + ELSEWHERE + '/raw.png" onerror="window.__pwned = 1"> <script>window.__pwned = 2</script>\n\n',
  '![a chart](' + ELSEWHERE + '/chart.png)\n\n',
  '[click me](javascript:window.__pwned=3) and [the docs](https://example.com/docs)\n',
];

/** An OpenAI-shaped model server that streams {@link MARKDOWN_ANSWER}, one piece per chunk. */
function answer(req: RecordedRequest, res: ServerResponse): void {
  if (req.method === 'GET' && req.url.startsWith('/v1/models')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data: [{ id: MARKDOWN_MODEL, object: 'model', created: 0, owned_by: 'test' }] }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const chunk = (delta: object, finish: string | null) =>
    `data: ${JSON.stringify({ id: 'md-1', object: 'chat.completion.chunk', created: 0, model: MARKDOWN_MODEL, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  res.write(chunk({ role: 'assistant', content: '' }, null));
  for (const piece of MARKDOWN_ANSWER) res.write(chunk({ content: piece }, null));
  res.write(chunk({}, 'stop'));
  res.end('data: [DONE]\n\n');
}

/** A second session of the demo user with a tunnel `markdown` to that server, its agent connected. */
export async function startMarkdownProvider(stack: Stack): Promise<{ server: HttpRecorder; api: ControlPlaneApi }> {
  const server = await startHttpRecorder(answer);
  const api = new ControlPlaneApi(stack.grpcPort);
  const demo = api.as(stack.apiKey);
  const session = await demo.startSession('markdown-session');
  const tunnel = await demo.createTunnel({ sessionId: session.id, name: 'markdown', remoteHost: '127.0.0.1', remotePort: server.port, openai: true });
  await startAgent({ ST_BROKER_URL: stack.brokerUrl, ST_TUNNEL_TOKEN: tunnel.agentToken, ST_UPSTREAM_URL: server.url });
  await waitForTunnel(`${stack.publicUrl}/t/${tunnel.tunnel!.id}/v1`, stack.apiKey);
  return { server, api };
}
