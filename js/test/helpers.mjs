// Process and namespace helpers for the JavaScript package's tests: every child is killed
// when its test ends (also when an assertion fails), every wait is bounded, and network tests
// run in a namespace of their own whose only interface is `lo`.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const JS_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const ROOT = path.dirname(JS_DIR);
export const CLI = path.join(JS_DIR, 'cli.mjs');
export const NODE = process.execPath;

/** Under CI (or POLLEN_REQUIRE_PEERS=1) a missing peer fails the test instead of skipping. */
export const REQUIRE_PEERS = process.env.CI === 'true' || process.env.POLLEN_REQUIRE_PEERS === '1';

export const PEERS_PYTHON = process.env.POLLEN_PEERS_PYTHON ?? path.join(ROOT, '.venv-peers/bin/python');
export const ROS_PYTHON = process.env.POLLEN_ROS_PYTHON ?? path.join(ROOT, '.venv-ros/bin/python');
export const FASTDDS_PEER = process.env.POLLEN_FASTDDS_PEER ?? path.join(ROOT, 'target/peers/fastdds_peer');
/** The Cyclone DDS (Python cyclonedds 11) string peer the native interop tests use too. */
export const CYCLONE_STRING_PY = path.join(ROOT, 'tool/tests/peers/ros_string.py');
export const RCLPY_STRING_PY = path.join(JS_DIR, 'test/peers/rclpy_string.py');
export const RCLPY_TWIST_PY = path.join(JS_DIR, 'test/peers/rclpy_twist.py');
/** The native tool (its `relay` subcommand); js/test.sh builds it. */
export const POLLEN_BIN = process.env.POLLEN_BIN ?? path.join(ROOT, 'target/debug/pollen');
export const RELAY_CLIENT = path.join(JS_DIR, 'test/peers/relay_client.mjs');
export const BROWSER_CLIENT = path.join(JS_DIR, 'test/peers/browser_client.mjs');
export const PAGE_CLIENT = path.join(JS_DIR, 'test/peers/page_client.mjs');
export const CHROMIUM = process.env.POLLEN_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Whether `check()` holds; otherwise skips the test with `why` or, when peers are required,
 * fails it.
 */
export function need(t, ok, why) {
  if (ok) return true;
  if (REQUIRE_PEERS) throw new Error(`${why} (required: CI or POLLEN_REQUIRE_PEERS=1)`);
  t.skip(`SKIPPED: ${why}`);
  return false;
}

export function pythonImports(python, modules) {
  if (!existsSync(python)) return false;
  const r = spawnSync(python, ['-c', `import ${modules}`], { stdio: 'ignore', timeout: 60000 });
  return r.status === 0;
}

export function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function ip(args) {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run ip (iproute2): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
}

let nsCounter = 0;

/** A network namespace whose only interface is lo (up, multicast on, 224.0.0.0/4 on lo). */
export class Netns {
  constructor(tag) {
    nsCounter += 1;
    this.name = `pollen-js-${process.pid}-${nsCounter}-${tag}`.slice(0, 40);
    spawnSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
    ip(['netns', 'add', this.name]);
    ip(['-n', this.name, 'link', 'set', 'lo', 'up']);
    ip(['-n', this.name, 'link', 'set', 'lo', 'multicast', 'on']);
    ip(['-n', this.name, 'route', 'add', '224.0.0.0/4', 'dev', 'lo']);
  }

  /** [program, args] running `program args` inside the namespace. */
  wrap(program, args) {
    return ['ip', ['netns', 'exec', this.name, program, ...args]];
  }

  delete() {
    spawnSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
  }
}

/** The environment of a child: no DDS configuration inherited from ours. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of ['CYCLONEDDS_URI', 'POLLEN_INTERFACE', 'ROS_DOMAIN_ID', 'ROS_LOCALHOST_ONLY', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'FASTRTPS_DEFAULT_PROFILES_FILE']) {
    delete env[k];
  }
  return { ...env, ...extra };
}

/** A child process with its output collected line by line; killed by kill() or killAll(). */
export class Proc {
  static all = new Set();

  constructor(name, program, args, { env, ns } = {}) {
    this.name = name;
    this.out = [];
    this.err = [];
    this.status = undefined;
    const [p, a] = ns ? ns.wrap(program, args) : [program, args];
    this.child = spawn(p, a, { env: env ?? cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    Proc.all.add(this);
    const split = (stream, into) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          into.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
      stream.on('end', () => {
        if (buf) into.push(buf);
      });
    };
    split(this.child.stdout, this.out);
    split(this.child.stderr, this.err);
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.status = code ?? signal;
        Proc.all.delete(this);
        resolve(this.status);
      });
      this.child.on('error', (e) => {
        this.err.push(String(e));
        this.status = 'error';
        Proc.all.delete(this);
        resolve('error');
      });
    });
    this.child.stdin.on('error', () => {});
  }

  /** Writes to stdin; `close` ends it. */
  feed(text, close = false) {
    this.child.stdin.write(text);
    if (close) this.child.stdin.end();
  }

  /** The exit status, or null after `ms` (the process is then killed). */
  async wait(ms) {
    let timer;
    const t = new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), ms);
    });
    const r = await Promise.race([this.exited, t]);
    clearTimeout(timer);
    if (r === null) await this.kill();
    return r;
  }

  /** Waits until a stdout line satisfies `f`, at most `ms`. */
  async waitForLine(f, ms) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (this.out.some(f)) return true;
      if (this.status !== undefined) return this.out.some(f);
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  async kill() {
    if (this.status === undefined) {
      // `ip netns exec` passes the signal on to the program it runs.
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }

  transcript() {
    return `--- ${this.name} stdout ---\n${this.out.join('\n')}\n--- ${this.name} stderr ---\n${this.err.join('\n')}\n`;
  }

  static async killAll() {
    await Promise.all([...Proc.all].map((p) => p.kill()));
  }
}

/** `node js/cli.mjs args` (inside `ns` when given). */
export function pollenJs(name, args, { ns, env } = {}) {
  return new Proc(name, NODE, [CLI, ...args], { ns, env: env ?? cleanEnv() });
}

/** A Cyclone DDS configuration (0.10 and 11) for lo with unicast discovery (PEERS.md). */
export const CYCLONE_LO_XML = `<CycloneDDS xmlns="https://cdds.io/config"><Domain id="any">
  <General><Interfaces><NetworkInterface name="lo"/></Interfaces><AllowMulticast>false</AllowMulticast></General>
  <Discovery><ParticipantIndex>auto</ParticipantIndex><Peers><Peer address="127.0.0.1"/></Peers></Discovery>
</Domain></CycloneDDS>
`;

/** The JavaScript side's discovery flags: SPDP multicast only, or unicast peers only. */
export const DISCOVERY = {
  multicast: ['--multicast-only'],
  unicast: ['--no-multicast', '--peer', '127.0.0.1'],
};

/**
 * A peer publishes and `pollen-js sub` (started first) must print exactly `expected`.
 * `peer` is a function (ns) → Proc, started after the subscriber.
 */
export async function peerToJs({ ns, jsArgs, peer, expected, limit = 40000 }) {
  const sub = pollenJs('pollen-js sub', ['sub', ...jsArgs, '--count', String(expected.length), '--timeout', '30'], { ns });
  const p = peer(ns);
  const [ss, ps] = await Promise.all([sub.wait(limit), p.wait(limit)]);
  const log = `${p.transcript()}${sub.transcript()}`;
  return { ok: ss === 0 && ps === 0, sub, peer: p, log, statuses: [ps, ss] };
}

/**
 * `pollen-js pub` writes `lines` (one sample each, from stdin) to a peer subscriber started
 * first, `peer(ns)` → Proc.
 */
export async function jsToPeer({ ns, jsArgs, peer, lines, limit = 40000 }) {
  const p = peer(ns);
  const pub = pollenJs('pollen-js pub', ['pub', ...jsArgs, '--timeout', '30'], { ns });
  pub.feed(lines.map((l) => `${l}\n`).join(''), true);
  const [ps, js] = await Promise.all([p.wait(limit), pub.wait(limit)]);
  const log = `${pub.transcript()}${p.transcript()}`;
  return { ok: ps === 0 && js === 0, pub, peer: p, log, statuses: [js, ps] };
}
