import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { REPO_ROOT } from '@st/testing';

/** Debian's chromium (`.ci/run` installs it); playwright-core brings no browser of its own. */
export const CHROMIUM = process.env.ST_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots of the run, for people (git-ignored). */
export const ARTIFACTS = join(REPO_ROOT, 'e2e', 'console', 'artifacts');

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

  constructor(page: Page) {
    page.on('request', (r) => this.requests.push(r.url()));
    page.on('pageerror', (err) => this.pageErrors.push(err.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) this.cspViolations.push(m.text());
    });
  }
}

/** Saves a full-page screenshot under {@link ARTIFACTS}; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
