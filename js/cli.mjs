#!/usr/bin/env node
// pollen-js: publish and subscribe from Node.js, like the native `pollen pub` / `pollen sub`.
//
//   pollen-js sub TOPIC [--count N] [--timeout S] [--json]
//   pollen-js pub TOPIC [MESSAGE] [--count N] [--rate HZ] [--wait-readers N] [--timeout S]
//
// Run `pollen-js --help` for every flag.

import { createParticipant } from './node.js';
import { createInterface } from 'node:readline';

const HELP = `usage: pollen-js sub|pub TOPIC [MESSAGE] [flags]

  sub TOPIC              print one line per sample (the string, or hex for raw types)
  pub TOPIC [MESSAGE]    write MESSAGE --count times, or one sample per stdin line

flags:
  --ros                  ROS 2 topic and std_msgs/msg/String (TOPIC becomes rt/TOPIC)
  --type pkg/msg/Type    any ROS 2 message type (TOPIC becomes rt/TOPIC): pub takes JSON
                         objects, sub prints them; definitions from AMENT_PREFIX_PATH,
                         --msg-path or the built-in ones (geometry_msgs Twist, Pose, ...)
  --msg-path DIR         a ROS 2 prefix or share directory to search for .msg files
  --type-name NAME       DDS type name (default DDS::String, or the ROS 2 one with --ros)
  --raw                  payloads as hex of the serialized bytes (any type)
  --domain N             DDS domain id (default 0)
  --interface NAME|ADDR  network interface (default POLLEN_INTERFACE, else loopback only)
  --peer ADDR[:PORT]     unicast discovery peer (repeatable; default 127.0.0.1)
  --no-multicast         no SPDP multicast (discovery through the peers only)
  --multicast-only       no unicast peers (discovery through SPDP multicast only)
  --best-effort          best-effort (default reliable)
  --transient-local      transient-local durability (default volatile)
  --keep-last N          KEEP_LAST(N) history (default KEEP_ALL)
  --partition P          partition (repeatable)
  --count N              sub: exit after N samples; pub: write MESSAGE N times (default 1)
  --rate HZ              pub: samples per second (default: as fast as acknowledged)
  --wait-readers N       pub: wait for N ready readers first (default 1)
  --linger S             pub: stay up S seconds after the last acknowledgement (default 0.2)
  --timeout S            give up after S seconds (exit 1)
  --json                 sub: one JSON object per sample
  -v, --verbose          discovery and matching on stderr, counters at the end`;

function fail(msg, code = 2) {
  process.stderr.write(`pollen-js: ${msg}\n`);
  process.exit(code);
}

function parse(argv) {
  const a = {
    cmd: argv[0],
    positional: [],
    peers: [],
    partitions: [],
    domain: 0,
    count: undefined,
    waitReaders: 1,
    linger: 0.2,
    multicast: true,
    multicastOnly: false,
    reliable: true,
    transientLocal: false,
    keepLast: undefined,
    json: false,
    ros: false,
    raw: false,
    type: undefined,
    msgPaths: [],
    verbose: false,
  };
  const num = (name, v, int = true) => {
    const n = Number(v);
    if (v === undefined || Number.isNaN(n) || (int && !Number.isInteger(n)) || n < 0) fail(`${name} needs a number`);
    return n;
  };
  for (let i = 1; i < argv.length; i++) {
    const f = argv[i];
    const next = () => argv[++i];
    switch (f) {
      case '--ros': a.ros = true; break;
      case '--raw': a.raw = true; break;
      case '--type-name': a.typeName = next(); break;
      case '--type': a.type = next(); break;
      case '--msg-path': a.msgPaths.push(next()); break;
      case '--domain': a.domain = num(f, next()); break;
      case '--interface': a.interface = next(); break;
      case '--peer': a.peers.push(next()); break;
      case '--no-multicast': a.multicast = false; break;
      case '--multicast-only': a.multicastOnly = true; break;
      case '--best-effort': a.reliable = false; break;
      case '--reliable': a.reliable = true; break;
      case '--transient-local': a.transientLocal = true; break;
      case '--keep-last': a.keepLast = num(f, next()); break;
      case '--partition': a.partitions.push(next()); break;
      case '--count': a.count = num(f, next()); break;
      case '--rate': a.rate = num(f, next(), false); break;
      case '--wait-readers': a.waitReaders = num(f, next()); break;
      case '--linger': a.linger = num(f, next(), false); break;
      case '--timeout': a.timeout = num(f, next(), false); break;
      case '--json': a.json = true; break;
      case '-v': case '--verbose': a.verbose = true; break;
      case '-h': case '--help': process.stdout.write(`${HELP}\n`); process.exit(0); break;
      default:
        if (f.startsWith('--')) fail(`unknown flag ${f} (see --help)`);
        a.positional.push(f);
    }
  }
  return a;
}

function hex(bytes) {
  return Buffer.from(bytes).toString('hex');
}

function fromHex(s) {
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) fail(`--raw: not hex: ${s}`);
  return Uint8Array.from(Buffer.from(s, 'hex'));
}

async function start(a) {
  const p = await createParticipant({
    domainId: a.domain,
    interface: a.interface,
    peers: a.peers.length > 0 ? a.peers : undefined,
    multicast: a.multicast,
    multicastOnly: a.multicastOnly,
    userData: a.ros || a.type ? 'enclave=/;' : undefined,
    rosPaths: a.msgPaths,
  });
  const log = (m) => a.verbose && process.stderr.write(`pollen-js: ${m}\n`);
  log(`participant ${p.guidPrefix} (id ${p.participantId}) in domain ${p.domainId} on ${p.address}${p.multicast ? ' with multicast' : ''}`);
  p.on('participantDiscovered', (e) => log(`participant ${e.guidPrefix} discovered`));
  p.on('participantLost', (e) => log(`participant ${e.guidPrefix} lost`));
  p.on('matched', (e) => log(`matched ${e.remote}`));
  p.on('unmatched', (e) => log(`unmatched ${e.remote}`));
  p.on('incompatibleQos', (e) => process.stderr.write(`pollen-js: ${e.remote} has incompatible QoS (${e.policy})\n`));
  p.on('refused', (e) => process.stderr.write(`pollen-js: the ${e.table} table is full; refused ${e.guid}\n`));
  p.on('error', (e) => process.stderr.write(`pollen-js: ${e.message}\n`));
  return p;
}

function typeOf(a) {
  if (a.type) {
    if (a.typeName || a.raw) fail('--type goes without --type-name and --raw');
    return a.type;
  }
  if (a.typeName) return { name: a.typeName, codec: a.raw ? 'raw' : 'string' };
  if (a.raw) fail('--raw needs --type-name');
  return a.ros ? 'std_msgs/msg/String' : 'string';
}

function qosOf(a) {
  return {
    reliability: a.reliable ? 'reliable' : 'best-effort',
    durability: a.transientLocal ? 'transient-local' : 'volatile',
    history: a.keepLast ?? 'all',
    partitions: a.partitions,
  };
}

function topicOf(a) {
  const t = a.positional[0];
  if (!t) fail('missing TOPIC (see --help)');
  // With --ros and an explicit type name, map the topic like the ROS type would.
  if (a.ros && a.typeName) return t.startsWith('rt/') ? t : `rt/${t.replace(/^\/+/, '')}`;
  return t;
}

// JSON with BigInts (int64/uint64 beyond 2^53 - 1) as exact numbers: each goes through as a
// string between NULs (which no CDR string holds), unquoted after.
function toJson(v) {
  const s = JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `\u0000${x}\u0000` : x));
  return s.replace(/"\\u0000(-?\d+)\\u0000"/g, '$1');
}

let finishing = false;
async function finish(p, a, code) {
  if (finishing) return;
  finishing = true;
  if (a.verbose) process.stderr.write(`pollen-js: ${JSON.stringify(p.stats())}\n`);
  await p.close();
  process.exit(code);
}

async function sub(a) {
  const p = await start(a);
  const r = p.createReader(topicOf(a), typeOf(a), qosOf(a));
  let got = 0;
  let timer;
  if (a.timeout !== undefined) {
    timer = setTimeout(() => {
      if (a.count !== undefined) {
        process.stderr.write(`pollen-js: timed out with ${got} of ${a.count} samples (matched writers: ${r.matchedWriters})\n`);
        finish(p, a, 1);
      } else finish(p, a, 0);
    }, a.timeout * 1000);
  }
  for await (const s of r) {
    let text;
    if (s.state !== 'alive') text = `[${s.state}]`;
    else if (a.type && s.value !== null) text = toJson(s.value);
    else if (a.raw || typeof s.value !== 'string') text = s.value === null ? `(undecodable) ${hex(s.data)}` : hex(s.data);
    else text = s.value;
    if (a.json) {
      process.stdout.write(`${toJson({
        writer: s.writer,
        sn: s.sequenceNumber,
        sourceTimestamp: s.sourceTimestamp,
        state: s.state,
        value: a.raw ? hex(s.data) : s.value,
      })}\n`);
    } else process.stdout.write(`${text}\n`);
    got += 1;
    if (a.count !== undefined && got >= a.count) break;
  }
  clearTimeout(timer);
  await finish(p, a, 0);
}

async function pub(a) {
  const p = await start(a);
  const w = p.createWriter(topicOf(a), typeOf(a), qosOf(a));
  const deadline = a.timeout === undefined ? Infinity : Date.now() + a.timeout * 1000;
  const left = () => Math.max(0, deadline - Date.now());
  try {
    await w.waitForReaders(a.waitReaders, { timeout: left() });
    // A best-effort writer cannot see whether its readers matched it yet.
    if (!a.reliable) await new Promise((r) => setTimeout(r, 250));
    const value = (m) => {
      if (a.raw) return fromHex(m);
      if (!a.type) return m;
      try {
        return JSON.parse(m);
      } catch (e) {
        throw Object.assign(new Error(`not a JSON message: ${e.message}`), { code: 'BAD_VALUE' });
      }
    };
    const period = a.rate ? 1000 / a.rate : 0;
    let next = Date.now();
    const pace = async () => {
      if (period > 0) {
        next += period;
        const d = next - Date.now();
        if (d > 0) await new Promise((r) => setTimeout(r, d));
      }
    };
    const message = a.positional[1];
    if (message !== undefined) {
      for (let i = 0; i < (a.count ?? 1); i++) {
        await w.writeAsync(value(message));
        await pace();
      }
    } else {
      const rl = createInterface({ input: process.stdin });
      for await (const line of rl) {
        await w.writeAsync(value(line));
        await pace();
      }
    }
    if (a.reliable) await w.waitForAcknowledgments({ timeout: left() });
    await new Promise((r) => setTimeout(r, a.linger * 1000));
  } catch (e) {
    if (e.code === 'TIMEOUT') {
      process.stderr.write(`pollen-js: ${e.message} (${w.matchedReaders} matched)\n`);
      await finish(p, a, 1);
    }
    throw e;
  }
  await finish(p, a, 0);
}

const a = parse(process.argv.slice(2));
if (a.cmd === 'sub') await sub(a);
else if (a.cmd === 'pub') await pub(a);
else if (a.cmd === '-h' || a.cmd === '--help') process.stdout.write(`${HELP}\n`);
else fail(`unknown command ${a.cmd ?? ''} (sub or pub; see --help)`);
