import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { IN_CI, podmanGate } from '@axo/test-utils';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers';

const CHROMIUM = process.env.AXO_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && IN_CI)
  throw new Error(`${CHROMIUM} is required in CI for the web terminal test (scripts/bootstrap.sh installs it)`);
if (!hasChromium)
  console.warn(`[axo] skipping the browser test: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
const gate = podmanGate();
const ARTIFACTS = join(import.meta.dirname, '..', '..', '..', '..', 'test-artifacts');

/** The terminal's rendered rows, as text. */
// biome-ignore lint/performance/useDomNodeTextContent: innerText keeps the row breaks a person sees; textContent joins rows
const screen = (page: Page) => page.locator('.xterm-rows').innerText();
async function waitForScreen(page: Page, pattern: RegExp) {
  await expect.poll(() => screen(page), { timeout: 15_000, interval: 100 }).toMatch(pattern);
}

describe.skipIf(!gate.ok || !hasChromium)('the web terminal in headless Chromium', () => {
  let t: TestServer;
  let browser: Browser;
  beforeAll(async () => {
    t = await startTestServer();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('logs in with the token, opens a terminal, and shows what is typed; resize follows the window', async () => {
    const created = await t.api('POST', '/v1/sessions', { id: 'web', workdir: t.workdir('web') });
    expect(created.status).toBe(201);
    const page = await browser.newPage({ viewport: { width: 1000, height: 600 } });
    await page.goto(t.url);
    await page.fill('#token', t.token);
    await page.click('#login button');
    await page.click('button[data-session="web"]');
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 15_000 }).toMatch(/connected to web/);
    expect(await page.locator('#login').isVisible()).toBe(false);
    await waitForScreen(page, /[#$] *$/m);

    await page.keyboard.type('echo hello-browser');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^hello-browser\s*$/m);

    await page.keyboard.type('stty size');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^\d+ \d+\s*$/m);
    const before = /^(\d+) (\d+)\s*$/m
      .exec(await screen(page))
      ?.slice(1)
      .map(Number);
    await page.setViewportSize({ width: 1400, height: 800 });
    await page.waitForTimeout(300);
    await page.keyboard.type('clear; stty size');
    await page.keyboard.press('Enter');
    await expect
      .poll(
        async () =>
          /^(\d+) (\d+)\s*$/m
            .exec(await screen(page))
            ?.slice(1)
            .map(Number),
        { timeout: 10_000 },
      )
      .not.toEqual(before);
    const after = /^(\d+) (\d+)\s*$/m
      .exec(await screen(page))
      ?.slice(1)
      .map(Number) as number[];
    expect(after[1]).toBeGreaterThan((before as number[])[1] as number);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.keyboard.type('echo hello-browser');
    await page.keyboard.press('Enter');
    await waitForScreen(page, /^hello-browser\s*$/m);
    await page.screenshot({ path: join(ARTIFACTS, 'web-terminal.png') });
    await page.close();
  });

  it('refuses a wrong token', async () => {
    const page = await browser.newPage();
    await page.goto(t.url);
    await page.evaluate(() => sessionStorage.clear());
    const response = page.waitForResponse((r) => r.url().endsWith('/v1/sessions'));
    await page.fill('#token', 'not-the-token-at-all');
    await page.click('#login button');
    expect((await response).status()).toBe(401);
    await page.close();
  });
});
