/**
 * The dashboard in a real browser (Debian's chromium through playwright-core): after real traffic
 * through the gateway, the page shows the ledger's numbers, draws its four charts, refreshes live,
 * and refuses a non-admin key. A screenshot is saved under the OS temp dir.
 * Outside CI, a machine without /usr/bin/chromium skips this file with a message; in CI it fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { CallContext } from '../../src/backends/types.js';
import type { PrivacyGuard, Restorer } from '../../src/privacy/guard.js';
import { buildReport } from '../../src/ledger/report.js';
import type { LedgerDb } from '../../src/ledger/schema.js';
import { MockOpenAI } from '../support/mock-openai.js';
import { HELLO, newDataDir, startLedgerGateway, type LedgerGateway } from '../ledger/gateway-support.js';

const CHROMIUM = '/usr/bin/chromium';
const inCI = ['1', 'true'].includes((process.env.CI ?? '').toLowerCase());
if (inCI && !existsSync(CHROMIUM)) throw new Error(`CI=true but ${CHROMIUM} is missing: .ci/run must apt-get install chromium`);
const SKIP = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found: apt-get install chromium to run the dashboard test (CI always does)`;

const identity: Restorer = { restore: (r) => r, restoreChunk: (c) => c, flush: () => null };
const typingGuard = {
  protect<T extends object>(_e: unknown, body: T, _t: unknown, ctx: CallContext) {
    const text = JSON.stringify(body);
    const types = [];
    if (text.includes('@')) types.push('EMAIL_ADDRESS');
    if (/\+\d{6,}/.test(text)) types.push('PHONE_NUMBER');
    if (types.length) ctx.piiTypes = types;
    return { body, restorer: identity };
  },
} as unknown as PrivacyGuard;

/** The number a card shows: "$0.004512" -> 0.004512, "1,234" -> 1234, "94.12%" -> 94.12. */
async function shown(page: Page, field: string): Promise<number> {
  const text = (await page.locator(`[data-field="${field}"]`).first().textContent()) ?? '';
  return Number(text.replace(/[$,%\s]/g, ''));
}

/** Equal to the displayed precision: `digits` decimals shown. */
function close(actual: number, expected: number, digits: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 0.5 * 10 ** -digits + 1e-12, `${what}: page shows ${actual}, ledger has ${expected}`);
}

describe('dashboard in chromium', { skip: SKIP }, () => {
  let cloud: MockOpenAI;
  let onprem: MockOpenAI;
  let gw: LedgerGateway;
  let browser: Browser;
  const shots = mkdtempSync(join(tmpdir(), 'sluice-dashboard-'));

  before(async () => {
    cloud = await MockOpenAI.start();
    onprem = await MockOpenAI.start();
    gw = await startLedgerGateway(
      {
        backends: [
          { kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-4o-mini', 'gpt-4o'], retry: { attempts: 0 } },
          { kind: 'openai-compatible', name: 'onprem', baseUrl: onprem.url, locality: 'local', models: ['local-model'] },
        ],
        ledger: { localCost: { hourlyUsd: 0.5 } },
      },
      newDataDir(['ops', 'app'], ['ops']),
      { guard: typingGuard },
    );
    // Real traffic: mostly local, some cloud, a few with personal data, one refused.
    const long = 'Summarise this support ticket about a delayed delivery and a refund request. '.repeat(8);
    for (let i = 0; i < 12; i++) assert.equal((await gw.chat('app', { model: 'local-model', messages: [{ role: 'user', content: `${long} #${i}` }] })).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await gw.chat('app', { model: 'gpt-4o', messages: [{ role: 'user', content: long }] })).status, 200);
    assert.equal((await gw.chat('app', { model: 'local-model', messages: [{ role: 'user', content: 'mail bob@example.org or call +4915112345678' }] })).status, 200);
    assert.equal((await gw.chat('app', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'write to carol@example.net' }] })).status, 200);
    assert.equal((await gw.chat('app', { ...HELLO, model: 'no-such-model' })).status, 404);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  after(async () => {
    await browser?.close();
    await gw?.close();
    await cloud?.close();
    await onprem?.close();
  });

  async function openWith(key: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
    (page as Page & { jsErrors?: string[] }).jsErrors = errors;
    await page.goto(`${gw.url}/dashboard`);
    await page.fill('#key', key);
    await page.click('#login button[type=submit]');
    return page;
  }

  test('shows the numbers of the ledger, four charts and the PII findings', async (t) => {
    const page = await openWith(gw.keys.ops!);
    await page.waitForSelector('#main:not([hidden]) [data-field="requests"][data-value]', { timeout: 20_000 });
    await page.waitForFunction("document.querySelectorAll('.uplot canvas').length >= 4", undefined, { timeout: 20_000 });

    const report = await buildReport(gw.gateway.ledger.database!.db as LedgerDb, { since: 0, until: Date.now() + 1 });
    assert.equal(report.requests, 18, 'the ledger holds every request');
    assert.equal(await shown(page, 'requests'), report.requests);
    assert.equal(await shown(page, 'errors'), report.errors);
    assert.equal(await shown(page, 'local_requests'), report.by_route.local!.requests);
    assert.equal(await shown(page, 'cloud_requests'), report.by_route.cloud!.requests);
    close(await shown(page, 'local_share_pct'), report.local_share_pct, 2, 'local share');
    close(await shown(page, 'cost_usd'), report.cost_usd, 6, 'cost');
    close(await shown(page, 'cloud_cost_usd'), report.by_route.cloud!.cost_usd, 6, 'cloud cost');
    close(await shown(page, 'baseline_cost_usd'), report.baseline_cost_usd, 6, 'baseline');
    close(await shown(page, 'savings_usd'), report.savings_usd, 6, 'savings');
    close(await shown(page, 'savings_pct'), report.savings_pct, 2, 'savings %');
    assert.ok(report.savings_pct > 50, 'mostly-local traffic saves against all-cloud');

    const pii = await page.locator('#pii-table tbody tr').allTextContents();
    assert.deepEqual(pii.map((r) => r.replace(/\s+/g, ' ').trim()).sort(), ['EMAIL_ADDRESS2', 'PHONE_NUMBER1']);
    const legends = await page.locator('.u-legend .u-series .u-label').allTextContents();
    for (const name of ['local', 'cloud', 'p50', 'p95', 'cost', 'all-cloud baseline', 'EMAIL_ADDRESS']) assert.ok(legends.includes(name), `a chart series "${name}"`);
    assert.deepEqual((page as Page & { jsErrors?: string[] }).jsErrors, [], 'no script errors (CSP included)');

    const file = join(shots, 'dashboard.png');
    await page.screenshot({ path: file, fullPage: true });
    t.diagnostic(`screenshot: ${file}`);
    assert.ok(existsSync(file));

    // Live: new traffic shows up without reloading the page.
    for (let i = 0; i < 3; i++) await gw.chat('app', { model: 'local-model', messages: [{ role: 'user', content: 'more' }] });
    await page.waitForSelector(`[data-field="requests"][data-value="${report.requests + 3}"]`, { timeout: 20_000 });
    await page.close();
  });

  test('a key that is not an admin key is refused', async () => {
    const page = await openWith(gw.keys.app!);
    await page.waitForSelector('#login-error:not(:empty)', { timeout: 20_000 });
    assert.match((await page.textContent('#login-error')) ?? '', /not an admin key/);
    assert.equal(await page.isHidden('#main'), true);
    await page.close();
  });
});
