// pollen-js through `pollen relay` (a WebSocket per session), on Node.js 20 with the `ws`
// package and in headless Chromium (the system's, driven by playwright-core): ↔ Cyclone DDS 11
// and ↔ a real ROS 2 rclpy, both ways, reliable, with 100 kB samples that have to be fragmented, and across a relay restart, each in a network namespace whose only
// interface is lo; and hostile WebSocket clients (bad token and Origin, garbage, a flood, a
// session spoofing another's GUID prefix, one session too many) refused and counted, on
// 127.0.0.1 with multicast off.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  BROWSER_CLIENT, CHROMIUM, CYCLONE_STRING_PY, JS_DIR, NODE, PAGE_CLIENT, ROOT, Netns, PEERS_PYTHON, POLLEN_BIN, Proc, RCLPY_STRING_PY, RELAY_CLIENT, ROS_PYTHON,
  cleanEnv, isRoot, need, pythonImports,
} from './helpers.mjs';

after(() => Proc.killAll());

let WebSocket;
try {
  WebSocket = (await import('ws')).default;
} catch {
  WebSocket = undefined;
}

const TOKEN = 'relay-test-token';

function haveRelay(t) {
  return (
    need(t, existsSync(POLLEN_BIN), `no pollen binary at ${POLLEN_BIN} (cargo build -p pollen-tool)`) &&
    need(t, WebSocket !== undefined, 'no ws package (npm ci in js/)')
  );
}

function readyNs(t, python, modules, what) {
  return (
    haveRelay(t) &&
    need(t, isRoot(), 'network namespaces need root') &&
    need(t, pythonImports(python, modules), `no ${what} at ${python}`)
  );
}

/** Starts `pollen relay -v` and resolves to { proc, url } once it listens. */
export async function startRelay(args, { ns } = {}) {
  const proc = new Proc('pollen relay', POLLEN_BIN, ['relay', '-v', '--token', TOKEN, ...args], { ns, env: cleanEnv() });
  const ok = await proc.waitForLine((l) => l.startsWith('listening ws://'), 10000);
  if (!ok) throw new Error(`the relay did not start\n${proc.transcript()}`);
  const url = proc.out.find((l) => l.startsWith('listening ws://')).split(' ')[1];
  return { proc, url };
}

/** The relay's last counters line (it prints one a second with -v). */
export function counters(relay) {
  const lines = relay.proc.err.filter((l) => l.startsWith('pollen relay: counters '));
  if (lines.length === 0) return {};
  return JSON.parse(lines[lines.length - 1].slice('pollen relay: counters '.length));
}

async function waitCounters(relay, check, ms = 5000) {
  const end = Date.now() + ms;
  let c = counters(relay);
  while (Date.now() < end) {
    c = counters(relay);
    if (check(c)) return c;
    await new Promise((r) => setTimeout(r, 100));
  }
  return c;
}

function client(ns, url, args) {
  return new Proc(`relay client ${args[0]}`, NODE, [RELAY_CLIENT, url, TOKEN, ...args], { ns, env: cleanEnv() });
}

function browser(ns, url, args) {
  return new Proc(`chromium ${args[0]}`, NODE, [BROWSER_CLIENT, url, TOKEN, ...args], { ns, env: cleanEnv() });
}

let playwright = false;
try {
  await import('playwright-core');
  playwright = true;
} catch {
  playwright = false;
}

/** The JavaScript sides: Node.js with `ws`, and headless Chromium (what each publishes). */
const CLIENTS = {
  'pollen-js (ws)': { run: client, text: 'js', ready: () => true },
  'Chromium pollen-js': {
    run: browser,
    text: 'web',
    ready: (t) =>
      need(t, existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (apt-get install chromium)`) &&
      need(t, playwright, 'no playwright-core (npm ci in js/)'),
  },
};

function cyclone(ns, mode, count, extra = {}) {
  const env = cleanEnv({ DOMAIN: '0', ...extra });
  return new Proc(`cyclone ${mode}`, PEERS_PYTHON, [CYCLONE_STRING_PY, mode, 'rt/chatter', String(count), '30'], { ns, env });
}

function rclpy(ns, mode, count, extra = {}) {
  return new Proc(`rclpy ${mode}`, ROS_PYTHON, [RCLPY_STRING_PY, mode, '/chatter', String(count), '30'], { ns, env: cleanEnv(extra) });
}

async function both(a, b, limit = 45000) {
  const [sa, sb] = await Promise.all([a.wait(limit), b.wait(limit)]);
  return { ok: sa === 0 && sb === 0, statuses: [sa, sb] };
}

const PEERS = {
  'Cyclone DDS 11': { python: () => PEERS_PYTHON, modules: 'cyclonedds', run: cyclone, prefix: 'msg' },
  rclpy: { python: () => ROS_PYTHON, modules: 'rclpy, std_msgs.msg', run: rclpy, prefix: 'ros' },
};

// Every JS side with every peer, both ways; 100 kB samples for Node.js with both peers and for
// Chromium with one peer each way (the page is slow to start: keep the run short).
const CASES = [];
for (const [cname, cl] of Object.entries(CLIENTS)) {
  for (const [name, peer] of Object.entries(PEERS)) {
    for (const dir of ['in', 'out']) {
      CASES.push({ cname, cl, name, peer, dir, size: 0 });
      const big = cname.startsWith('pollen-js') || (dir === 'in' ? name.startsWith('Cyclone') : name === 'rclpy');
      if (big) CASES.push({ cname, cl, name, peer, dir, size: 100000 });
    }
  }
}

for (const { cname, cl, name, peer, dir, size } of CASES) {
  const what = size ? ', 100 kB samples (fragmented)' : '';
  const n = size ? 3 : 10;
  const tag = `rl-${dir}-${cl.text}-${name.slice(0, 3)}-${size}`;
  if (dir === 'in') {
    test(`${name} → relay → ${cname}${what}`, async (t) => {
      if (!readyNs(t, peer.python(), peer.modules, name) || !cl.ready(t)) return;
      const ns = new Netns(tag);
      t.after(() => ns.delete());
      const relay = await startRelay([], { ns });
      const sub = cl.run(ns, relay.url, ['sub', 'chatter', String(n), '40']);
      const p = peer.run(ns, 'pub', n, size ? { SIZE: String(size) } : {});
      const r = await both(sub, p);
      await relay.proc.kill();
      const log = `${p.transcript()}${sub.transcript()}${relay.proc.transcript()}`;
      assert.ok(r.ok, `exit statuses ${r.statuses}\n${log}`);
      const expected = Array.from({ length: n }, (_, i) =>
        size ? `len=${size} head=${`${peer.prefix} ${i} xxxxxxxxxxxxxxxx`.slice(0, 20)}` : `${peer.prefix} ${i}`,
      );
      assert.deepEqual(sub.out, expected, log);
    });
  } else {
    test(`${cname} → relay → ${name}${what}`, async (t) => {
      if (!readyNs(t, peer.python(), peer.modules, name) || !cl.ready(t)) return;
      const ns = new Netns(tag);
      t.after(() => ns.delete());
      const relay = await startRelay([], { ns });
      const p = peer.run(ns, 'sub', n);
      const pub = cl.run(ns, relay.url, ['pub', 'chatter', String(n), '40', ...(size ? ['--size', String(size)] : [])]);
      const r = await both(pub, p);
      await relay.proc.kill();
      const log = `${pub.transcript()}${p.transcript()}${relay.proc.transcript()}`.slice(0, 20000);
      assert.ok(r.ok, `exit statuses ${r.statuses}\n${log}`);
      assert.equal(p.out.length, n, log);
      for (let i = 0; i < n; i++) {
        assert.ok(p.out[i].startsWith(`${cl.text} ${i}`), log);
        if (size) assert.equal(p.out[i].length, size, log);
      }
    });
  }
}

test('a relay restart: the WebSocket reconnects to the same ports and Cyclone gets every sample', async (t) => {
  if (!readyNs(t, PEERS_PYTHON, 'cyclonedds', 'Cyclone DDS 11')) return;
  const ns = new Netns('rl-restart');
  t.after(() => ns.delete());
  const listen = ['--listen', '127.0.0.1:7480'];
  let relay = await startRelay(listen, { ns });
  const n = 20;
  const p = cyclone(ns, 'sub', n);
  const pub = client(ns, relay.url, ['pub', 'chatter', String(n), '40', '--rate', '5']);
  // Kill the relay (no goodbye: the connection just drops) once a few samples went through.
  const cut = await p.waitForLine((l) => l === 'js 3', 30000);
  const first = relay.proc;
  await first.kill();
  await new Promise((r) => setTimeout(r, 500));
  relay = await startRelay(listen, { ns });
  const r = await both(pub, p, 50000);
  await relay.proc.kill();
  const log = `${pub.transcript()}${p.transcript()}${first.transcript()}${relay.proc.transcript()}`;
  assert.ok(cut, `no sample before the restart\n${log}`);
  assert.ok(r.ok, `exit statuses ${r.statuses}\n${log}`);
  assert.deepEqual(p.out, Array.from({ length: n }, (_, i) => `js ${i}`), log);
  assert.match(pub.err.join('\n'), /"connects":2/, log);
});

// --- hostile clients (127.0.0.1, domain 52, multicast off: nothing needs a namespace) ---

function raw(url, { token = TOKEN, origin, protocols } = {}) {
  const u = new URL(url);
  if (token !== null) u.searchParams.set('token', token);
  return new Promise((resolve) => {
    const ws = new WebSocket(u.toString(), protocols, origin ? { origin } : {});
    ws.binaryType = 'arraybuffer';
    const texts = [];
    ws.on('message', (d, isBinary) => {
      if (!isBinary) texts.push(JSON.parse(String(d)));
    });
    ws.on('unexpected-response', (_req, res) => resolve({ ws, status: res.statusCode, texts }));
    ws.on('error', (e) => resolve({ ws, error: e, texts }));
    ws.on('open', () => {
      const wait = () => (texts.length > 0 ? resolve({ ws, texts, status: 101 }) : setTimeout(wait, 10));
      wait();
    });
  });
}

function datagram(prefix, { spdp = true } = {}) {
  // An RTPS header with `prefix`, and one DATA (its 24 bytes framed exactly: the relay, like
  // every receiver, refuses a message whose submessage runs past its end) from the SPDP writer
  // (or another writer).
  const d = new Uint8Array(20 + 24 + 4);
  d.set([0x52, 0x54, 0x50, 0x53, 2, 3, 1, 0x0f], 0);
  d.set(prefix, 8);
  d.set([0x15, 0x05, 24, 0, 0, 0, 16, 0, 0, 1, 0, 0xc7, 0, 1, 0, spdp ? 0xc2 : 0x03], 20);
  return d;
}

function framed(d, port = 7660, ip = [127, 0, 0, 1]) {
  const f = new Uint8Array(8 + d.length);
  f.set([1, 0, port >> 8, port & 255, ...ip], 0);
  f.set(d, 8);
  return f;
}

function hex(s) {
  return Uint8Array.from(s.match(/../g).map((x) => parseInt(x, 16)));
}

test('hostile WebSocket clients are refused and counted; the honest session keeps working', async (t) => {
  if (!haveRelay(t)) return;
  const relay = await startRelay([
    '--listen', '127.0.0.1:0', '--domain', '52', '--no-multicast', '--ephemeral-ports',
    '--max-sessions', '3', '--max-datagrams-per-sec', '200', '--allow-origin', 'http://good.example',
  ]);
  t.after(() => relay.proc.kill());
  const base = `${relay.url}?domain=52`;

  // Bad token, no token, a foreign Origin, the wrong domain: refused at the handshake.
  const bad = await raw(base, { token: 'wrong' });
  assert.equal(bad.status, 401, `${JSON.stringify(bad.texts)} ${bad.error}\n${relay.proc.transcript()}`);
  assert.equal((await raw(base, { token: null })).status, 401);
  assert.equal((await raw(base, { origin: 'http://evil.example' })).status, 403);
  assert.equal((await raw(`${relay.url}?domain=7`)).status, 400);
  const good = await raw(base, { origin: 'http://good.example', token: null, protocols: ['pollen-relay', `pollen-token.${TOKEN}`] });
  assert.equal(good.status, 101);
  assert.equal(good.ws.protocol, 'pollen-relay');
  good.ws.close();

  // An honest participant (in this process) through the relay, bound to its prefix.
  const { connectRelay } = await import('../node.js');
  // Its SPDP goes to a port where nobody listens: it binds the session to its prefix.
  const victim = await connectRelay(relay.url, { token: TOKEN, WebSocket, domainId: 52, multicast: false, peers: ['127.0.0.1:7399'] });
  t.after(() => victim.close());
  await waitCounters(relay, (c) => c.datagramsUp >= 1);
  const port = victim.listenLocators().find((l) => !l.multicast && l.metatraffic).port;

  const evil = await raw(base);
  assert.equal(evil.status, 101);
  assert.equal(evil.texts[0].type, 'hello');
  // Garbage: too short, the wrong version, not RTPS, a text frame.
  evil.ws.send(new Uint8Array([1, 2, 3]));
  evil.ws.send(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0, 1, 2]));
  evil.ws.send(framed(new TextEncoder().encode('this is not an RTPS datagram at all')));
  evil.ws.send('{"hello":"relay"}');
  // Before its own SPDP: refused (unbound).
  evil.ws.send(framed(datagram(hex('0000aaaaaaaaaaaaaaaaaaaa'), { spdp: false })));
  // Spoofing the honest participant's prefix with a forged SPDP.
  evil.ws.send(framed(datagram(hex(victim.guidPrefix)), port));
  // Its own SPDP binds it; then another prefix is refused.
  evil.ws.send(framed(datagram(hex('0000bbbbbbbbbbbbbbbbbbbb'))));
  evil.ws.send(framed(datagram(hex('0000cccccccccccccccccccc'), { spdp: false })));
  // Destinations off loopback and broadcast are refused.
  evil.ws.send(framed(datagram(hex('0000bbbbbbbbbbbbbbbbbbbb'), { spdp: false }), 7410, [8, 8, 8, 8]));
  evil.ws.send(framed(datagram(hex('0000bbbbbbbbbbbbbbbbbbbb'), { spdp: false }), 7410, [255, 255, 255, 255]));
  // A flood over 200 datagrams/s.
  for (let i = 0; i < 1000; i++) evil.ws.send(framed(datagram(hex('0000bbbbbbbbbbbbbbbbbbbb'), { spdp: false })));

  const c = await waitCounters(relay, (x) => x.rateLimited >= 500 && x.spoofed >= 2);
  const log = relay.proc.transcript();
  assert.equal(c.refusedToken, 2, log);
  assert.equal(c.refusedOrigin, 1, log);
  assert.equal(c.refusedRequest, 1, log);
  assert.ok(c.garbage >= 3, log);
  assert.ok(c.textIgnored >= 1, log);
  assert.ok(c.unbound >= 1, log);
  assert.ok(c.spoofed >= 2, log);
  assert.ok(c.refusedDestination >= 2, log);
  assert.ok(c.rateLimited >= 500, log);
  const codes = new Set(evil.texts.filter((m) => m.type === 'error').map((m) => m.code));
  for (const code of ['GARBAGE', 'UNBOUND', 'SPOOFED', 'RATE_LIMITED', 'DESTINATION']) assert.ok(codes.has(code), `${[...codes]}\n${log}`);

  // The session limit (3): the victim, the evil one and one more; the fourth is refused.
  const third = await raw(base);
  assert.equal(third.status, 101);
  assert.equal((await raw(base)).status, 503);
  assert.ok((await waitCounters(relay, (x) => x.refusedFull >= 1)).refusedFull >= 1, log);

  // A WebSocket-level violation (an unmasked frame from a client) closes that session only.
  const sock = third.ws._socket;
  sock.write(Buffer.from([0x82, 0x02, 0xde, 0xad]));
  const p = await waitCounters(relay, (x) => x.protocolErrors >= 1);
  assert.ok(p.protocolErrors >= 1, relay.proc.transcript());

  // The honest participant still talks through the relay: a second one (unicast SPDP to the
  // first's relayed port) writes, the first reads.
  evil.ws.close();
  third.ws.close();
  await waitCounters(relay, (x) => x.sessions <= 1);
  const other = await connectRelay(relay.url, { token: TOKEN, WebSocket, domainId: 52, multicast: false, peers: [`127.0.0.1:${port}`] });
  t.after(() => other.close());
  const r = victim.createReader('hostile_ok', 'string');
  const w = other.createWriter('hostile_ok', 'string');
  await w.waitForReaders(1, { timeout: 15000 });
  const got = new Promise((resolve) => r.once('data', (s) => resolve(s.value)));
  w.write('still here');
  assert.equal(await got, 'still here');
  await other.close();
  await victim.close();
});

test("the relay's web page in Chromium: Cyclone's topic and samples, a string published to Cyclone; a screenshot", async (t) => {
  if (!readyNs(t, PEERS_PYTHON, 'cyclonedds', 'Cyclone DDS 11') || !CLIENTS['Chromium pollen-js'].ready(t)) return;
  const ns = new Netns('rl-page');
  t.after(() => ns.delete());
  const out = process.env.POLLEN_TEST_OUT ?? path.join(ROOT, 'target/js-test-output');
  mkdirSync(out, { recursive: true });
  const shot = path.join(out, 'relay-page.png');
  const relay = await startRelay(['--web', JS_DIR], { ns });
  const pub = cyclone(ns, 'pub', 10);
  const page = new Proc('page', NODE, [PAGE_CLIENT, `${relay.url.replace(/^ws:/, "http:")}?token=${TOKEN}`, 'rt/chatter', '10', '40', shot], { ns, env: cleanEnv() });
  const sawSamples = await page.waitForLine((l) => l === 'samples 10', 45000);
  const sub = cyclone(ns, 'sub', 1);
  const subOk = (await sub.wait(30000)) === 0;
  page.feed('', true);
  const [ps, pubs] = await Promise.all([page.wait(30000), pub.wait(30000)]);
  await relay.proc.kill();
  const log = `${page.transcript()}${pub.transcript()}${sub.transcript()}${relay.proc.transcript()}`.slice(0, 30000);
  assert.ok(sawSamples, log);
  assert.ok(page.out.some((l) => /^participants [1-9]/.test(l)), log);
  assert.ok(subOk, log);
  assert.match(sub.out[0] ?? '', /^from the page \d+$/, log);
  assert.equal(ps, 0, log);
  assert.equal(pubs, 0, log);
  assert.ok(statSync(shot).size > 10000, `screenshot ${shot}\n${log}`);
  assert.ok(counters(relay).httpRequests >= 5 || relay.proc.err.some((l) => l.includes('"httpRequests"')), log);
});
