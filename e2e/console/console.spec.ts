import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, cleanupAll, rawRequest, runStctl, startServer, startStack, stctlJson, waitForTunnel } from '@st/testing';
import { PageRecord, chromiumMissing, launchChromium, screenshot } from './browser';

/**
 * The web console in a real browser (Debian's chromium driven by playwright-core) against real
 * processes on 127.0.0.1: st-server serving the console, st-agent, the mock model. The steps run
 * in order on one open page, as a person would use it: sign in, chat, stop, the session stopped
 * under the page, the error, usage, sign out.
 */

const missing = chromiumMissing();
if (missing && process.env.ST_REQUIRE_CHROMIUM === '1') throw new Error(`the browser test must run (ST_REQUIRE_CHROMIUM=1): ${missing}`);

const MODEL = 'mock-llama-3-8b';
/** Long enough answers (100 tokens, 50 ms apart: 5 s) that a person can press Stop in the middle. */
const MOCK_ENV = { ST_MOCK_TOKEN_DELAY_MS: 50, ST_MOCK_MAX_TOKENS: 100 };
const STEP_TIMEOUT_MS = 120_000;
/** How long a condition may take to show on the page (a loaded CI machine is slow, not broken). */
const SHOW_MS = 30_000;

let stack: Stack;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let record: PageRecord;
let sessionId: string;

/** Records, in the page, each distinct text of the newest answer while it streams. */
const OBSERVE_ANSWER = `(() => {
  const log = document.querySelector('[role=log]');
  window.__snapshots = [];
  new MutationObserver(() => {
    const answers = log.querySelectorAll('article[data-role=assistant]');
    const last = answers[answers.length - 1];
    if (!last) return;
    const text = last.querySelector('.text').textContent;
    const seen = window.__snapshots;
    if (seen[seen.length - 1] !== text) seen.push(text);
  }).observe(log, { subtree: true, childList: true, characterData: true });
})()`;

const providerBox = () => page.getByRole('combobox', { name: 'Provider' });
const selectedProvider = () => providerBox().locator('option:checked').textContent();
const lastAnswer = () => page.locator('article[data-role=assistant]').last();

describe.skipIf(missing !== undefined)('web console in chromium', () => {
  beforeAll(async () => {
    stack = await startStack({ mockEnv: MOCK_ENV });
    const grpc = `127.0.0.1:${stack.grpcPort}`;
    const listed = await stctlJson<{ providers: { sessionId: string }[] }>(grpc, ['providers', 'list'], { ST_API_KEY: stack.apiKey });
    sessionId = listed.providers[0].sessionId;
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    page = await context.newPage();
    record = new PageRecord(page);
  }, STEP_TIMEOUT_MS);

  // A failed step leaves a picture of the page beside the others.
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail' && page) await screenshot(page, `failed-${ctx.task.name.replace(/\W+/g, '-').slice(0, 60)}`);
  });

  afterAll(async () => {
    await browser?.close();
    await cleanupAll();
  });

  it('serves the console at / with its security headers; other paths keep the API answers', async () => {
    const response = await page.goto(`${stack.publicUrl}/`);
    expect(response?.status()).toBe(200);
    const headers = response!.headers();
    expect(headers['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['cache-control']).toBe('no-cache');
    expect(headers['content-type']).toBe('text/html; charset=utf-8');
    await page.getByRole('textbox', { name: 'API key' }).waitFor({ timeout: SHOW_MS });

    const unknown = await fetch(`${stack.publicUrl}/console/../etc/passwd`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('unknown_url');
    // Dot segments as sent (fetch would normalise them away): still not the console's.
    const raw = await rawRequest(stack.server.httpPort!, Buffer.from('GET /assets/../../package.json HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'), { waitMs: 5_000 });
    expect(raw.response?.status).toBe(404);
    expect(raw.response?.body.toString()).toContain('unknown_url');
  }, STEP_TIMEOUT_MS);

  it('refuses a wrong key, signs in with the demo key (keyboard only) and shows the demo provider running', async () => {
    const key = page.getByRole('textbox', { name: 'API key' });
    // A wrong key is refused with the gateway's reason, and not kept.
    await key.fill('st_key_not-a-real-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor({ timeout: SHOW_MS });
    expect(await page.getByRole('alert').textContent()).toContain('the API key is not valid');
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    await key.fill('');
    await key.focus();
    await page.keyboard.type(stack.apiKey);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: SHOW_MS });
    await expect.poll(selectedProvider, { timeout: SHOW_MS }).toBe('demo (running)');
    await expect.poll(() => page.getByRole('combobox', { name: 'Model' }).inputValue(), { timeout: SHOW_MS }).toBe(MODEL);
    // The key is in the tab's storage only: not in the URL, not in a cookie.
    expect(await page.evaluate("sessionStorage.getItem('st-console.apiKey')")).toBe(stack.apiKey);
    expect(page.url()).not.toContain(stack.apiKey);
    expect(await context.cookies()).toEqual([]);
  }, STEP_TIMEOUT_MS);

  it('streams an answer token by token and renders it', async () => {
    await page.evaluate(OBSERVE_ANSWER);
    const message = page.getByRole('textbox', { name: 'Message' });
    // Shift+Enter is a new line, not a send.
    await message.fill('line one');
    await message.press('Shift+Enter');
    await page.keyboard.type('line two');
    expect(await message.inputValue()).toBe('line one\nline two');
    expect(await page.locator('article').count()).toBe(0);
    await message.fill('Hello');
    await message.press('Enter');
    await page.locator('article[data-role=assistant][data-status=done]').waitFor({ timeout: SHOW_MS });
    const snapshots = (await page.evaluate('window.__snapshots')) as string[];
    // The answer grew in several steps before it was complete: it streamed.
    expect(snapshots.filter((s) => s !== '').length).toBeGreaterThan(5);
    const expected = await mockAnswer([{ role: 'user', content: 'Hello' }]);
    const shown = await lastAnswer().locator('.text p').textContent();
    expect(squash(shown ?? '')).toBe(squash(expected));
    expect(snapshots.every((s) => squash(expected).startsWith(squash(s)))).toBe(true);
    const log = page.getByRole('log', { name: 'Conversation' });
    await expect.poll(() => log.textContent()).toContain('Hello');
    await screenshot(page, 'console-answer');
  }, STEP_TIMEOUT_MS);

  it('Stop cancels a long answer, and the model server sees it aborted', async () => {
    const before = await stack.mock.stats();
    await page.getByRole('textbox', { name: 'Message' }).fill('Tell me a long story');
    await page.getByRole('button', { name: 'Send' }).click();
    // Some words have arrived: the answer is under way.
    await expect.poll(async () => squash((await lastAnswer().locator('.text').textContent()) ?? '').split(' ').length, { timeout: SHOW_MS }).toBeGreaterThan(4);
    await page.getByRole('button', { name: 'Stop' }).click();
    await page.locator('article[data-role=assistant][data-status=stopped]').waitFor({ timeout: SHOW_MS });
    await expect.poll(async () => (await stack.mock.stats()).aborted, { timeout: SHOW_MS }).toBe(before.aborted + 1);
    expect((await stack.mock.stats()).completed).toBe(before.completed);
    await screenshot(page, 'console-stopped');
  }, STEP_TIMEOUT_MS);

  it('shows the provider stopped, without a reload, when its session is stopped with stctl', async () => {
    // A marker that a reload would wipe.
    await page.evaluate('window.__sameDocument = true');
    const stop = await runStctl(`127.0.0.1:${stack.grpcPort}`, ['sessions', 'stop', sessionId], { ST_API_KEY: stack.apiKey });
    expect(stop.code, stop.stderr).toBe(0);
    await expect.poll(selectedProvider, { timeout: SHOW_MS }).toBe('demo (stopped)');
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
  }, STEP_TIMEOUT_MS);

  it("shows the gateway's error message as an alert for a chat to the stopped provider", async () => {
    await page.getByRole('textbox', { name: 'Message' }).fill('Are you there?');
    await page.getByRole('button', { name: 'Send' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: SHOW_MS });
    expect(await alert.textContent()).toMatch(/is stopped: restart the session and its tunnel$/);
    await screenshot(page, 'console-stopped-provider');
  }, STEP_TIMEOUT_MS);

  it('shows providers that start, or appear, without a reload', async () => {
    const grpc = `127.0.0.1:${stack.grpcPort}`;
    const restart = await runStctl(grpc, ['sessions', 'restart', sessionId], { ST_API_KEY: stack.apiKey });
    expect(restart.code, restart.stderr).toBe(0);
    // The agent retries about once a second while refused: it reconnects by itself.
    await expect.poll(selectedProvider, { timeout: SHOW_MS }).toBe('demo (running)');
    // A new provider whose agent has not connected: it appears, waiting.
    const created = await runStctl(grpc, ['tunnels', 'create', '--session', sessionId, '--name', 'beta', '--port', '9', '--openai'], { ST_API_KEY: stack.apiKey });
    expect(created.code, created.stderr).toBe(0);
    await expect.poll(() => providerBox().locator('option').allTextContents(), { timeout: SHOW_MS }).toEqual(['beta (waiting)', 'demo (running)']);
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
  }, STEP_TIMEOUT_MS);

  it('watches again after the gateway restarts: later changes still show without a reload', async () => {
    const old = stack.server;
    await old.process.stop('SIGTERM', 5_000);
    // Same ports and data directory: the page's origin and the demo key stay valid.
    stack.server = await startServer({ ...old.env, ST_HTTP_PORT: old.httpPort, ST_GRPC_PORT: old.grpcPort });
    await waitForTunnel(stack.baseURL, stack.apiKey, SHOW_MS);
    await expect.poll(selectedProvider, { timeout: SHOW_MS }).toBe('demo (running)');
    // A change after the restart can only reach the page through a new watch.
    const stop = await runStctl(`127.0.0.1:${stack.grpcPort}`, ['sessions', 'stop', sessionId], { ST_API_KEY: stack.apiKey });
    expect(stop.code, stop.stderr).toBe(0);
    await expect.poll(selectedProvider, { timeout: SHOW_MS }).toBe('demo (stopped)');
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
  }, STEP_TIMEOUT_MS);

  it('shows the usage view with the server answer (or its error)', async () => {
    await page.getByRole('link', { name: 'Usage' }).click();
    const view = page.locator('section.usage');
    await expect.poll(() => view.getAttribute('data-state'), { timeout: SHOW_MS }).not.toBe('loading');
    const state = await view.getAttribute('data-state');
    await page.getByRole('heading', { name: 'Usage' }).waitFor();
    if (state === 'loaded') {
      // The demo user's chats above: one row for the demo tunnel and the mock's model.
      await page.getByRole('table').waitFor();
      expect(await page.getByRole('table').textContent()).toContain(MODEL);
    } else {
      // No UsageService on this server yet: the view says so instead of failing.
      expect(['unavailable', 'error']).toContain(state);
      expect((await view.textContent())!.length).toBeGreaterThan('Usage'.length);
    }
    await screenshot(page, 'console-usage');
    await page.getByRole('link', { name: 'Chat' }).click();
    await page.getByRole('log', { name: 'Conversation' }).waitFor();
    // The conversation stayed in the tab, across a reload too (still signed in).
    expect(await page.getByRole('log', { name: 'Conversation' }).textContent()).toContain('Tell me a long story');
    await page.reload();
    await page.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: SHOW_MS });
    await expect.poll(() => page.getByRole('log', { name: 'Conversation' }).textContent(), { timeout: SHOW_MS }).toContain('Tell me a long story');
  }, STEP_TIMEOUT_MS);

  it('signs out: the key and the conversation are gone from the tab', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('textbox', { name: 'API key' }).waitFor({ timeout: SHOW_MS });
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    // After a reload too: nothing signs the tab back in.
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: SHOW_MS });
    expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
  }, STEP_TIMEOUT_MS);

  it('made no request but to the gateway, and broke no CSP rule', () => {
    const origin = new URL(stack.publicUrl).origin;
    const elsewhere = record.requests.filter((url) => new URL(url).origin !== origin);
    expect(elsewhere).toEqual([]);
    expect(record.cspViolations).toEqual([]);
    expect(record.pageErrors).toEqual([]);
  });
});

/** The mock's whole answer to `messages`, asked directly (same seed: same words). */
async function mockAnswer(messages: { role: string; content: string }[]): Promise<string> {
  const res = await fetch(`${stack.mockUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mock-token-delay-ms': '0' },
    body: JSON.stringify({ model: MODEL, messages }),
  });
  const body = (await res.json()) as { choices: { message: { content: string } }[] };
  return body.choices[0].message.content;
}

function squash(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
