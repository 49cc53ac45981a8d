import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

const executablePath = '/usr/bin/chromium';
/** Where the browser tests leave their screenshots (the README shows copies from docs/screenshots/). */
export const screenshotDir = resolve(import.meta.dirname, '../../tmp/test-output/screenshots');

/**
 * Debian's Chromium, headless, driven by playwright-core (never a downloaded browser); installed by
 * scripts/chromium.sh when missing. Its background connections are off: this machine has no network.
 */
export const launchBrowser = async (): Promise<Browser> => {
  if (!existsSync(executablePath)) execFileSync('bash', [resolve(import.meta.dirname, '../../scripts/chromium.sh')], { stdio: 'inherit', timeout: 600_000 });
  return chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
};

/** A page that remembers every console error and uncaught exception, which a test then asserts are none. */
export const watchedPage = async (browser: Browser, baseURL: string) => {
  const context = await browser.newContext({ baseURL, acceptDownloads: true, viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  return { page, context, errors };
};

export const screenshot = async (page: Page, name: string) => {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: resolve(screenshotDir, `${name}.png`), fullPage: true });
};
