// ROS 2 messages of any type from plain JS objects, through pollen-app's ros_value compiled
// into the wasm: the bytes (pinned by the Rust tests in js/src/ros.rs), the errors, BigInts,
// definitions as text and from an AMENT_PREFIX_PATH-like directory, and a Twist between two
// participants on 127.0.0.1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  PollenError, amentResolver, createParticipant, decodeRos, encodeRos, ensureRosType, missingRosTypes, registerRosType,
} from '../node.js';

const hex = (b) => Buffer.from(b).toString('hex');

function twistBytes(lx, az) {
  const b = Buffer.alloc(52);
  b.set([0, 1, 0, 0]);
  b.writeDoubleLE(lx, 4);
  b.writeDoubleLE(az, 44);
  return hex(b);
}

// The same bytes as PINNED_MIX in js/src/ros.rs.
const PINNED_MIX = [
  '00010000', '07000000', '09000000', '040000006d617000', '02000000', '020000006100', '0000',
  '0300000062630000', '0100feff0300', '0000', '01000000ff', '000000', '01000000',
  '000000000000f83f', '0000000000000000', '0000000000000000', 'ffffffffffffdfff',
  'ffffffffffffffff', '01',
].join('');

const MIX = 'std_msgs/Header header\nstring[] names\nint16[3] trio\nuint8[] blob\n' +
  'geometry_msgs/Point[<=2] points\nint64 big\nuint64 ubig\nbool on\n';

test('Twist: missing fields are zero, the bytes are the Rust ones, and back', () => {
  const b = encodeRos('geometry_msgs/msg/Twist', { linear: { x: 0.5 }, angular: { z: -1.25 } });
  assert.ok(b instanceof Uint8Array);
  assert.equal(hex(b), twistBytes(0.5, -1.25));
  assert.deepEqual(decodeRos('geometry_msgs/msg/Twist', b), {
    linear: { x: 0.5, y: 0, z: 0 },
    angular: { x: 0, y: 0, z: -1.25 },
  });
  assert.equal(hex(encodeRos('geometry_msgs/msg/Twist', {})), twistBytes(0, 0));
});

test('a nested type with strings, arrays, bytes and 64-bit integers', () => {
  assert.deepEqual(missingRosTypes('t/msg/Mix'), ['t/msg/Mix']);
  assert.equal(registerRosType('t/Mix', MIX), 't/msg/Mix');
  assert.deepEqual(missingRosTypes('t/msg/Mix'), []);
  const value = {
    header: { stamp: { sec: 7, nanosec: 9 }, frame_id: 'map' },
    names: ['a', 'bc'],
    trio: [1, -2, 3],
    blob: new Uint8Array([255]),
    points: [{ x: 1.5 }],
    big: -9007199254740993n,
    ubig: 18446744073709551615n,
    on: true,
  };
  const b = encodeRos('t/msg/Mix', value);
  assert.equal(hex(b), PINNED_MIX);
  const back = decodeRos('t/msg/Mix', b);
  assert.deepEqual(back, { ...value, blob: [255], points: [{ x: 1.5, y: 0, z: 0 }] });
  assert.equal(typeof back.big, 'bigint');
  // Within Number.MAX_SAFE_INTEGER: numbers (either way in).
  const small = decodeRos('t/msg/Mix', encodeRos('t/msg/Mix', { big: 5n, ubig: 2 ** 53 - 1 }));
  assert.equal(small.big, 5);
  assert.equal(small.ubig, 2 ** 53 - 1);
});

test('bad values are refused with the field path, bad bytes with BAD_DATA', () => {
  const refused = (type, value, re) =>
    assert.throws(() => encodeRos(type, value), (e) => e instanceof PollenError && e.code === 'BAD_VALUE' && re.test(e.message), re.source);
  refused('geometry_msgs/msg/Twist', { linear: { w: 1 } }, /^linear\.w: geometry_msgs\/msg\/Vector3 has no field "w"/);
  refused('geometry_msgs/msg/Twist', { linear: { x: 'fast' } }, /^linear\.x: expected a number/);
  refused('geometry_msgs/msg/Twist', { linear: 3 }, /^linear: expected a mapping/);
  refused('geometry_msgs/msg/Twist', { angular: { z: NaN } }, /z: NaN cannot be sent/);
  refused('t/msg/Mix', { trio: [1, 2] }, /^trio: expected exactly 3 elements/);
  refused('t/msg/Mix', { trio: [1, 2, 40000] }, /^trio\[2\]: 40000 does not fit int16/);
  refused('t/msg/Mix', { points: [{}, {}, {}] }, /^points: at most 2 elements/);
  refused('t/msg/Mix', { header: { stamp: { sec: 2 ** 31 } } }, /^header\.stamp\.sec: 2147483648 does not fit int32/);
  refused('t/msg/Mix', { ubig: 2 ** 60 }, /^ubig: .* beyond Number\.MAX_SAFE_INTEGER .* BigInt/);
  refused('t/msg/Mix', { big: 2n ** 64n }, /^big: .* does not fit 64 bits/);
  refused('t/msg/Mix', { nope: 1 }, /^nope: t\/msg\/Mix has no field/);
  assert.throws(() => decodeRos('geometry_msgs/msg/Twist', new Uint8Array([0, 1, 0, 0, 1])), { code: 'BAD_DATA' });
  assert.throws(() => decodeRos('t/msg/Mix', new Uint8Array([0, 9, 0, 0])), { code: 'BAD_DATA' });
  assert.throws(() => registerRosType('t/msg/Bad', 'int32'), { code: 'BAD_DEFINITION' });
  assert.throws(() => registerRosType('not a type', 'int32 x'), { code: 'BAD_DEFINITION' });
  // A definition that contains itself is refused, never recursed into.
  registerRosType('t/msg/Loop', 't/Loop again\n');
  assert.throws(() => encodeRos('t/msg/Loop', {}), /contains itself/);
  assert.throws(() => decodeRos('t/msg/Loop', new Uint8Array([0, 1, 0, 0, 1])), /contains itself/);
});

test('definitions from a share directory (AMENT_PREFIX_PATH layout) and UNKNOWN_TYPE', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pollen-ros-'));
  mkdirSync(path.join(dir, 'share/demo_msgs/msg'), { recursive: true });
  writeFileSync(path.join(dir, 'share/demo_msgs/msg/Reading.msg'), '# a reading\nstd_msgs/Header header\nInner[] inner\n');
  writeFileSync(path.join(dir, 'share/demo_msgs/msg/Inner.msg'), 'float32 v\n');
  const resolve = amentResolver([], { AMENT_PREFIX_PATH: dir });
  assert.throws(() => ensureRosType('demo_msgs/msg/Reading'), { code: 'UNKNOWN_TYPE' });
  ensureRosType('demo_msgs/msg/Reading', resolve);
  const v = { header: { frame_id: 'f' }, inner: [{ v: 0.25 }] };
  const back = decodeRos('demo_msgs/msg/Reading', encodeRos('demo_msgs/msg/Reading', v));
  assert.deepEqual(back, { header: { stamp: { sec: 0, nanosec: 0 }, frame_id: 'f' }, inner: [{ v: 0.25 }] });
  assert.equal(resolve('../etc/passwd'), undefined);
});

test('a Twist between two participants, and the options', async () => {
  const defs = { 'demo_msgs/msg/Level': 'uint8 level\nstring note\n' };
  const a = await createParticipant({ rosDefinitions: defs });
  const b = await createParticipant({ rosResolver: () => undefined });
  try {
    assert.throws(() => b.createReader('x', 'nowhere_msgs/msg/Nothing'), { code: 'UNKNOWN_TYPE' });
    const w = a.createWriter('cmd_vel', 'geometry_msgs/msg/Twist');
    const r = b.createReader('/cmd_vel', 'geometry_msgs/msg/Twist');
    assert.equal(w.topic, 'rt/cmd_vel');
    assert.equal(w.typeName, 'geometry_msgs::msg::dds_::Twist_');
    await w.waitForReaders(1, { timeout: 10000 });
    assert.throws(() => w.write('fast'), { code: 'BAD_VALUE' });
    assert.throws(() => w.write({ linear: { q: 1 } }), /linear\.q/);
    w.write({ linear: { x: 0.5 }, angular: { z: 1 } });
    w.write(encodeRos('geometry_msgs/msg/Twist', { linear: { y: 2 } }));
    const got = [];
    for await (const s of r) {
      got.push(s.value);
      if (got.length === 2) break;
    }
    assert.deepEqual(got, [
      { linear: { x: 0.5, y: 0, z: 0 }, angular: { x: 0, y: 0, z: 1 } },
      { linear: { x: 0, y: 2, z: 0 }, angular: { x: 0, y: 0, z: 0 } },
    ]);
    // std_msgs/msg/String stays a string, and takes its object too.
    const ws = a.createWriter('chat', 'std_msgs/msg/String');
    const rs = b.createReader('chat', 'std_msgs/msg/String');
    await ws.waitForReaders(1, { timeout: 10000 });
    ws.write({ data: 'object' });
    ws.write('string');
    const strings = [];
    for await (const s of rs) {
      strings.push(s.value);
      if (strings.length === 2) break;
    }
    assert.deepEqual(strings, ['object', 'string']);
    // rosDefinitions were registered (a module-wide registry).
    assert.deepEqual(decodeRos('demo_msgs/msg/Level', encodeRos('demo_msgs/msg/Level', { level: 3 })), { level: 3, note: '' });
  } finally {
    await a.close();
    await b.close();
  }
});
