// pollen-js ↔ Cyclone DDS 11 (the Python cyclonedds package, std_msgs/String on rt/chatter),
// both ways, with SPDP multicast (Cyclone's default configuration) and with unicast
// discovery only (Cyclone configured for lo without multicast, pollen-js --no-multicast
// --peer 127.0.0.1). Each test has a network namespace whose only interface is lo.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CYCLONE_LO_XML, CYCLONE_STRING_PY, DISCOVERY, Netns, PEERS_PYTHON, Proc, cleanEnv, isRoot,
  jsToPeer, need, peerToJs, pythonImports,
} from './helpers.mjs';

after(() => Proc.killAll());

const dir = mkdtempSync(path.join(tmpdir(), 'pollen-js-cyclone-'));
const loXml = path.join(dir, 'cyclone-lo.xml');
writeFileSync(loXml, CYCLONE_LO_XML);

function ready(t) {
  return (
    need(t, isRoot(), 'network namespaces need root') &&
    need(t, pythonImports(PEERS_PYTHON, 'cyclonedds'), `no Python with cyclonedds==11.0.1 at ${PEERS_PYTHON} (.venv-peers)`)
  );
}

function cyclone(mode, count, disc) {
  const env = cleanEnv({ DOMAIN: '0' });
  if (disc === 'unicast') env.CYCLONEDDS_URI = `file://${loXml}`;
  return (ns) => new Proc(`cyclone ${mode}`, PEERS_PYTHON, [CYCLONE_STRING_PY, mode, 'rt/chatter', String(count), '25'], { ns, env });
}

for (const disc of ['multicast', 'unicast']) {
  test(`Cyclone DDS 11 → pollen-js, ${disc} discovery`, async (t) => {
    if (!ready(t)) return;
    const ns = new Netns(`cy-in-${disc}`);
    t.after(() => ns.delete());
    const expected = Array.from({ length: 10 }, (_, i) => `msg ${i}`);
    const r = await peerToJs({ ns, jsArgs: ['chatter', '--ros', ...DISCOVERY[disc]], peer: cyclone('pub', 10, disc), expected });
    assert.ok(r.ok, `exit statuses ${r.statuses}\n${r.log}`);
    assert.deepEqual(r.sub.out, expected, r.log);
  });

  test(`pollen-js → Cyclone DDS 11, ${disc} discovery`, async (t) => {
    if (!ready(t)) return;
    const ns = new Netns(`cy-out-${disc}`);
    t.after(() => ns.delete());
    const lines = Array.from({ length: 10 }, (_, i) => `hello ${i}`);
    const r = await jsToPeer({ ns, jsArgs: ['chatter', '--ros', ...DISCOVERY[disc]], peer: cyclone('sub', 10, disc), lines });
    assert.ok(r.ok, `exit statuses ${r.statuses}\n${r.log}`);
    assert.deepEqual(r.peer.out, lines, r.log);
  });
}
