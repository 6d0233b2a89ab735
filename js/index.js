// Pollen in JavaScript: a DDS (DDSI-RTPS) participant whose engine is Pollen's Sans-IO Rust
// engine compiled to WebAssembly, driven by the JavaScript event loop.
//
// This module has no platform dependency: it needs a Transport (node.js has the Node.js
// `dgram` one; a browser one over a WebSocket relay plugs in the same way), the Web Crypto
// random source and `performance.now()`.

import initWasm, {
  initSync as initWasmSync,
  EngineOptions,
  WasmEngine,
  encodeString as wasmEncodeString,
  decodeString as wasmDecodeString,
  RosRegistry,
  participantPorts,
  spdpMulticastPort,
  version as wasmVersion,
} from './pkg/pollen_js.js';

export { WebSocketTransport, RelayError } from './websocket.js';
import { WebSocketTransport } from './websocket.js';

let loaded = false;

/** Loads the WebAssembly module from bytes (or a compiled WebAssembly.Module), synchronously. */
export function initSync(module) {
  if (!loaded) {
    initWasmSync({ module });
    loaded = true;
  }
}

/**
 * Loads the WebAssembly module: from `source` (a URL, a Response, bytes or a Module), or by
 * default from `pkg/pollen_js_bg.wasm` beside this file (browsers and bundlers).
 */
export async function init(source) {
  if (!loaded) {
    await initWasm(source === undefined ? undefined : { module_or_path: source });
    loaded = true;
  }
}

function requireLoaded() {
  if (!loaded) {
    throw new PollenError('NOT_LOADED', 'the WebAssembly module is not loaded: call init() first');
  }
}

/** The SPDP multicast group (239.255.0.1). */
export const SPDP_MULTICAST_GROUP = '239.255.0.1';
/** ROS 2's std_msgs/msg/String as DDS names it. */
export const ROS_STRING = 'std_msgs::msg::dds_::String_';
/** The DDS built-in string type. */
export const DDS_STRING = 'DDS::String';

/** An error with a machine-readable `code`. */
export class PollenError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'PollenError';
    this.code = code;
  }
}

const WRITE_ERRORS = {
  1: ['UNKNOWN_WRITER', 'the writer is closed'],
  2: ['TOO_LARGE', 'the sample is larger than the largest the engine takes'],
  3: ['HISTORY_FULL', 'the KEEP_ALL history is full of unacknowledged samples'],
  4: ['OUT_OF_MEMORY', 'the payload pool is full'],
  5: ['NOT_KEYED', 'the topic has no key'],
  6: ['UNSUPPORTED', 'not supported by this engine build'],
};

// --- small helpers ----------------------------------------------------------------------

/** A tiny event emitter (the same in Node.js and browsers). */
export class Emitter {
  #listeners = new Map();

  /** Adds a listener; returns a function that removes it. */
  on(event, fn) {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(fn);
    this._listening(event);
    return () => this.off(event, fn);
  }

  /** Adds a listener called once. */
  once(event, fn) {
    const off = this.on(event, (...args) => {
      off();
      fn(...args);
    });
    return off;
  }

  /** Removes a listener. */
  off(event, fn) {
    this.#listeners.get(event)?.delete(fn);
  }

  /** Number of listeners of `event`. */
  listenerCount(event) {
    return this.#listeners.get(event)?.size ?? 0;
  }

  emit(event, ...args) {
    const set = this.#listeners.get(event);
    if (!set) return false;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (e) {
        // A throwing listener must not break the engine's loop.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
    return set.size > 0;
  }

  // Hook for subclasses.
  _listening(_event) {}
}

/** "a.b.c.d" as a big-endian u32 (0 for anything else). */
export function ipToU32(s) {
  const p = String(s).split('.');
  if (p.length !== 4) return 0;
  let v = 0;
  for (const x of p) {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 0 || n > 255 || x === '') return 0;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** A big-endian u32 as "a.b.c.d". */
export function u32ToIp(v) {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Parses "ADDR" or "ADDR:PORT" into `{ address, port }` (port 0: the well-known ports). */
export function parsePeer(s) {
  if (typeof s === 'object' && s !== null) {
    return { address: String(s.address), port: Number(s.port ?? 0) };
  }
  const [address, port] = String(s).split(':');
  const p = port === undefined ? 0 : Number(port);
  if (ipToU32(address) === 0 || !Number.isInteger(p) || p < 0 || p > 65535) {
    throw new PollenError('BAD_PEER', `not an IPv4 peer address[:port]: ${s}`);
  }
  return { address, port: p };
}

function nowUs() {
  return performance.now() * 1000;
}

function wallMs() {
  return performance.timeOrigin + performance.now();
}

/** Serializes a string sample (`struct { string data; }`, XCDR1 little-endian). */
export function encodeString(s) {
  requireLoaded();
  return wasmEncodeString(String(s));
}

/** Decodes a string sample; `undefined` when the bytes are not one. */
export function decodeString(bytes) {
  requireLoaded();
  return wasmDecodeString(bytes);
}

// --- ROS 2 messages of any type ------------------------------------------------------------

let rosRegistry = null;

function rosTypes() {
  requireLoaded();
  rosRegistry ??= new RosRegistry();
  return rosRegistry;
}

function rosError(code, e) {
  return new PollenError(code, e instanceof Error ? e.message : String(e));
}

/**
 * Adds (or replaces) the definition of ROS 2 message type `name` ('pkg/msg/Name') from the
 * text of its .msg file; returns the full name. Built in: std_msgs String and Header,
 * builtin_interfaces Time and Duration, geometry_msgs Vector3, Twist, Point, Quaternion, Pose.
 */
export function registerRosType(name, text) {
  try {
    return rosTypes().add(String(name), String(text));
  } catch (e) {
    throw rosError('BAD_DEFINITION', e);
  }
}

/** registerRosType for each entry of { 'pkg/msg/Name': '.msg text', ... }. */
export function registerRosTypes(definitions) {
  for (const [name, text] of Object.entries(definitions ?? {})) registerRosType(name, text);
}

/** The types `name` needs whose definitions are not registered yet ([] when it is usable). */
export function missingRosTypes(name) {
  try {
    return rosTypes().missing(String(name));
  } catch (e) {
    throw rosError('BAD_TYPE', e);
  }
}

/**
 * Registers what `name` is missing from `resolver(typeName)` (a .msg text, or undefined);
 * throws PollenError 'UNKNOWN_TYPE' naming the definitions still missing.
 */
export function ensureRosType(name, resolver) {
  for (let round = 0; round < 64; round++) {
    const missing = missingRosTypes(name);
    if (missing.length === 0) return;
    const left = [];
    for (const m of missing) {
      const text = resolver ? resolver(m) : undefined;
      if (typeof text === 'string') registerRosType(m, text);
      else left.push(m);
    }
    if (left.length > 0) {
      throw new PollenError(
        'UNKNOWN_TYPE',
        `no definition of ${left.join(', ')} (for ${name}): give its .msg text with registerRosType or ` +
          `the rosDefinitions option (Node.js: or install it under AMENT_PREFIX_PATH / rosPaths); for ` +
          `raw bytes use { name: 'pkg::msg::dds_::Type_', ros: true }`,
      );
    }
  }
  throw new PollenError('UNKNOWN_TYPE', `${name}: its definitions nest too deep`);
}

// int64/uint64 beyond Number.MAX_SAFE_INTEGER cross the boundary as { $bigint: 'DIGITS' }
// (no ROS 2 field can be named $bigint); here they are BigInts.
function rosReplacer(key, v) {
  if (typeof v === 'bigint') return { $bigint: v.toString() };
  if (ArrayBuffer.isView(v)) return Array.from(v);
  if (typeof v === 'number' && !Number.isFinite(v)) {
    throw new PollenError('BAD_VALUE', `${key || 'the message'}: ${v} cannot be sent (the JSON between JavaScript and the codec has no NaN or Infinity)`);
  }
  return v;
}

function rosReviver(key, v) {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && typeof v.$bigint === 'string' && Object.keys(v).length === 1) {
    return BigInt(v.$bigint);
  }
  return v;
}

/**
 * Serializes `value` (a plain object of the message's fields; missing fields are zero) as a
 * sample of ROS 2 type `name`, encapsulation header included. Unknown fields and values that
 * do not fit are refused with a PollenError 'BAD_VALUE' naming the field's path.
 */
export function encodeRos(name, value) {
  const reg = rosTypes();
  const json = JSON.stringify(value ?? {}, rosReplacer);
  try {
    return reg.encode(String(name), json);
  } catch (e) {
    throw rosError('BAD_VALUE', e);
  }
}

/**
 * Decodes a sample of ROS 2 type `name` into a plain object (fields in definition order;
 * int64/uint64 as numbers, or BigInts beyond Number.MAX_SAFE_INTEGER; NaN and infinities as
 * null). Throws PollenError 'BAD_DATA' when the bytes are not one.
 */
export function decodeRos(name, bytes) {
  const reg = rosTypes();
  let json;
  try {
    json = reg.decode(String(name), bytes);
  } catch (e) {
    throw rosError('BAD_DATA', e);
  }
  return JSON.parse(json, rosReviver);
}

/** The engine's version. */
export function version() {
  requireLoaded();
  return wasmVersion();
}

/**
 * What a type argument means: the DDS type name, the codec ('string' or 'raw'), whether the
 * topic is a ROS 2 topic (then `topic` is mapped to `rt/...`) and keyed.
 */
export function resolveType(type) {
  if (type === undefined || type === 'string') {
    return { typeName: DDS_STRING, codec: 'string', ros: false, keyed: false };
  }
  if (typeof type === 'string') {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\/(msg)\/([A-Za-z_][A-Za-z0-9_]*)$/.exec(type);
    if (m) {
      const typeName = `${m[1]}::${m[2]}::dds_::${m[3]}_`;
      const rosType = `${m[1]}/${m[2]}/${m[3]}`;
      return { typeName, codec: typeName === ROS_STRING ? 'string' : 'ros', ros: true, keyed: false, rosType };
    }
    if (type === 'bytes' || type === 'raw') {
      throw new PollenError('BAD_TYPE', `type '${type}' needs a name: { name: 'Module::Type', codec: 'raw' }`);
    }
    return { typeName: type, codec: type === ROS_STRING || type === DDS_STRING ? 'string' : 'raw', ros: false, keyed: false };
  }
  if (typeof type === 'object' && type !== null && typeof type.name === 'string') {
    const codec = type.codec ?? 'raw';
    if (codec !== 'raw' && codec !== 'string') {
      throw new PollenError('BAD_TYPE', `unknown codec ${codec} (string or raw)`);
    }
    return { typeName: type.name, codec, ros: Boolean(type.ros), keyed: Boolean(type.keyed) };
  }
  throw new PollenError('BAD_TYPE', `not a type: ${type}`);
}

/** The DDS topic name of a ROS 2 topic: "chatter" or "/chatter" → "rt/chatter". */
export function rosTopic(name) {
  const n = String(name);
  if (n.startsWith('rt/')) return n;
  return `rt/${n.replace(/^\/+/, '')}`;
}

function qosArgs(qos, defaults) {
  const q = { ...defaults, ...qos };
  const reliable = q.reliability === undefined ? defaults.reliable : q.reliability === 'reliable';
  if (q.reliability !== undefined && q.reliability !== 'reliable' && q.reliability !== 'best-effort') {
    throw new PollenError('BAD_QOS', `reliability is 'reliable' or 'best-effort', not ${q.reliability}`);
  }
  const durability = q.durability ?? 'volatile';
  if (durability !== 'volatile' && durability !== 'transient-local') {
    throw new PollenError('BAD_QOS', `durability is 'volatile' or 'transient-local', not ${durability}`);
  }
  const history = q.history ?? defaults.history;
  let depth;
  if (history === 'all' || history === 'keep-all') depth = 0;
  else if (Number.isInteger(history) && history >= 1 && history <= 65535) depth = history;
  else throw new PollenError('BAD_QOS', `history is 'all' or a KEEP_LAST depth >= 1, not ${history}`);
  const partitions = (q.partitions ?? []).map(String);
  return { reliable, transientLocal: durability === 'transient-local', depth, partitions };
}

// --- the participant ----------------------------------------------------------------------

/**
 * A DDS domain participant. Create it with `Participant.create(transport, options)` (or
 * `createParticipant(options)` from the Node.js entry point).
 *
 * Events: 'participantDiscovered' / 'participantLost' ({ guidPrefix }), 'matched' /
 * 'unmatched' ({ endpoint, remote }), 'incompatibleQos' ({ endpoint, remote, policy }),
 * 'refused' / 'evicted' ({ table, guid }), 'readerUnresponsive' / 'readerRecovered'
 * ({ endpoint, remote }), 'error' (Error from the transport), 'close'.
 */
export class Participant extends Emitter {
  #engine;
  #transport;
  #info;
  #timer = null;
  #armedAt = -1;
  #scheduled = false;
  #blocked = false;
  #closed = false;
  #pumping = false;
  #closing = null;
  #writers = new Map();
  #readers = new Map();
  #waiters = new Set();
  #stats = { datagramsDroppedBeforeStart: 0 };
  #rosResolver;

  /**
   * Opens `transport` and starts the engine.
   * @param transport a Transport (see index.d.ts)
   * @param options { domainId = 0, participantId, multicast = true, peers = [], userData, mtu }
   */
  static async create(transport, options = {}) {
    await init();
    const domainId = Number(options.domainId ?? 0);
    if (!Number.isInteger(domainId) || domainId < 0 || domainId > 232) {
      throw new PollenError('BAD_DOMAIN', `domain id must be 0..232, not ${options.domainId}`);
    }
    const peers = (options.peers ?? []).map(parsePeer);
    const spdpPort = spdpMulticastPort(domainId);
    const request = {
      domainId,
      participantId: options.participantId,
      multicast: options.multicast ?? true,
      spdpMulticast: { address: SPDP_MULTICAST_GROUP, port: spdpPort },
      ports(id) {
        const p = participantPorts(domainId, id);
        return p === undefined ? undefined : { metatraffic: p[0], user: p[1] };
      },
      peers,
    };
    registerRosTypes(options.rosDefinitions);
    const p = new Participant(transport);
    p.#rosResolver = typeof options.rosResolver === 'function' ? options.rosResolver : undefined;
    const info = await transport.open(request, {
      ondatagram: (data, from, to) => p.#onDatagram(data, from, to),
      ondrain: () => p.#onDrain(),
      onerror: (e) => p.emit('error', e),
    });
    try {
      p.#start(info, domainId, peers, options);
    } catch (e) {
      await transport.close();
      throw e;
    }
    return p;
  }

  constructor(transport) {
    super();
    this.#transport = transport;
  }

  #start(info, domainId, peers, options) {
    const random = new Uint8Array(18);
    globalThis.crypto.getRandomValues(random);
    const o = new EngineOptions(random);
    o.domainId = domainId;
    o.participantId = info.participantId ?? 0;
    o.address = ipToU32(info.address);
    // A transport that allocates its own ports (a relay) names them; the engine announces
    // them instead of the participant id's.
    const loc = info.locators ?? options.locators;
    if (loc) {
      const m = Number(loc.metatraffic);
      const u = Number(loc.user);
      const ok = (x) => Number.isInteger(x) && x > 0 && x <= 65535;
      if (!ok(m) || !ok(u) || m === u) {
        throw new PollenError('BAD_LOCATORS', `locators need two distinct ports 1..65535, not ${JSON.stringify(loc)}`);
      }
      o.setUnicastPorts(m, u);
    }
    o.multicast = Boolean(info.multicast);
    if (options.mtu) o.mtu = options.mtu;
    if (options.userData !== undefined) {
      o.userData = typeof options.userData === 'string' ? new TextEncoder().encode(options.userData) : options.userData;
    }
    for (const peer of peers) o.addPeer(ipToU32(peer.address), peer.port);
    try {
      this.#engine = new WasmEngine(o, nowUs());
    } finally {
      o.free();
    }
    this.#info = {
      domainId,
      participantId: info.participantId ?? 0,
      address: info.address,
      multicast: Boolean(info.multicast),
    };
    this.#pump();
  }

  /** Our GUID prefix (24 hex digits). */
  get guidPrefix() {
    return this.#engine.guidPrefix();
  }
  /** The domain id. */
  get domainId() {
    return this.#info.domainId;
  }
  /** The participant id whose ports the transport bound. */
  get participantId() {
    return this.#info.participantId;
  }
  /** The IPv4 address announced. */
  get address() {
    return this.#info.address;
  }
  /** Whether SPDP multicast is on. */
  get multicast() {
    return this.#info.multicast;
  }
  /** Whether close() was called. */
  get closed() {
    return this.#closed;
  }

  /** The sockets the engine expects the transport to have. */
  listenLocators() {
    return JSON.parse(this.#engine.listenLocators());
  }

  /**
   * Creates a writer on `topic`.
   * @param type 'string' (DDS::String), a ROS 2 type like 'std_msgs/msg/String' (the topic
   *   becomes rt/TOPIC), a DDS type name, or { name, codec: 'string'|'raw', keyed, ros }
   * @param qos { reliability: 'reliable'|'best-effort' = 'reliable', durability:
   *   'volatile'|'transient-local' = 'volatile', history: depth|'all' = 'all', partitions }
   */
  createWriter(topic, type = 'string', qos = {}) {
    this.#check();
    const t = resolveType(type);
    if (t.rosType) ensureRosType(t.rosType, this.#rosResolver);
    const q = qosArgs(qos, { reliable: true, history: 'all' });
    const name = t.ros ? rosTopic(topic) : String(topic);
    const id = this.#engine.createWriter(nowUs(), name, t.typeName, t.keyed, q.partitions, q.reliable, q.transientLocal, q.depth);
    const w = new Writer(this, id, name, t, q, (fn) => fn(this.#engine));
    this.#writers.set(id, w);
    this.#schedule();
    return w;
  }

  /** Creates a reader on `topic` (arguments as for createWriter). */
  createReader(topic, type = 'string', qos = {}) {
    this.#check();
    const t = resolveType(type);
    if (t.rosType) ensureRosType(t.rosType, this.#rosResolver);
    const q = qosArgs(qos, { reliable: true, history: 'all' });
    const name = t.ros ? rosTopic(topic) : String(topic);
    const id = this.#engine.createReader(nowUs(), name, t.typeName, t.keyed, q.partitions, q.reliable, q.transientLocal, q.depth);
    const r = new Reader(this, id, name, t, q, (fn) => fn(this.#engine));
    this.#readers.set(id, r);
    this.#schedule();
    return r;
  }

  /** The remote participants known now. */
  participants() {
    this.#check();
    return JSON.parse(this.#engine.participants());
  }

  /** The remote writers and readers known now (from SEDP). */
  endpoints() {
    this.#check();
    return JSON.parse(this.#engine.endpoints());
  }

  /** Counters: { engine: {...}, driver: {...}, transport: {...} }. */
  stats() {
    const s = this.#engine ? JSON.parse(this.#engine.stats()) : { engine: {}, driver: {} };
    s.driver = { ...s.driver, ...this.#stats };
    s.transport = this.#transport.stats ? this.#transport.stats() : {};
    return s;
  }

  /**
   * Waits until `check()` is true (checked after every engine step), at most `timeout` ms.
   * Rejects with a PollenError 'TIMEOUT' (or 'CLOSED').
   */
  waitFor(check, { timeout = 10000, what = 'condition' } = {}) {
    if (check()) return Promise.resolve();
    if (this.#closed) return Promise.reject(new PollenError('CLOSED', 'the participant is closed'));
    return new Promise((resolve, reject) => {
      const w = { check, resolve, reject, timer: null };
      if (timeout !== Infinity) {
        w.timer = setTimeout(() => {
          this.#waiters.delete(w);
          reject(new PollenError('TIMEOUT', `timed out after ${timeout} ms waiting for ${what}`));
        }, timeout);
      }
      this.#waiters.add(w);
    });
  }

  /**
   * Says goodbye to the domain (SPDP dispose), sends what is owed for up to `linger` ms and
   * closes the transport. Writers and readers are closed with it.
   */
  close({ linger = 100 } = {}) {
    this.#closing ??= this.#close(linger);
    return this.#closing;
  }

  async #close(linger) {
    for (const r of [...this.#readers.values()]) r.close();
    this.#engine.shutdown(nowUs());
    this.#pump();
    // What is owed (the goodbye included) goes before the sockets close, for at most `linger`.
    const end = Date.now() + linger;
    const busy = () => this.#blocked || (this.#transport.pending?.() ?? 0) > 0;
    while (busy() && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 2));
      this.#pump();
    }
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = null;
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(new PollenError('CLOSED', 'the participant was closed'));
    }
    this.#waiters.clear();
    for (const w of this.#writers.values()) w._closed();
    await this.#transport.close();
    this.#engine.free();
    this.#engine = null;
    this.emit('close');
  }

  // --- the loop ---

  #check() {
    if (this.#closed || !this.#engine) throw new PollenError('CLOSED', 'the participant is closed');
  }

  /** Runs an engine step soon (after the current task); coalesces requests. */
  _schedule() {
    this.#schedule();
  }

  #schedule() {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  #onDatagram(data, from, to) {
    if (!this.#engine) {
      this.#stats.datagramsDroppedBeforeStart += 1;
      return;
    }
    this.#engine.handleDatagram(nowUs(), ipToU32(from.address), from.port, ipToU32(to.address), to.port, data);
    this.#schedule();
  }

  #onDrain() {
    this.#blocked = false;
    this.#schedule();
  }

  #onTimer() {
    this.#timer = null;
    this.#armedAt = -1;
    if (!this.#engine || this.#closed) return;
    this.#engine.handleTimeout(nowUs());
    this.#pump();
  }

  // After every input or command: drain transmits (until the transport pushes back), then
  // events, then set the timer from the engine's deadline.
  #pump() {
    const e = this.#engine;
    if (!e || this.#pumping) return;
    this.#pumping = true;
    try {
      const now = nowUs();
      while (!this.#blocked) {
        const data = e.pollTransmit(now);
        if (data === undefined) break;
        const more = this.#transport.send(data, { address: u32ToIp(e.transmitIp()), port: e.transmitPort() });
        if (more === false) this.#blocked = true;
      }
      for (;;) {
        const j = e.pollEvent();
        if (j === undefined) break;
        this.#dispatch(JSON.parse(j));
      }
    } finally {
      this.#pumping = false;
    }
    if (!this.#engine) return;
    for (const w of this.#writers.values()) w._retry();
    for (const r of this.#readers.values()) r._drain();
    for (const w of [...this.#waiters]) {
      let done = false;
      try {
        done = w.check();
      } catch (err) {
        this.#waiters.delete(w);
        clearTimeout(w.timer);
        w.reject(err);
        continue;
      }
      if (done) {
        this.#waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
    this.#arm();
  }

  #arm() {
    const e = this.#engine;
    if (!e || this.#closed) return;
    const t = e.pollTimeout();
    if (t < 0) {
      clearTimeout(this.#timer);
      this.#timer = null;
      this.#armedAt = -1;
      return;
    }
    if (t === this.#armedAt && this.#timer !== null) return;
    clearTimeout(this.#timer);
    const delay = Math.max(0, Math.ceil((t - nowUs()) / 1000));
    this.#armedAt = t;
    this.#timer = setTimeout(() => this.#onTimer(), delay);
  }

  #endpointOf(ev) {
    if (ev.writer !== undefined) return this.#writers.get(ev.writer);
    if (ev.reader !== undefined) return this.#readers.get(ev.reader);
    return undefined;
  }

  #dispatch(ev) {
    const endpoint = this.#endpointOf(ev);
    switch (ev.type) {
      case 'dataAvailable':
        endpoint?._drain();
        return;
      case 'allAcknowledged':
        endpoint?.emit('acknowledged');
        return;
      case 'matched':
      case 'unmatched':
      case 'incompatibleQos':
      case 'readerUnresponsive':
      case 'readerRecovered': {
        const { type, writer: _w, reader: _r, ...rest } = ev;
        endpoint?.emit(type, rest);
        this.emit(type, { endpoint, ...rest });
        return;
      }
      default: {
        const { type, ...rest } = ev;
        this.emit(type, rest);
      }
    }
  }

  _forgetWriter(id) {
    this.#writers.delete(id);
    if (this.#engine) this.#engine.deleteWriter(nowUs(), id);
    this.#schedule();
  }

  _forgetReader(id) {
    this.#readers.delete(id);
    if (this.#engine) this.#engine.deleteReader(nowUs(), id);
    this.#schedule();
  }
}

// --- writers and readers ----------------------------------------------------------------

function toPayload(value, type) {
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (type.codec === 'ros') {
    if (value !== null && typeof value === 'object') return encodeRos(type.rosType, value);
    throw new PollenError('BAD_VALUE', `write on a ${type.rosType} writer takes an object of its fields or bytes (the serialized payload)`);
  }
  if (typeof value === 'string') return wasmEncodeString(value);
  if (type.rosType && value !== null && typeof value === 'object') return encodeRos(type.rosType, value);
  throw new PollenError('BAD_VALUE', 'write takes a string (sent as a CDR string) or bytes (the serialized payload)');
}

function decodeOrNull(name, data) {
  try {
    return decodeRos(name, data);
  } catch {
    return null;
  }
}

/**
 * A writer. write(string) sends a CDR string sample; write(Uint8Array) sends the bytes as
 * the serialized payload (encapsulation header included).
 *
 * Events: 'matched' / 'unmatched' ({ remote }), 'incompatibleQos' ({ remote, policy }),
 * 'acknowledged' (every sample acknowledged by every reliable reader), 'readerUnresponsive'.
 */
export class Writer extends Emitter {
  #participant;
  #id;
  #with;
  #pending = [];
  #closed = false;
  #type;

  constructor(participant, id, topic, type, qos, withEngine) {
    super();
    this.#participant = participant;
    this.#id = id;
    this.#with = withEngine;
    this.#type = type;
    this.topic = topic;
    this.typeName = type.typeName;
    this.qos = qos;
  }

  /** The writer's GUID. */
  get guid() {
    return this.#closed ? undefined : this.#with((e) => e.writerGuid(this.#id));
  }
  /** Remote readers matched now. */
  get matchedReaders() {
    return this.#closed ? 0 : this.#with((e) => e.matchedReaders(this.#id));
  }
  /** Matched readers known to have matched us in turn (reliable ones that acknowledged). */
  get readyReaders() {
    return this.#closed ? 0 : this.#with((e) => e.readyReaders(this.#id));
  }
  /** Whether every sample was acknowledged by every reliable reader. */
  get acknowledged() {
    return this.#closed ? false : this.#with((e) => e.isAcknowledged(this.#id));
  }

  #writeNow(payload, sourceTimestamp) {
    if (this.#closed) throw new PollenError('CLOSED', 'the writer is closed');
    const r = this.#with((e) => e.write(nowUs(), this.#id, payload, sourceTimestamp ?? wallMs()));
    if (r < 0) {
      const [code, msg] = WRITE_ERRORS[-r] ?? ['UNKNOWN', `write failed (${r})`];
      throw new PollenError(code, msg);
    }
    this.#participant._schedule();
    return r;
  }

  /**
   * Writes one sample now; returns its sequence number. Throws PollenError
   * ('HISTORY_FULL' when a KEEP_ALL history is full: use writeAsync to wait for room).
   */
  write(value, { sourceTimestamp } = {}) {
    return this.#writeNow(toPayload(value, this.#type), sourceTimestamp);
  }

  /** Writes one sample, waiting while the history is full; resolves to its sequence number. */
  writeAsync(value, { sourceTimestamp } = {}) {
    const payload = toPayload(value, this.#type);
    if (this.#pending.length === 0) {
      try {
        return Promise.resolve(this.#writeNow(payload, sourceTimestamp));
      } catch (e) {
        if (e.code !== 'HISTORY_FULL' && e.code !== 'OUT_OF_MEMORY') return Promise.reject(e);
      }
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ payload, sourceTimestamp, resolve, reject });
    });
  }

  _retry() {
    while (this.#pending.length > 0 && !this.#closed) {
      const p = this.#pending[0];
      try {
        p.resolve(this.#writeNow(p.payload, p.sourceTimestamp));
      } catch (e) {
        if (e.code === 'HISTORY_FULL' || e.code === 'OUT_OF_MEMORY') return;
        p.reject(e);
      }
      this.#pending.shift();
    }
  }

  /** Resolves once `count` readers are matched (and, by default, ready: see readyReaders). */
  waitForReaders(count = 1, { timeout = 10000, ready = true } = {}) {
    return this.#participant.waitFor(() => (ready ? this.readyReaders : this.matchedReaders) >= count, {
      timeout,
      what: `${count} reader(s) on ${this.topic}`,
    });
  }

  /** Resolves once every sample written is acknowledged by every matched reliable reader. */
  waitForAcknowledgments({ timeout = 10000 } = {}) {
    return this.#participant.waitFor(() => this.#pending.length === 0 && this.acknowledged, {
      timeout,
      what: `acknowledgements on ${this.topic}`,
    });
  }

  /** Deletes the writer. */
  close() {
    if (this.#closed) return;
    this._closed();
    this.#participant._forgetWriter(this.#id);
  }

  _closed() {
    this.#closed = true;
    for (const p of this.#pending) p.reject(new PollenError('CLOSED', 'the writer was closed'));
    this.#pending = [];
  }
}

/**
 * A reader. Samples come to 'data' listeners and to async iterators (`for await (const s of
 * reader)`); they are taken from the engine only while someone listens or waits, so an idle
 * reader keeps them in the engine's bounded history.
 *
 * A sample: { value (string for string types, else the bytes; null if undecodable), data
 * (the serialized bytes), writer (GUID), sequenceNumber, sourceTimestamp (ms since the
 * epoch, or undefined), state ('alive'|'disposed'|'unregistered'), keyHash }.
 *
 * Events: 'data' (sample), 'matched' / 'unmatched' ({ remote }), 'incompatibleQos'.
 */
export class Reader extends Emitter {
  #participant;
  #id;
  #with;
  #codec;
  #rosType;
  #iterators = new Set();
  #closed = false;

  constructor(participant, id, topic, type, qos, withEngine) {
    super();
    this.#participant = participant;
    this.#id = id;
    this.#with = withEngine;
    this.#codec = type.codec;
    this.#rosType = type.rosType;
    this.topic = topic;
    this.typeName = type.typeName;
    this.qos = qos;
  }

  /** The reader's GUID. */
  get guid() {
    return this.#closed ? undefined : this.#with((e) => e.readerGuid(this.#id));
  }
  /** Remote writers matched now. */
  get matchedWriters() {
    return this.#closed ? 0 : this.#with((e) => e.matchedWriters(this.#id));
  }

  _listening(event) {
    if (event === 'data') this.#participant._schedule();
  }

  /** Takes one sample now, or undefined. */
  take() {
    if (this.#closed) return undefined;
    return this.#with((e) => {
      const data = e.take(this.#id);
      if (data === undefined) return undefined;
      const state = e.sampleState();
      let value = data;
      if (this.#codec === 'string') value = state === 'alive' ? (wasmDecodeString(data) ?? null) : null;
      else if (this.#codec === 'ros') value = state === 'alive' ? decodeOrNull(this.#rosType, data) : null;
      return {
        value,
        data,
        writer: e.sampleWriter(),
        sequenceNumber: e.sampleSn(),
        sourceTimestamp: e.sampleTime(),
        state,
        keyHash: e.sampleKeyHash(),
      };
    });
  }

  #wanted() {
    if (this.listenerCount('data') > 0) return true;
    for (const it of this.#iterators) if (it.waiting) return true;
    return false;
  }

  _drain() {
    while (!this.#closed && this.#wanted()) {
      const s = this.take();
      if (s === undefined) return;
      for (const it of this.#iterators) it.push(s);
      this.emit('data', s);
    }
  }

  /** Resolves once `count` writers are matched. */
  waitForWriters(count = 1, { timeout = 10000 } = {}) {
    return this.#participant.waitFor(() => this.matchedWriters >= count, {
      timeout,
      what: `${count} writer(s) on ${this.topic}`,
    });
  }

  [Symbol.asyncIterator]() {
    const queue = [];
    const reader = this;
    const it = {
      waiting: null,
      push(s) {
        if (this.waiting) {
          const w = this.waiting;
          this.waiting = null;
          w({ value: s, done: false });
        } else queue.push(s);
      },
      end() {
        if (this.waiting) {
          const w = this.waiting;
          this.waiting = null;
          w({ value: undefined, done: true });
        }
      },
      next() {
        if (queue.length > 0) return Promise.resolve({ value: queue.shift(), done: false });
        if (reader.#closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiting = resolve;
          reader.#participant._schedule();
        });
      },
      return() {
        reader.#iterators.delete(it);
        it.end();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    this.#iterators.add(it);
    return it;
  }

  /** Deletes the reader; iterators end. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    for (const it of this.#iterators) it.end();
    this.#iterators.clear();
    this.#participant._forgetReader(this.#id);
  }
}

/**
 * A participant through `pollen relay` at `url` (ws://HOST:PORT/): the relay allocates its UDP
 * ports and the participant announces them. Options: those of Participant.create plus the
 * WebSocketTransport's ({ token, WebSocket, wsOptions, reconnect, ... }).
 */
export async function connectRelay(url, options = {}) {
  const transport = new WebSocketTransport(url, options);
  return Participant.create(transport, options);
}
