// The relay's page: a pollen-js participant through the relay that served it. It lists the
// participants and topics it discovers (SPDP, SEDP), shows the samples of a chosen topic with
// their rate (a best-effort reader, which matches reliable and best-effort writers alike), and
// publishes strings on it (a reliable writer of the topic's type, for string types).

import { connectRelay } from '/index.js';

const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
const state = { p: null, reader: null, writer: null, topic: null, count: 0, perSecond: [], bucket: 0, lastSecond: 0 };
window.pollenPage = state;

const STRING_TYPES = new Set(['std_msgs::msg::dds_::String_', 'DDS::String', 'String']);

function text(v) {
  const s = typeof v === 'string' ? v : Array.from(v.subarray(0, 32), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return s.length > 200 ? `${s.slice(0, 200)}… (${s.length})` : s;
}

function rows(tbody, list, cells, onclick) {
  tbody.replaceChildren(
    ...list.map((item) => {
      const tr = document.createElement('tr');
      for (const c of cells(item)) {
        const td = document.createElement('td');
        td.textContent = String(c);
        tr.append(td);
      }
      if (onclick) {
        tr.className = `topic${item.topic === state.topic ? ' selected' : ''}`;
        tr.onclick = () => onclick(item);
      }
      return tr;
    }),
  );
}

function topics() {
  const by = new Map();
  for (const e of state.p.endpoints()) {
    const t = by.get(e.topic) ?? { topic: e.topic, typeName: e.typeName, writers: 0, readers: 0 };
    if (e.kind === 'writer') t.writers += 1;
    else t.readers += 1;
    by.set(e.topic, t);
  }
  return [...by.values()].sort((a, b) => a.topic.localeCompare(b.topic));
}

function refresh() {
  const p = state.p;
  if (!p || p.closed) return;
  rows($('participants').tBodies[0], p.participants(), (x) => [x.guidPrefix, x.vendorName || x.vendor, x.userData]);
  rows($('topics').tBodies[0], topics(), (t) => [t.topic, t.typeName, t.writers, t.readers], select);
  const tr = p.stats().transport;
  $('status').textContent = `participant ${p.guidPrefix} on ${p.address}, ports ${state.ports} · ` +
    `up ${tr.datagramsSent} / down ${tr.datagramsReceived} datagrams${tr.lastError ? ` · ${tr.lastError}` : ''}`;
}

function tick() {
  const now = Math.floor(performance.now() / 1000);
  while (state.lastSecond < now) {
    state.perSecond.push(state.bucket);
    state.bucket = 0;
    state.lastSecond += 1;
  }
  state.perSecond = state.perSecond.slice(-60);
  $('rate-now').textContent = String(state.perSecond.at(-1) ?? 0);
  draw();
}

function draw() {
  const c = $('rate');
  const g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  const data = state.perSecond;
  const max = Math.max(1, ...data);
  g.strokeStyle = '#ccc';
  g.beginPath();
  g.moveTo(0, c.height - 0.5);
  g.lineTo(c.width, c.height - 0.5);
  g.stroke();
  g.fillStyle = '#555';
  g.fillText(`${max}/s`, 4, 12);
  g.strokeStyle = '#2a6ad8';
  g.lineWidth = 2;
  g.beginPath();
  data.forEach((v, i) => {
    const x = (i / 59) * c.width;
    const y = c.height - 4 - (v / max) * (c.height - 20);
    if (i === 0) g.moveTo(x, y);
    else g.lineTo(x, y);
  });
  g.stroke();
}

function select(t) {
  const p = state.p;
  state.reader?.close();
  state.writer?.close();
  state.topic = t.topic;
  state.count = 0;
  state.bucket = 0;
  state.perSecond = [];
  $('samples').textContent = '';
  $('topic-name').textContent = `${t.topic} (${t.typeName})`;
  const codec = STRING_TYPES.has(t.typeName) ? 'string' : 'raw';
  const type = { name: t.typeName, codec };
  state.reader = p.createReader(t.topic, type, { reliability: 'best-effort' });
  state.reader.on('data', (s) => {
    if (s.state !== 'alive') return;
    state.count += 1;
    state.bucket += 1;
    $('count').textContent = String(state.count);
    const pre = $('samples');
    pre.textContent = `${text(s.value ?? s.data)}\n${pre.textContent}`.slice(0, 20000);
  });
  state.writer = codec === 'string' ? p.createWriter(t.topic, type) : null;
  $('send').disabled = state.writer === null;
  refresh();
}

$('publish').onsubmit = async (ev) => {
  ev.preventDefault();
  if (!state.writer) return;
  const v = $('text').value || 'hello from the browser';
  try {
    const sn = await state.writer.writeAsync(v);
    $('published').textContent = `published #${sn}: ${v}`;
  } catch (e) {
    $('published').innerHTML = '';
    $('published').append(Object.assign(document.createElement('span'), { className: 'err', textContent: e.message }));
  }
};

try {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
  state.p = await connectRelay(url, { token: q.get('token') ?? '', domainId: Number(q.get('domain') ?? 0), peers: ['127.0.0.1'] });
  const l = state.p.listenLocators().filter((x) => !x.multicast).map((x) => x.port);
  state.ports = l.join('/');
  state.lastSecond = Math.floor(performance.now() / 1000);
  setInterval(refresh, 1000);
  setInterval(tick, 1000);
  refresh();
  document.body.dataset.ready = '1';
} catch (e) {
  $('status').innerHTML = '';
  $('status').append(Object.assign(document.createElement('span'), { className: 'err', textContent: `cannot join through the relay: ${e.message}` }));
}
