// pollen-js ↔ Fast DDS 2.9 (our small C++ peer, tests/peers/fastdds_peer.cpp, pinned to
// 127.0.0.1; std_msgs/String layout on rt/chatter), both ways, with pollen-js discovering by
// SPDP multicast only and by unicast peers only (Fast DDS itself announces both ways). Each
// test has a network namespace whose only interface is lo.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { DISCOVERY, FASTDDS_PEER, Netns, Proc, cleanEnv, isRoot, jsToPeer, need, peerToJs } from './helpers.mjs';

after(() => Proc.killAll());

function ready(t) {
  return (
    need(t, isRoot(), 'network namespaces need root') &&
    need(t, existsSync(FASTDDS_PEER), `no Fast DDS peer at ${FASTDDS_PEER} (scripts/test.sh peers builds it)`)
  );
}

function fastdds(mode, count) {
  const args = [mode, '--topic', 'rt/chatter', '--type', 'string', '--count', String(count), '--timeout', '25', '--domain', '0'];
  return (ns) => new Proc(`fastdds ${mode}`, FASTDDS_PEER, args, { ns, env: cleanEnv() });
}

for (const disc of ['multicast', 'unicast']) {
  test(`Fast DDS 2.9 → pollen-js, ${disc} discovery`, async (t) => {
    if (!ready(t)) return;
    const ns = new Netns(`fd-in-${disc}`);
    t.after(() => ns.delete());
    const expected = Array.from({ length: 10 }, (_, i) => `hello ${i}`);
    const r = await peerToJs({ ns, jsArgs: ['chatter', '--ros', ...DISCOVERY[disc]], peer: fastdds('pub', 10), expected });
    assert.ok(r.ok, `exit statuses ${r.statuses}\n${r.log}`);
    assert.deepEqual(r.sub.out, expected, r.log);
    assert.ok(r.peer.out.includes('acknowledged 10'), r.log);
  });

  test(`pollen-js → Fast DDS 2.9, ${disc} discovery`, async (t) => {
    if (!ready(t)) return;
    const ns = new Netns(`fd-out-${disc}`);
    t.after(() => ns.delete());
    const lines = Array.from({ length: 10 }, (_, i) => `js ${i}`);
    const r = await jsToPeer({ ns, jsArgs: ['chatter', '--ros', ...DISCOVERY[disc]], peer: fastdds('sub', 10), lines });
    assert.ok(r.ok, `exit statuses ${r.statuses}\n${r.log}`);
    assert.deepEqual(r.peer.out, lines.map((l) => `alive 0 0 ${l}`), r.log);
  });
}
