// The package's API in one Node.js process: two participants over UDP on 127.0.0.1 (domains
// 43-44, away from other tests), strings by callback and async iteration, raw bytes, events,
// statistics, hostile datagrams, and two participants over an in-memory Transport (the
// plug-in point a browser's WebSocket relay transport uses).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import {
  Participant, PollenError, createParticipant, decodeString, encodeString, ipToU32, parsePeer,
  resolveType, rosTopic, u32ToIp,
} from '../node.js';

const DOMAIN = 43 + (process.pid % 2);

test('codecs and helpers', () => {
  assert.deepEqual([...encodeString('hi')], [0, 1, 0, 1, 3, 0, 0, 0, 104, 105, 0, 0]);
  assert.equal(decodeString(encodeString('ünï')), 'ünï');
  assert.equal(decodeString(new Uint8Array([1, 2])), undefined);
  assert.equal(ipToU32('127.0.0.1'), 0x7f000001);
  assert.equal(ipToU32('300.0.0.1'), 0);
  assert.equal(u32ToIp(0xeffe0001), '239.254.0.1');
  assert.deepEqual(parsePeer('127.0.0.1:7410'), { address: '127.0.0.1', port: 7410 });
  assert.throws(() => parsePeer('nowhere'), PollenError);
  assert.equal(rosTopic('/chatter'), 'rt/chatter');
  assert.deepEqual(resolveType('std_msgs/msg/String'), { typeName: 'std_msgs::msg::dds_::String_', codec: 'string', ros: true, keyed: false, rosType: 'std_msgs/msg/String' });
  assert.equal(resolveType('geometry_msgs/msg/Twist').codec, 'ros');
  assert.throws(() => resolveType('raw'), /needs a name/);
});

test('two participants on loopback: strings, bytes, events, stats', async () => {
  const a = await createParticipant({ domainId: DOMAIN });
  const b = await createParticipant({ domainId: DOMAIN });
  try {
    assert.equal(a.address, '127.0.0.1');
    assert.notEqual(a.participantId, b.participantId);
    const discovered = new Promise((resolve) => b.on('participantDiscovered', resolve));

    // Strings, to a callback and to an async iterator at once.
    const w = a.createWriter('chatter', 'std_msgs/msg/String');
    const r = b.createReader('chatter', 'std_msgs/msg/String');
    assert.equal(w.topic, 'rt/chatter');
    const byCallback = [];
    r.on('data', (s) => byCallback.push(s.value));
    const iterated = (async () => {
      const got = [];
      for await (const s of r) {
        assert.equal(s.state, 'alive');
        assert.equal(s.writer, w.guid);
        assert.ok(s.sourceTimestamp > Date.now() - 60000);
        got.push(s.value);
        if (got.length === 5) break;
      }
      return got;
    })();
    const matched = new Promise((resolve) => w.once('matched', resolve));
    await w.waitForReaders(1, { timeout: 5000 });
    assert.equal((await matched).remote, r.guid);
    for (let i = 0; i < 5; i++) await w.writeAsync(`hello ${i}`);
    await w.waitForAcknowledgments({ timeout: 5000 });
    const expected = ['hello 0', 'hello 1', 'hello 2', 'hello 3', 'hello 4'];
    assert.deepEqual(await iterated, expected);
    assert.deepEqual(byCallback, expected);
    assert.equal((await discovered).guidPrefix, a.guidPrefix);

    // Raw bytes on a type of our own, best effort, KEEP_LAST.
    const type = { name: 'test::Blob', codec: 'raw' };
    const qos = { reliability: 'best-effort', history: 4 };
    const wb = a.createWriter('blobs', type, qos);
    const rb = b.createReader('blobs', type, qos);
    await wb.waitForReaders(1, { timeout: 5000 });
    await rb.waitForWriters(1, { timeout: 5000 });
    const blob = new Uint8Array([0, 1, 0, 0, 9, 8, 7, 6]);
    const got = new Promise((resolve) => rb.once('data', resolve));
    // Best effort: resend until one arrives.
    const timer = setInterval(() => wb.write(blob), 20);
    const s = await got;
    clearInterval(timer);
    assert.deepEqual([...s.value], [...blob]);

    // What the participants know and count.
    assert.ok(b.endpoints().some((e) => e.topic === 'blobs' && e.kind === 'writer' && e.typeName === 'test::Blob'));
    assert.ok(a.participants().some((p) => p.guidPrefix === b.guidPrefix));
    const st = a.stats();
    assert.ok(st.engine.samples_written >= 6, JSON.stringify(st));
    assert.ok(st.transport.datagramsSent > 0 && st.transport.sendErrors === 0, JSON.stringify(st));
    assert.equal(st.driver.refusedOffLoopback, 0);

    assert.throws(() => a.createWriter('x', 'string', { history: 0 }), /history/);
    assert.throws(() => w.write(42), /string .* or bytes/);
    w.close();
    assert.throws(() => w.write('late'), (e) => e.code === 'CLOSED');
  } finally {
    await a.close();
    await b.close();
  }
  assert.throws(() => a.createWriter('x'), (e) => e.code === 'CLOSED');
});

test('hostile datagrams are dropped and counted, never fatal', async () => {
  const a = await createParticipant({ domainId: DOMAIN, multicast: false, peers: [] });
  const b = await createParticipant({ domainId: DOMAIN, multicast: false, peers: ['127.0.0.1'] });
  const port = a.listenLocators().find((l) => l.metatraffic && !l.multicast).port;
  const sock = dgram.createSocket('udp4');
  try {
    const junk = [
      Buffer.alloc(0),
      Buffer.from('RTPS'),
      Buffer.concat([Buffer.from('RTPS\x02\x01\x00\x00'), Buffer.alloc(12, 1), Buffer.alloc(40, 0xff)]),
      Buffer.alloc(2000, 0x15),
    ];
    for (let i = 0; i < 50; i++) {
      for (const j of junk) sock.send(j, port, '127.0.0.1');
    }
    // Meanwhile a real participant still gets through.
    const w = b.createWriter('after_junk');
    const r = a.createReader('after_junk');
    await w.waitForReaders(1, { timeout: 8000 });
    await w.writeAsync('still here');
    const [s] = await Promise.all([new Promise((resolve) => r.once('data', resolve)), w.waitForAcknowledgments({ timeout: 5000 })]);
    assert.equal(s.value, 'still here');
    const e = a.stats().engine;
    assert.ok(e.dropped_not_rtps + e.dropped_malformed + e.dropped_version + e.dropped_invalid > 0, JSON.stringify(e));
  } finally {
    sock.close();
    await a.close();
    await b.close();
  }
});

/** An in-memory network: each transport owns a unicast port pair, datagrams are queued. */
class MemoryNet {
  ports = new Map();

  transport() {
    const net = this;
    let sink;
    let mine = [];
    return {
      async open(request, s) {
        sink = s;
        for (let id = 0; ; id++) {
          const p = request.ports(id);
          if (!net.ports.has(p.metatraffic)) {
            mine = [p.metatraffic, p.user];
            for (const port of mine) net.ports.set(port, (data, from) => sink.ondatagram(data, from, { address: '127.0.0.1', port }));
            return { address: '127.0.0.1', participantId: id, multicast: false };
          }
        }
      },
      send(data, to) {
        const deliver = net.ports.get(to.port);
        if (to.address === '127.0.0.1' && deliver) {
          const copy = Uint8Array.from(data);
          setTimeout(() => deliver(copy, { address: '127.0.0.1', port: mine[0] }), 1);
        }
        return true;
      },
      close() {
        for (const p of mine) net.ports.delete(p);
      },
    };
  }
}

test('a custom transport carries a participant (the browser relay plug-in point)', async () => {
  const net = new MemoryNet();
  const a = await Participant.create(net.transport(), { domainId: 5, multicast: false, peers: ['127.0.0.1'] });
  const b = await Participant.create(net.transport(), { domainId: 5, multicast: false, peers: ['127.0.0.1'] });
  try {
    assert.deepEqual([a.participantId, b.participantId], [0, 1]);
    assert.equal(a.multicast, false);
    const w = a.createWriter('mem', 'string', { durability: 'transient-local', history: 10 });
    w.write('written before anyone listened');
    const r = b.createReader('mem', 'string', { durability: 'transient-local' });
    const it = r[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.value.value, 'written before anyone listened');
    await it.return();
    r.close();
    assert.equal((await it.next()).done, true);
  } finally {
    await a.close();
    await b.close();
  }
});
