// pollen-js ↔ a real ROS 2 (rclpy from ROS 2 Jazzy, rmw_fastrtps_cpp), std_msgs/String on
// /chatter, both ways, with pollen-js discovering by SPDP multicast only and by unicast peers
// only; then typed messages as JS objects, both ways: geometry_msgs/Twist (a built-in
// definition) and geometry_msgs/TwistStamped (its .msg read from the ROS 2 install, the venv's
// share/). rclpy keeps its default configuration inside a network namespace whose only
// interface is lo.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { DISCOVERY, Netns, Proc, RCLPY_STRING_PY, RCLPY_TWIST_PY, ROS_PYTHON, cleanEnv, isRoot, jsToPeer, need, peerToJs, pythonImports } from './helpers.mjs';

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

// The ROS 2 prefix of the venv (its share/ holds the .msg files).
const ROS_PREFIX = path.dirname(path.dirname(ROS_PYTHON));

function twist(i) {
  return { linear: { x: i + 0.5, y: 0, z: 0 }, angular: { x: 0, y: 0, z: i === 0 ? 0 : -i } };
}

const TYPED = {
  twist: { type: 'geometry_msgs/msg/Twist', message: twist, disc: 'multicast' },
  twist_stamped: {
    type: 'geometry_msgs/msg/TwistStamped',
    message: (i) => ({ header: { stamp: { sec: i, nanosec: 0 }, frame_id: `f${i}` }, twist: twist(i) }),
    disc: 'unicast',
  },
};

function typedReady(t) {
  return (
    need(t, isRoot(), 'network namespaces need root') &&
    need(t, pythonImports(ROS_PYTHON, 'rclpy, geometry_msgs.msg'), `no rclpy with geometry_msgs at ${ROS_PYTHON} (.venv-ros)`)
  );
}

for (const [kind, { type, message, disc }] of Object.entries(TYPED)) {
  const jsArgs = ['cmd_vel', '--type', type, '--msg-path', ROS_PREFIX, ...DISCOVERY[disc]];
  const expected = Array.from({ length: 5 }, (_, i) => message(i));
  const peer = (mode) => (ns) =>
    new Proc(`rclpy ${mode}`, ROS_PYTHON, [RCLPY_TWIST_PY, mode, '/cmd_vel', kind, '5', '25'], { ns, env: cleanEnv() });

  test(`rclpy → pollen-js, ${type} as objects`, async (t) => {
    if (!typedReady(t)) return;
    const ns = new Netns(`ros-${kind}-in`);
    t.after(() => ns.delete());
    const r = await peerToJs({ ns, jsArgs, peer: peer('pub'), expected });
    assert.ok(r.ok, `exit statuses ${r.statuses}\n${r.log}`);
    assert.deepEqual(r.sub.out.map((l) => JSON.parse(l)), expected, r.log);
  });

  test(`pollen-js → rclpy, ${type} as objects`, async (t) => {
    if (!typedReady(t)) return;
    const ns = new Netns(`ros-${kind}-out`);
    t.after(() => ns.delete());
    // Only the fields that are not zero: the others take their zero value.
    const lines = expected.map((m) => JSON.stringify(m, (_k, v) => (v === 0 ? undefined : v)));
    const r = await jsToPeer({ ns, jsArgs, peer: peer('sub'), lines });
    assert.ok(r.ok, `exit statuses ${r.statuses}\n${r.log}`);
    assert.deepEqual(r.peer.out.map((l) => JSON.parse(l)), expected, r.log);
  });
}
