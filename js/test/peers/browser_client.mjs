// Runs browser.html in headless Chromium (the system's /usr/bin/chromium, driven by
// playwright-core: no browser download) against `pollen relay`:
//
//   browser_client.mjs URL TOKEN pub|sub TOPIC COUNT TIMEOUT [--size N] [--screenshot FILE]
//
// It serves js/ on 127.0.0.1 (an ephemeral port) so the page loads the real module and
// WebAssembly, prints the page's lines on stdout (as relay_client.mjs does) and its
// diagnostics on stderr, and exits with the page's status.

import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const JS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const [relay, token, mode, topic, count, timeoutS, ...rest] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : dflt;
};
const timeout = Number(timeoutS) * 1000;
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.html': 'text/html', '.wasm': 'application/wasm' };

const server = http.createServer(async (req, res) => {
  const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const file = path.resolve(JS_DIR, `.${rel}`);
  if (!file.startsWith(JS_DIR + path.sep) || file.includes(`${path.sep}node_modules${path.sep}`)) {
    res.writeHead(403).end();
    return;
  }
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;

const browser = await chromium.launch({
  executablePath: process.env.POLLEN_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
let status = 1;
const timer = setTimeout(async () => {
  console.error(`timed out after ${timeout} ms`);
  await browser.close().catch(() => {});
  process.exit(1);
}, timeout + 5000);
try {
  const page = await browser.newPage();
  const done = new Promise((resolve) => {
    page.on('console', (m) => {
      const t = m.text();
      if (t.startsWith('POLLEN-DONE ')) resolve(Number(t.slice(12)));
      else if (t.startsWith('POLLEN ')) console.log(t.slice(7));
      else console.error(`[page] ${t}`);
    });
    page.on('pageerror', (e) => {
      console.error(`[page error] ${e.message}`);
      resolve(1);
    });
  });
  const q = new URLSearchParams({ relay, token, mode, topic, count, size: opt('--size', '0'), domain: process.env.DOMAIN ?? '0' });
  await page.goto(`http://127.0.0.1:${port}/test/peers/browser.html?${q}`);
  status = await done;
  const shot = opt('--screenshot');
  if (shot) await page.screenshot({ path: shot, fullPage: true });
} finally {
  clearTimeout(timer);
  await browser.close().catch(() => {});
  server.close();
}
process.exit(status);
