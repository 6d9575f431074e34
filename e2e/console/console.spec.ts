import { randomBytes } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, cleanupAll, rawRequest, runStctl, startServer, startStack, stctlJson, waitForTunnel } from '@st/testing';
import { ARTIFACTS, type ChatBody, PageRecord, README_SHOT, chromiumMissing, hasFocus, launchChromium, screenshot, tabTo } from './browser';
import { consoleControls } from './console-controls';
import { ELSEWHERE, startMarkdownProvider } from './markdown-model';
import { type SentChat, expectedUsage, parseUsageTable } from './mock-usage';
import { OBSERVE_ANSWER, type OtherUser, mockAnswer, squash, startOtherUser, waitForUsage } from './support';

/**
 * The web console in a real browser (Debian's chromium driven by playwright-core) against real
 * processes on 127.0.0.1: st-server serving the console, st-agent, the mock model. The steps run
 * in order on one open page, as a person would use it: sign in, chat, stop, the Usage view while
 * an answer streams, usage adding up, the session stopped under the page, the error, Markdown
 * rendered safely, sign out.
 * What a keyboard user does is done with the keyboard alone (Tab, Enter, Space, arrows), and
 * controls are found by role and exact accessible name: the names issue 10 lists.
 */

const missing = chromiumMissing();
if (missing && process.env.ST_REQUIRE_CHROMIUM === '1') throw new Error(`the browser test must run (ST_REQUIRE_CHROMIUM=1): ${missing}`);

const MODEL = 'mock-llama-3-8b';
/** A second model on the same tunnel: the Model box has a choice, usage a row per model. */
const MODEL_2 = 'mock-qwen-2-7b';
const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;
/** Long enough answers (100 tokens, 50 ms apart: 5 s) that a person can press Stop in the middle. */
const MOCK_ENV = { ST_MOCK_TOKEN_DELAY_MS: 50, ST_MOCK_MAX_TOKENS: 100, ST_MOCK_MODELS: `${MODEL},${MODEL_2}` };
const STEP_TIMEOUT_MS = 120_000;
/** How long a condition may take to show on the page (a loaded CI machine is slow, not broken). */
const SHOW_MS = 30_000;

let stack: Stack;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let record: PageRecord;
let sessionId: string;
let grpc: string;
let bob: OtherUser;
let markdownApi: { close(): void } | undefined;
/** The chats the page sent that reached the model, and how each ended: what usage adds up to. */
const sent: SentChat[] = [];

// The accessible names issue 10 lists, matched exactly (console-controls.ts).
const { apiKeyBox, signInButton, signOutButton, providerBox, modelBox, messageBox, sendButton, stopButton, conversation, usageLink, chatLink, alert, selectedProvider, lastAnswer, usagePeriodShown } =
  consoleControls(() => page);
const answerText = async () => squash((await lastAnswer().locator('.text').textContent()) ?? '');
const answerWords = async () => (await answerText()).split(' ').filter(Boolean).length;
const storedItems = () => page.evaluate('sessionStorage.length');

/** A table row in the page, as far as the test reads it (no DOM library in the e2e tsconfig). */
interface TableRow {
  cells: ArrayLike<{ textContent: string | null }>;
}

/** The body of the `count`th chat completion the page sent, once it was sent. */
async function chatSent(count: number): Promise<ChatBody> {
  await expect.poll(() => record.chatBodies.length, { timeout: SHOW_MS }).toBe(count);
  return record.chatBodies[count - 1];
}

/** Chooses a provider with the keyboard: to the Provider box (`key` from where the focus is), then the arrows. */
async function chooseProvider(name: string, key: 'Tab' | 'Shift+Tab'): Promise<void> {
  await tabTo(page, providerBox(), key);
  const names = await providerBox().locator('option').allTextContents();
  const steps = names.indexOf(name) - names.indexOf((await selectedProvider()) ?? '');
  expect(names).toContain(name);
  for (let i = 0; i < Math.abs(steps); i++) await page.keyboard.press(steps > 0 ? 'ArrowDown' : 'ArrowUp');
  await expect.poll(selectedProvider).toBe(name);
}

/** Types a message into the focused Message box and sends it with Enter. */
async function sendByKeyboard(text: string): Promise<ChatBody> {
  expect(await hasFocus(messageBox())).toBe(true);
  const count = record.chatBodies.length;
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
  return chatSent(count + 1);
}

describe.skipIf(missing !== undefined)('web console in chromium', () => {
  beforeAll(async () => {
    stack = await startStack({ mockEnv: MOCK_ENV, serverEnv: { ST_ADMIN_TOKEN: ADMIN_TOKEN } });
    grpc = `127.0.0.1:${stack.grpcPort}`;
    const listed = await stctlJson<{ providers: { sessionId: string }[] }>(grpc, ['providers', 'list'], { ST_API_KEY: stack.apiKey });
    sessionId = listed.providers[0].sessionId;
    bob = await startOtherUser(stack, ADMIN_TOKEN, MODEL);
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    page = await context.newPage();
    record = new PageRecord(page);
    process.stdout.write(`console screenshots: ${ARTIFACTS}\n`);
  }, STEP_TIMEOUT_MS);

  // A failed step leaves a picture of the page beside the others.
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail' && page) await screenshot(page, `failed-${ctx.task.name.replace(/\W+/g, '-').slice(0, 60)}`);
  });

  afterAll(async () => {
    await browser?.close();
    bob?.api.close();
    markdownApi?.close();
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
    await apiKeyBox().waitFor({ timeout: SHOW_MS });
    await screenshot(page, 'console-sign-in');

    const unknown = await fetch(`${stack.publicUrl}/console/../etc/passwd`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('unknown_url');
    // Dot segments as sent (fetch would normalise them away): still not the console's.
    const raw = await rawRequest(stack.server.httpPort!, Buffer.from('GET /assets/../../package.json HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'), { waitMs: 5_000 });
    expect(raw.response?.status).toBe(404);
    expect(raw.response?.body.toString()).toContain('unknown_url');
  }, STEP_TIMEOUT_MS);

  it('refuses a wrong key, signs in with the demo key (keyboard only) and shows the demo provider running', async () => {
    // From the top of the page, as a keyboard user starts: Tab to the key, Space on Sign in.
    await tabTo(page, apiKeyBox());
    await page.keyboard.type('st_key_not-a-real-key');
    await tabTo(page, signInButton());
    await page.keyboard.press('Space');
    // A wrong key is refused with the gateway's reason, and not kept.
    await alert().waitFor({ timeout: SHOW_MS });
    expect(await alert().textContent()).toContain('the API key is not valid');
    expect(await storedItems()).toBe(0);
    await tabTo(page, apiKeyBox(), 'Shift+Tab');
    await page.keyboard.press('Control+A');
    await page.keyboard.type(stack.apiKey);
    await page.keyboard.press('Enter');
    await signOutButton().waitFor({ timeout: SHOW_MS });
    await expect.poll(selectedProvider, { timeout: SHOW_MS }).toBe('demo (running)');
    expect(await page.getByRole('option', { name: 'demo (running)', exact: true }).count()).toBe(1);
    await expect.poll(() => modelBox().inputValue(), { timeout: SHOW_MS }).toBe(MODEL);
    expect(await modelBox().locator('option').allTextContents()).toEqual([MODEL, MODEL_2]);
    // The key is in the tab's storage only: not in the URL, not in a cookie.
    expect(await page.evaluate("sessionStorage.getItem('st-console.apiKey')")).toBe(stack.apiKey);
    expect(page.url()).not.toContain(stack.apiKey);
    expect(await context.cookies()).toEqual([]);
    await screenshot(page, 'console-signed-in');
  }, STEP_TIMEOUT_MS);

  it('streams an answer token by token and renders it', async () => {
    await page.evaluate(OBSERVE_ANSWER);
    await tabTo(page, messageBox());
    // Shift+Enter is a new line, not a send.
    await page.keyboard.type('line one');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('line two');
    expect(await messageBox().inputValue()).toBe('line one\nline two');
    expect(await page.locator('article').count()).toBe(0);
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    const body = await sendByKeyboard('Hello');
    expect(body).toMatchObject({ model: MODEL, messages: [{ role: 'user', content: 'Hello' }] });
    await expect.poll(() => lastAnswer().getAttribute('data-status'), { timeout: SHOW_MS }).toBe('done');
    sent.push({ body, outcome: 'done' });
    const snapshots = (await page.evaluate('window.__snapshots')) as string[];
    // The answer grew in several steps before it was complete: it streamed.
    expect(snapshots.filter((s) => s !== '').length).toBeGreaterThan(5);
    const expected = squash(await mockAnswer(stack.mockUrl, body));
    expect(await answerText()).toBe(expected);
    expect(snapshots.every((s) => expected.startsWith(squash(s)))).toBe(true);
    await expect.poll(() => conversation().textContent()).toContain('Hello');
    await screenshot(page, README_SHOT);
  }, STEP_TIMEOUT_MS);

  it('Stop (keyboard) cancels a long answer, and the model server sees it aborted', async () => {
    const before = await stack.mock.stats();
    const body = await sendByKeyboard('Tell me a long story');
    // Some words have arrived: the answer is under way.
    await expect.poll(answerWords, { timeout: SHOW_MS }).toBeGreaterThan(4);
    // Send is disabled while the answer arrives: the next Tab stop is Stop.
    await page.keyboard.press('Tab');
    expect(await hasFocus(stopButton())).toBe(true);
    await page.keyboard.press('Space');
    await expect.poll(() => lastAnswer().getAttribute('data-status'), { timeout: SHOW_MS }).toBe('stopped');
    sent.push({ body, outcome: 'stopped' });
    await expect.poll(async () => (await stack.mock.stats()).aborted, { timeout: SHOW_MS }).toBe(before.aborted + 1);
    expect((await stack.mock.stats()).completed).toBe(before.completed);
    // Stop is disabled again: the focus is back in the message box, for the next message.
    await expect.poll(() => hasFocus(messageBox())).toBe(true);
    await screenshot(page, 'console-stopped');
  }, STEP_TIMEOUT_MS);

  it('keeps an answer streaming while the Usage view is shown, and shows it on coming back', async () => {
    const before = await stack.mock.stats();
    // The second model, with the keyboard: back from the message box to Model, arrow down.
    await tabTo(page, modelBox(), 'Shift+Tab');
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => modelBox().inputValue()).toBe(MODEL_2);
    await tabTo(page, messageBox());
    const body = await sendByKeyboard('What does the usage view show?');
    expect(body.model).toBe(MODEL_2);
    await expect.poll(answerWords, { timeout: SHOW_MS }).toBeGreaterThan(4);
    const wordsBefore = await answerWords();
    await tabTo(page, usageLink(), 'Shift+Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Usage', exact: true }).waitFor({ timeout: SHOW_MS });
    // The chat is out of sight (and of the accessibility tree) and its answer keeps arriving.
    expect(await conversation().count()).toBe(0);
    expect(await page.getByRole('status').filter({ hasText: 'An answer is still arriving' }).count()).toBe(1);
    await expect.poll(answerWords, { timeout: SHOW_MS }).toBeGreaterThan(wordsBefore);
    await screenshot(page, 'console-usage-while-answering');
    await tabTo(page, chatLink(), 'Shift+Tab');
    await page.keyboard.press('Enter');
    await conversation().waitFor({ timeout: SHOW_MS });
    // The whole answer, as the model wrote it: nothing was cut while it was out of sight.
    await expect.poll(() => lastAnswer().getAttribute('data-status'), { timeout: SHOW_MS }).toBe('done');
    sent.push({ body, outcome: 'done' });
    const after = await stack.mock.stats();
    expect(after.aborted).toBe(before.aborted);
    expect(after.completed).toBe(before.completed + 1);
    expect(await answerText()).toBe(squash(await mockAnswer(stack.mockUrl, body)));
    expect(await page.getByRole('status').filter({ hasText: 'An answer is still arriving' }).count()).toBe(0);
  }, STEP_TIMEOUT_MS);

  it("shows the signed-in user's usage, adding up to what the model reported, and no other user's", async () => {
    // The gateway writes usage about once a second: wait until the store holds all of it.
    await waitForUsage(grpc, stack.apiKey, sent.length);
    await waitForUsage(grpc, bob.apiKey, 1);
    const expected = await expectedUsage(stack.mockUrl, 'demo', sent);
    expect(expected.map((r) => [r.model, r.requests])).toEqual([
      [MODEL, 2],
      [MODEL_2, 1],
    ]);
    expect(expected.every((r) => r.promptTokens > 0 && r.completionTokens > 0)).toBe(true);

    // The focus is on the Chat link (Enter above): the next Tab stop is Usage.
    await tabTo(page, usageLink());
    await page.keyboard.press('Enter');
    const table = page.getByRole('table', { name: 'Tokens per tunnel and model, largest first', exact: true });
    await table.waitFor({ timeout: SHOW_MS });
    expect(await table.getByRole('columnheader').allTextContents()).toEqual(['Tunnel', 'Model', 'Requests', 'Prompt tokens', 'Completion tokens']);
    const cells = () => table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => Array.from((r as unknown as TableRow).cells, (c) => c.textContent ?? '')));
    expect(parseUsageTable(await cells())).toEqual(expected);
    // Bob's tunnel and requests are his own: not a trace of them here.
    expect(await page.locator('section.usage').textContent()).not.toContain(bob.tunnelName);
    await screenshot(page, 'console-usage');

    // The period, by keyboard: the last 24 hours hold the same requests.
    await tabTo(page, page.getByRole('combobox', { name: 'Period', exact: true }));
    await page.keyboard.press('ArrowDown');
    // data-period names the period of the rows shown, so this cannot read the table of "All time" or of no period.
    await expect.poll(() => usagePeriodShown(), { timeout: SHOW_MS }).toBe('24h');
    expect(parseUsageTable(await cells())).toEqual(expected);
    await tabTo(page, chatLink(), 'Shift+Tab');
    await page.keyboard.press('Enter');
    await conversation().waitFor({ timeout: SHOW_MS });
  }, STEP_TIMEOUT_MS);

  it('shows the provider stopped, without a reload, when its session is stopped with stctl', async () => {
    // A marker that a reload would wipe.
    await page.evaluate('window.__sameDocument = true');
    const stop = await runStctl(grpc, ['sessions', 'stop', sessionId], { ST_API_KEY: stack.apiKey });
    expect(stop.code, stop.stderr).toBe(0);
    await expect.poll(selectedProvider, { timeout: SHOW_MS }).toBe('demo (stopped)');
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
  }, STEP_TIMEOUT_MS);

  it("shows the gateway's error message as an alert for a chat to the stopped provider", async () => {
    await messageBox().fill('Are you there?');
    await sendButton().click();
    await alert().waitFor({ timeout: SHOW_MS });
    expect(await alert().textContent()).toMatch(/is stopped: restart the session and its tunnel$/);
    // Send was pressed and is disabled while the request runs: the focus went back to the message box.
    expect(await hasFocus(messageBox())).toBe(true);
    await screenshot(page, 'console-stopped-provider');
  }, STEP_TIMEOUT_MS);

  it('shows providers that start, or appear, without a reload; the arrow keys choose one', async () => {
    const restart = await runStctl(grpc, ['sessions', 'restart', sessionId], { ST_API_KEY: stack.apiKey });
    expect(restart.code, restart.stderr).toBe(0);
    // The agent retries about once a second while refused: it reconnects by itself.
    await expect.poll(selectedProvider, { timeout: SHOW_MS }).toBe('demo (running)');
    // A new provider whose agent has not connected: it appears, waiting. Bob's never appears.
    const created = await runStctl(grpc, ['tunnels', 'create', '--session', sessionId, '--name', 'beta', '--port', '9', '--openai'], { ST_API_KEY: stack.apiKey });
    expect(created.code, created.stderr).toBe(0);
    await expect.poll(() => providerBox().locator('option').allTextContents(), { timeout: SHOW_MS }).toEqual(['beta (waiting)', 'demo (running)']);
    expect(await page.evaluate('window.__sameDocument')).toBe(true);

    await tabTo(page, providerBox(), 'Shift+Tab');
    await page.keyboard.press('ArrowUp');
    await expect.poll(selectedProvider).toBe('beta (waiting)');
    // Never connected: no models, nothing to send to.
    expect(await modelBox().locator('option:checked').textContent()).toBe('no models');
    await page.keyboard.press('ArrowDown');
    await expect.poll(selectedProvider).toBe('demo (running)');
    await expect.poll(() => modelBox().inputValue()).toMatch(/^mock-/);
  }, STEP_TIMEOUT_MS);

  it('watches again after the gateway restarts: later changes still show without a reload', async () => {
    const old = stack.server;
    await old.process.stop('SIGTERM', 5_000);
    // Same ports and data directory: the page's origin and the demo key stay valid.
    stack.server = await startServer({ ...old.env, ST_HTTP_PORT: old.httpPort, ST_GRPC_PORT: old.grpcPort });
    await waitForTunnel(stack.baseURL, stack.apiKey, SHOW_MS);
    await expect.poll(selectedProvider, { timeout: SHOW_MS }).toBe('demo (running)');
    // A change after the restart can only reach the page through a new watch.
    const stop = await runStctl(grpc, ['sessions', 'stop', sessionId], { ST_API_KEY: stack.apiKey });
    expect(stop.code, stop.stderr).toBe(0);
    await expect.poll(selectedProvider, { timeout: SHOW_MS }).toBe('demo (stopped)');
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
  }, STEP_TIMEOUT_MS);

  it('keeps the conversation in the tab (sessionStorage), across a reload too', async () => {
    const turns = () => page.locator('article').evaluateAll((all) => all.map((a) => `${a.getAttribute('data-role')}:${a.getAttribute('data-status')}`));
    const shown = await turns();
    expect(shown).toEqual(['user:done', 'assistant:done', 'user:done', 'assistant:stopped', 'user:done', 'assistant:done', 'user:done', 'assistant:error']);
    const text = await conversation().textContent();
    await page.reload();
    await signOutButton().waitFor({ timeout: SHOW_MS });
    await expect.poll(() => conversation().textContent(), { timeout: SHOW_MS }).toBe(text);
    expect(await turns()).toEqual(shown);
  }, STEP_TIMEOUT_MS);

  it("renders an answer's Markdown, and none of its HTML, images or javascript: links", async () => {
    markdownApi = (await startMarkdownProvider(stack)).api;
    await expect.poll(() => providerBox().locator('option').allTextContents(), { timeout: SHOW_MS }).toContain('markdown (running)');
    await chooseProvider('markdown (running)', 'Tab');
    await tabTo(page, messageBox());
    await sendByKeyboard('Show me some Markdown');
    await expect.poll(() => lastAnswer().getAttribute('data-status'), { timeout: SHOW_MS }).toBe('done');
    const text = lastAnswer().locator('.text');
    expect(await text.locator('strong').allTextContents()).toEqual(['bold']);
    expect(await text.locator('code').allTextContents()).toEqual(['code']);
    expect(await text.locator('li').allTextContents()).toEqual(['one', 'two']);
    // Raw HTML is dropped, an image shows as its text, a javascript: link loses its target.
    expect(await text.locator('img, script, [onerror]').count()).toBe(0);
    expect(await text.textContent()).toContain('[image: a chart]');
    const hrefs = await text.locator('a').evaluateAll((links) => links.map((a) => a.getAttribute('href') ?? ''));
    expect(hrefs.filter((h) => /^\s*javascript:/i.test(h))).toEqual([]);
    expect(hrefs).toEqual(['https://example.com/docs']);
    expect(await text.getByText('click me', { exact: true }).count()).toBe(1);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(record.requests.filter((url) => url.startsWith(ELSEWHERE))).toEqual([]);
    await screenshot(page, 'console-markdown');
  }, STEP_TIMEOUT_MS);

  it('signs out (keyboard), stopping an answer still arriving: the key and the conversation are gone from the tab', async () => {
    const restart = await runStctl(grpc, ['sessions', 'restart', sessionId], { ST_API_KEY: stack.apiKey });
    expect(restart.code, restart.stderr).toBe(0);
    await expect.poll(() => providerBox().locator('option').allTextContents(), { timeout: SHOW_MS }).toContain('demo (running)');
    await chooseProvider('demo (running)', 'Shift+Tab');
    const before = await stack.mock.stats();
    await tabTo(page, messageBox());
    await sendByKeyboard('One more question');
    await expect.poll(answerWords, { timeout: SHOW_MS }).toBeGreaterThan(4);
    await tabTo(page, signOutButton(), 'Shift+Tab');
    await page.keyboard.press('Enter');
    await apiKeyBox().waitFor({ timeout: SHOW_MS });
    await expect.poll(async () => (await stack.mock.stats()).aborted, { timeout: SHOW_MS }).toBe(before.aborted + 1);
    expect(await storedItems()).toBe(0);
    // After a reload too: nothing signs the tab back in.
    await page.reload();
    await signInButton().waitFor({ timeout: SHOW_MS });
    expect(await signOutButton().count()).toBe(0);
    expect(await storedItems()).toBe(0);
    // Signing in again starts an empty conversation.
    await tabTo(page, apiKeyBox());
    await page.keyboard.type(stack.apiKey);
    await page.keyboard.press('Enter');
    await conversation().waitFor({ timeout: SHOW_MS });
    expect(await page.locator('article').count()).toBe(0);
  }, STEP_TIMEOUT_MS);

  it('made no request but to the gateway, and broke no CSP rule', () => {
    const origin = new URL(stack.publicUrl).origin;
    const elsewhere = record.requests.filter((url) => new URL(url).origin !== origin);
    expect(elsewhere).toEqual([]);
    expect(record.cspViolations).toEqual([]);
    expect(record.pageErrors).toEqual([]);
  });
});
