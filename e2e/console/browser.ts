import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Locator, type Page, chromium } from 'playwright-core';
import { REPO_ROOT } from '@st/testing';

/** Debian's chromium (`.ci/run` installs it); playwright-core brings no browser of its own. */
export const CHROMIUM = process.env.ST_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots of the run, for people (git-ignored; the test prints where they are). */
export const ARTIFACTS = join(REPO_ROOT, 'e2e', 'console', 'artifacts');
/** The screenshot the README shows (tools/dev/console-screenshot.mjs copies it to docs/images). */
export const README_SHOT = 'console-answer';

/** Why the browser test cannot run here, or undefined. CI sets ST_REQUIRE_CHROMIUM=1: then it must. */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  return `${CHROMIUM} is missing: apt-get install chromium (or set ST_CHROMIUM)`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // CI runs as root, where chromium's sandbox cannot start; nothing but our pages is loaded.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 60_000,
  });
}

/** What a page did that the test checks at the end: every request it made, CSP violations. */
export class PageRecord {
  readonly requests: string[] = [];
  readonly cspViolations: string[] = [];
  readonly pageErrors: string[] = [];
  /** The bodies of the chat completions the page sent, in order. */
  readonly chatBodies: ChatBody[] = [];

  constructor(page: Page) {
    page.on('request', (r) => {
      this.requests.push(r.url());
      if (r.method() === 'POST' && r.url().endsWith('/v1/chat/completions')) this.chatBodies.push(JSON.parse(r.postData() ?? '{}') as ChatBody);
    });
    page.on('pageerror', (err) => this.pageErrors.push(err.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) this.cspViolations.push(m.text());
    });
  }
}

export interface ChatBody {
  model: string;
  messages: { role: string; content: string }[];
}

/**
 * Presses `key` (Tab, or Shift+Tab to go back) until `target` has the focus, as a person using
 * the keyboard reaches a control; fails when it is not reachable within `max` presses.
 */
export async function tabTo(page: Page, target: Locator, key: 'Tab' | 'Shift+Tab' = 'Tab', max = 30): Promise<void> {
  for (let i = 0; i <= max; i++) {
    if (await hasFocus(target)) return;
    await page.keyboard.press(key);
  }
  const focused = await page.evaluate('document.activeElement?.outerHTML.slice(0, 120)');
  throw new Error(`${max} presses of ${key} did not reach ${target.toString()}; the focus is on ${String(focused)}`);
}

export function hasFocus(target: Locator): Promise<boolean> {
  // Runs in the page (this file is type-checked without the DOM library).
  return target.evaluate((el) => el === (globalThis as unknown as { document: { activeElement: unknown } }).document.activeElement);
}

/** Saves a full-page screenshot under {@link ARTIFACTS}; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
