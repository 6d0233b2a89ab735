// Drives the relay's own page (`pollen relay --web js/`) in headless Chromium (the system's
// /usr/bin/chromium through playwright-core):
//
//   page_client.mjs PAGE_URL TOPIC COUNT TIMEOUT SCREENSHOT
//
// Waits for TOPIC in the page's topic table, clicks it, waits until COUNT samples show,
// prints "samples N" and "rate R", then publishes "from the page N" through the page's box
// every 500 ms (printing "published ...") until its stdin ends, and saves a screenshot.

import { chromium } from 'playwright-core';

const [url, topic, countS, timeoutS, shot] = process.argv.slice(2);
const timeout = Number(timeoutS) * 1000;
const browser = await chromium.launch({
  executablePath: process.env.POLLEN_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
let status = 1;
let stdinOpen = true;
process.stdin.on('end', () => {
  stdinOpen = false;
});
process.stdin.on('close', () => {
  stdinOpen = false;
});
process.stdin.resume();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('console', (m) => console.error(`[page] ${m.text()}`));
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="1"]', { timeout });
  const row = page.locator('#topics tr.topic', { hasText: topic }).first();
  await row.waitFor({ timeout });
  await page.waitForFunction(() => document.querySelectorAll('#participants tbody tr').length > 0, null, { timeout });
  console.log(`participants ${await page.locator('#participants tbody tr').count()}`);
  await row.click();
  await page.waitForFunction((n) => Number(document.getElementById('count').textContent) >= n, Number(countS), { timeout });
  console.log(`samples ${await page.textContent('#count')}`);
  await page.waitForTimeout(1200);
  const end = Date.now() + timeout;
  for (let i = 0; stdinOpen && Date.now() < end; i++) {
    await page.fill('#text', `from the page ${i}`);
    await page.click('#send');
    await page.waitForFunction((t) => document.getElementById('published').textContent.includes(t), `from the page ${i}`, { timeout: 5000 });
    console.log(`published from the page ${i}`);
    await page.waitForTimeout(500);
  }
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot ${shot}`);
  status = 0;
} catch (e) {
  console.error(`page_client: ${e.message}`);
} finally {
  await browser.close().catch(() => {});
}
process.exit(status);
