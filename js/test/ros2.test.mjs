// pollen-js ↔ a real ROS 2 (rclpy from ROS 2 Jazzy, rmw_fastrtps_cpp), std_msgs/String on
// /chatter, both ways, with pollen-js discovering by SPDP multicast only and by unicast peers
// only. rclpy keeps its default configuration inside a network namespace whose only
// interface is lo.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { DISCOVERY, Netns, Proc, RCLPY_STRING_PY, ROS_PYTHON, cleanEnv, isRoot, jsToPeer, need, peerToJs, pythonImports } from './helpers.mjs';

after(() => Proc.killAll());

function ready(t) {
  return (
    need(t, isRoot(), 'network namespaces need root') &&
    need(t, pythonImports(ROS_PYTHON, 'rclpy, std_msgs.msg'), `no rclpy at ${ROS_PYTHON} (.venv-ros)`)
  );
}

function rclpy(mode, count) {
  return (ns) => new Proc(`rclpy ${mode}`, ROS_PYTHON, [RCLPY_STRING_PY, mode, '/chatter', String(count), '25'], { ns, env: cleanEnv() });
}

for (const disc of ['multicast', 'unicast']) {
  test(`rclpy → pollen-js, ${disc} discovery`, async (t) => {
    if (!ready(t)) return;
    const ns = new Netns(`ros-in-${disc}`);
    t.after(() => ns.delete());
    const expected = Array.from({ length: 10 }, (_, i) => `ros ${i}`);
    const r = await peerToJs({ ns, jsArgs: ['chatter', '--ros', ...DISCOVERY[disc]], peer: rclpy('pub', 10), expected });
    assert.ok(r.ok, `exit statuses ${r.statuses}\n${r.log}`);
    assert.deepEqual(r.sub.out, expected, r.log);
  });

  test(`pollen-js → rclpy, ${disc} discovery`, async (t) => {
    if (!ready(t)) return;
    const ns = new Netns(`ros-out-${disc}`);
    t.after(() => ns.delete());
    const lines = Array.from({ length: 10 }, (_, i) => `js ${i}`);
    const r = await jsToPeer({ ns, jsArgs: ['chatter', '--ros', ...DISCOVERY[disc]], peer: rclpy('sub', 10), lines });
    assert.ok(r.ok, `exit statuses ${r.statuses}\n${r.log}`);
    assert.deepEqual(r.peer.out, lines, r.log);
  });
}
