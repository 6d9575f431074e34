import { once } from 'node:events';
import { request } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerMetadata } from '@st/grpc-kit';
import { type AgentFrame, ConnectRequest, ConnectResponse } from '@st/proto';
import {
  ControlPlaneApi,
  type MockModel,
  type Server,
  cleanupAll,
  demoInit,
  rssBytes,
  startAgent,
  startMockModel,
  startServer,
  tunnelStatusName,
  waitForTunnel,
  waitUntil,
} from '@st/testing';
import { MODEL, openai, userMessage } from './support';

// Attacks on st-server by a rogue agent: an ordinary user's own tunnel and its real token, and
// a hand-written TunnelService client that does what st-agent never would. Another user's real
// st-agent serves their answers meanwhile, which must keep working (issue 7).

const MB = 1024 * 1024;
const ADMIN_TOKEN = 'abuse-admin-token-0123456789';
/** Generous bound on st-server's growth during an attack (before the fix: 364 MB to 1.5 GB). */
const RSS_BOUND_MB = 150;
/**
 * Longest pause allowed between two chunks of another user's streamed answer during an attack
 * (before the fix one message of pings stalled the server 5–6 s). The chunks come every 10 ms.
 */
const STALL_BOUND_MS = 2_000;

let mock: MockModel;
let server: Server;
let victim: OpenAI;
let direct: OpenAI;
let api: ControlPlaneApi;
let attacker: { apiKey: string; tunnelId: string; agentToken: string; baseURL: string };

beforeAll(async () => {
  [mock, server] = await Promise.all([
    startMockModel({ ST_MOCK_TOKEN_DELAY_MS: 0 }),
    startServer({ ST_ADMIN_TOKEN: ADMIN_TOKEN, ST_FIRST_BYTE_TIMEOUT_MS: 4_000, ST_STREAM_QUEUE_LIMIT: '1m' }),
  ]);
  const demo = await demoInit(server.dataDir);
  await startAgent({ ST_BROKER_URL: `http://127.0.0.1:${server.grpcPort}`, ST_TUNNEL_TOKEN: demo.agentToken, ST_UPSTREAM_URL: mock.url });
  const victimBase = `${server.publicUrl}/t/${demo.tunnelId}/v1`;
  await waitForTunnel(victimBase, demo.apiKey);
  victim = openai(victimBase, demo.apiKey);
  direct = openai(`${mock.url}/v1`, 'not-needed');

  api = new ControlPlaneApi(server.grpcPort!);
  const mallory = await api.as(ADMIN_TOKEN).createUser('mallory');
  const session = await api.as(mallory.apiKey).startSession('rogue-session');
  const created = await api.as(mallory.apiKey).createTunnel({ sessionId: session.id, name: 'rogue', openai: true });
  const tunnelId = created.tunnel!.id;
  attacker = { apiKey: mallory.apiKey, tunnelId, agentToken: created.agentToken, baseURL: `${server.publicUrl}/t/${tunnelId}/v1` };
}, 60_000);

afterAll(async () => {
  api?.close();
  await cleanupAll();
});

// --- the rogue agent ------------------------------------------------------------------------

const encode = (frames: AgentFrame[]) => Buffer.from(ConnectRequest.encode({ frames }).finish());
const REGISTER = encode([
  { frame: { $case: 'register', value: { protocolVersion: 1, agentVersion: 'rogue', capabilities: [], hostname: 'rogue', receiveWindow: 0, upstreamOverride: '', agentInstanceId: '', connectionEpoch: 0 } } },
]);

/** One message of `count` Pings, built by repetition (a repeated field is its elements laid end to end). */
function pingMessage(count: number): Buffer {
  const one = encode([{ frame: { $case: 'ping', value: { nonce: 7 } } }]);
  return Buffer.alloc(one.length * count, one);
}

interface Rogue {
  call: grpc.ClientDuplexStream<Buffer, ConnectResponse>;
  status: Promise<grpc.StatusObject>;
  ended: () => boolean;
  close(): void;
}

/**
 * A TunnelService.Connect call with pre-encoded messages (so that encoding millions of frames
 * does not stall this test process while it measures), authenticated with the attacker's real
 * agent token. It reads nothing unless the caller listens for 'data'.
 */
function connectRogue(): Rogue {
  const Client = grpc.makeGenericClientConstructor({}, 'TunnelService');
  const client = new Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * MB,
    'grpc.max_receive_message_length': 64 * MB,
  });
  const call = client.makeBidiStreamRequest(
    '/sessiontunnel.v1.TunnelService/Connect',
    (b: Buffer) => b,
    (b: Buffer) => ConnectResponse.decode(b),
    bearerMetadata(attacker.agentToken),
  );
  let ended = false;
  const status = new Promise<grpc.StatusObject>((resolve) =>
    call.on('status', (s: grpc.StatusObject) => {
      ended = true;
      resolve(s);
    }),
  );
  call.on('error', () => undefined);
  call.write(REGISTER);
  return {
    call,
    status,
    ended: () => ended,
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

async function rogueIsRoutable(): Promise<void> {
  await waitUntil('the rogue stream to serve the attacker\'s tunnel', async () => tunnelStatusName((await api.as(attacker.apiKey).getTunnel(attacker.tunnelId)).status) === 'running', 10_000);
}

// --- the other tenant -----------------------------------------------------------------------

/** Another user's streamed answer through their own st-agent: complete, correct, and never stalled long. */
async function victimStreams(): Promise<{ maxGapMs: number }> {
  const params = { model: MODEL, messages: userMessage('another tenant, during the attack'), max_tokens: 150 };
  const expected = (await direct.chat.completions.create(params)).choices[0].message.content;
  const stream = await victim.chat.completions.create({ ...params, stream: true }, { headers: { 'x-mock-token-delay-ms': '10' } });
  let content = '';
  let last = performance.now();
  let maxGapMs = 0;
  for await (const chunk of stream) {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    content += chunk.choices[0]?.delta?.content ?? '';
  }
  expect(content).toBe(expected);
  return { maxGapMs };
}

/** A new request of the other user answers normally. */
async function victimAnswers(): Promise<void> {
  const params = { model: MODEL, messages: userMessage('and a new request'), max_tokens: 10 };
  const [got, expected] = await Promise.all([victim.chat.completions.create(params), direct.chat.completions.create(params)]);
  expect(got.choices[0].message.content).toBe(expected.choices[0].message.content);
}

/** Samples st-server's RSS until `done` settles; returns the peak. */
async function peakRssWhile(done: Promise<unknown>): Promise<number> {
  let finished = false;
  void done.finally(() => (finished = true));
  let peak = await rssBytes(server.process.pid);
  while (!finished) {
    peak = Math.max(peak, await rssBytes(server.process.pid));
    await new Promise((r) => setTimeout(r, 50));
  }
  return Math.max(peak, await rssBytes(server.process.pid));
}

/**
 * POSTs `bytes` of body in 64 KiB writes as application/octet-stream (streamed through the
 * tunnel as it arrives, not read whole by the gateway first as JSON bodies are); resolves with
 * the answer, which may come before the body is sent: the writes then stop.
 */
function upload(url: string, apiKey: string, bytes: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/octet-stream' } });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    void (async () => {
      const chunk = Buffer.alloc(64 * 1024, 'x');
      for (let sent = 0; sent < bytes && !answered && !req.destroyed; sent += chunk.length) {
        if (!req.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent)))) await Promise.race([once(req, 'drain'), once(req, 'close')]);
      }
      if (!req.destroyed) req.end();
    })().catch(() => undefined);
  });
}

function serverLogged(pattern: RegExp): boolean {
  return server.process.lines.some((l) => pattern.test(l.text));
}

// --- the attacks ----------------------------------------------------------------------------

describe('a rogue agent', () => {
  it('that sends millions of Pings and never reads is cut with RESOURCE_EXHAUSTED; the broker stays small and others are served', async () => {
    const baseline = await rssBytes(server.process.pid);
    const rogue = connectRogue();
    // Messages of 2,000 Pings (under the broker's frames-per-message limit), as fast as grpc-js takes them.
    const batch = pingMessage(2_000);
    let sent = 0;
    const flood = (async () => {
      while (sent < 3_000_000 && !rogue.ended()) {
        sent += 2_000;
        if (!rogue.call.write(batch)) await Promise.race([once(rogue.call, 'drain'), rogue.status]);
      }
    })();
    const [peak, served] = await Promise.all([peakRssWhile(Promise.all([flood, rogue.status])), victimStreams()]);
    const status = await rogue.status;
    rogue.close();

    expect(status.code, status.details).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toMatch(/too many Ping frames: the broker allows 10 Ping frames per second/);
    expect(serverLogged(/"level":40.*over the limit of 10 Ping frames per second/)).toBe(true);
    expect((peak - baseline) / MB, `st-server grew from ${baseline / MB} MB to ${peak / MB} MB`).toBeLessThan(RSS_BOUND_MB);
    expect(served.maxGapMs).toBeLessThan(STALL_BOUND_MS);
    await victimAnswers();
  });

  it('that sends one 16 MB message of 2.7 M Pings does not stall the server, nor does one just under the message limit', async () => {
    for (const count of [2_700_000, 290_000]) {
      const message = pingMessage(count);
      const rogue = connectRogue();
      const streaming = victimStreams();
      await new Promise((r) => setTimeout(r, 200)); // the answer is under way
      rogue.call.write(message);
      const [status, served] = await Promise.all([rogue.status, streaming]);
      rogue.close();
      expect(status.code, `${message.length} bytes: ${status.details}`).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(served.maxGapMs, `${message.length} bytes of pings`).toBeLessThan(STALL_BOUND_MS);
      await victimAnswers();
    }
  });

  it('that grants itself 4 GiB of request-body credit and stops reading gets its requests cut; the broker does not hold the uploads', async () => {
    const rogue = connectRogue();
    await rogueIsRoutable();
    // On each Open: grant (almost) 4 GiB of credit for it, then stop reading until the next upload.
    const opened: number[] = [];
    rogue.call.on('data', (m: ConnectResponse) => {
      for (const f of m.frames) {
        if (f.frame?.$case !== 'open') continue;
        opened.push(f.frame.value.exchangeId);
        rogue.call.write(encode([{ frame: { $case: 'credit', value: { exchangeId: f.frame.value.exchangeId, bytes: 0xffffffff } } }]));
        rogue.call.pause();
      }
    });
    const baseline = await rssBytes(server.process.pid);
    const uploads = (async () => {
      const answers: { status: number; body: string }[] = [];
      for (let i = 0; i < 5; i++) {
        rogue.call.resume();
        answers.push(await upload(`${attacker.baseURL}/audio/transcriptions`, attacker.apiKey, 20 * MB));
      }
      return answers;
    })();
    const [peak, served, answers] = await Promise.all([peakRssWhile(uploads), victimStreams(), uploads]);
    rogue.close();

    expect(opened.length).toBe(5);
    for (const answer of answers) {
      expect(answer.status, answer.body).toBe(502);
      const error = (JSON.parse(answer.body) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('tunnel_protocol_error');
      expect(error.message).toMatch(/more than its announced window/);
    }
    expect((peak - baseline) / MB, `st-server grew from ${baseline / MB} MB to ${peak / MB} MB`).toBeLessThan(RSS_BOUND_MB);
    expect(served.maxGapMs).toBeLessThan(STALL_BOUND_MS);
    await victimAnswers();
  });

  it('that reads nothing while requests pile up towards it is cut at ST_STREAM_QUEUE_LIMIT, and its callers get a clear 502 or error event', async () => {
    const rogue = connectRogue();
    await rogueIsRoutable();
    // It starts one event stream (head and a first event), then reads nothing more.
    rogue.call.on('data', (m: ConnectResponse) => {
      const open = m.frames.find((f) => f.frame?.$case === 'open');
      if (open?.frame?.$case !== 'open') return;
      const body = Buffer.from('data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n');
      const headers = [{ name: 'content-type', value: 'text/event-stream' }];
      rogue.call.write(encode([{ frame: { $case: 'head', value: { exchangeId: open.frame.value.exchangeId, status: 200, headers, body, end: false } } }]));
      rogue.call.pause();
    });
    const res = await fetch(`${attacker.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${attacker.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: userMessage('stream'), stream: true }),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let events = new TextDecoder().decode((await reader.read()).value);
    expect(events).toMatch(/^data: \{"choices"/);
    const rest = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        events += new TextDecoder().decode(value);
      }
    })();
    const baseline = await rssBytes(server.process.pid);
    // Five 20 MB uploads at once: each may put its Open and one window on the stream (~320 KB), so
    // together they pass the 1 MiB limit this server runs with.
    const uploads = Promise.all(Array.from({ length: 5 }, () => upload(`${attacker.baseURL}/audio/transcriptions`, attacker.apiKey, 20 * MB)));
    const [peak, served, answers, status] = await Promise.all([peakRssWhile(uploads), victimStreams(), uploads, rogue.status]);
    rogue.close();

    expect(status.code, status.details).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(serverLogged(/"level":40.*over ST_STREAM_QUEUE_LIMIT \(1 MiB/)).toBe(true);
    // Requests on the stream when it was cut fail with the reason; any that came after it find
    // the tunnel without an agent, until the (real) agent reconnects.
    const errors = answers.map((a) => ({ status: a.status, ...(JSON.parse(a.body) as { error: { code: string; message: string } }).error }));
    const cut = errors.filter((e) => e.status === 502);
    expect(cut.length, JSON.stringify(errors)).toBeGreaterThan(0);
    for (const e of cut) {
      expect(e.code).toBe('upstream_reset');
      expect(e.message).toMatch(/stopped reading its stream .*ST_STREAM_QUEUE_LIMIT/);
    }
    for (const e of errors.filter((x) => x.status !== 502)) expect([e.status, e.code], JSON.stringify(e)).toEqual([503, 'tunnel_not_connected']);
    // The event stream that had started ends with an error event, not a clean end.
    await rest;
    const last = JSON.parse(events.trim().split('\n\n').at(-1)!.replace(/^data: /, '')) as { error: { code: string; message: string } };
    expect(last.error.code).toBe('upstream_reset');
    expect(last.error.message).toMatch(/stopped reading its stream .*ST_STREAM_QUEUE_LIMIT/);
    expect(events).not.toMatch(/\[DONE\]/);
    expect((peak - baseline) / MB, `st-server grew from ${baseline / MB} MB to ${peak / MB} MB`).toBeLessThan(RSS_BOUND_MB);
    expect(served.maxGapMs).toBeLessThan(STALL_BOUND_MS);
    await victimAnswers();
  });
});
