// Pollen on Node.js: the `dgram` transport (UDP unicast and SPDP multicast) and
// createParticipant(). Loopback only unless told otherwise, like the native `pollen` tool.

import dgram from 'node:dgram';
import os from 'node:os';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { initSync, Participant, PollenError, ipToU32 } from './index.js';

export * from './index.js';

initSync(readFileSync(new URL('./pkg/pollen_js_bg.wasm', import.meta.url)));

/** The environment variable naming the interface when no option does. */
export const INTERFACE_ENV = 'POLLEN_INTERFACE';

/** Participant ids tried when none is given (as the native tool). */
const MAX_PROBED_PARTICIPANT_ID = 119;

function ipv4Entries() {
  const out = [];
  for (const [name, list] of Object.entries(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' || a.family === 4) out.push({ name, address: a.address, netmask: a.netmask });
    }
  }
  return out;
}

/**
 * The IPv4 address of an interface given as an address or a name (`lo`, `eth0`);
 * undefined consults POLLEN_INTERFACE and otherwise means loopback (127.0.0.1).
 */
export function resolveInterface(spec) {
  const s = String(spec ?? process.env[INTERFACE_ENV] ?? '').trim();
  if (s === '') return { address: '127.0.0.1', netmask: '255.0.0.0' };
  const entries = ipv4Entries();
  if (ipToU32(s) !== 0) {
    const e = entries.find((x) => x.address === s);
    return { address: s, netmask: e?.netmask ?? (s.startsWith('127.') ? '255.0.0.0' : '255.255.255.255') };
  }
  const e = entries.find((x) => x.name === s);
  if (!e) throw new PollenError('NO_INTERFACE', `no interface named ${JSON.stringify(s)} with an IPv4 address`);
  return { address: e.address, netmask: e.netmask };
}

function bindSocket(port, { reuseAddr = false, recvBufferSize }) {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr, recvBufferSize });
    const onError = (e) => {
      s.close();
      reject(e);
    };
    s.once('error', onError);
    s.bind({ port, address: '0.0.0.0', exclusive: true }, () => {
      s.off('error', onError);
      resolve(s);
    });
  });
}

/**
 * UDP over Node.js `dgram`: the unicast metatraffic and user ports of the first free
 * participant id and the shared SPDP multicast socket (reuseAddr, joined on the pinned
 * interface only, multicast egress pinned with setMulticastInterface).
 *
 * The sockets bind 0.0.0.0 (a port held on any address makes the participant id probe move
 * on, as the native driver does) and what arrives from off the pinned interface is dropped
 * and counted (`refusedOffInterface`): from loopback only, when pinned to loopback.
 */
export class NodeUdpTransport {
  #opts;
  #iface;
  #sockets = [];
  #sender = null;
  #sink = null;
  #inFlight = 0;
  #blocked = false;
  #host = new Set();
  #peers = new Set();
  #stats = {
    datagramsReceived: 0,
    datagramsSent: 0,
    sendErrors: 0,
    refusedOffInterface: 0,
    pushedBack: 0,
    lastError: '',
  };

  /**
   * @param options { interface (name or address; default POLLEN_INTERFACE or loopback),
   *   recvBufferSize = 4 MiB, maxInFlight = 256 (sends queued in Node before the transport
   *   pushes back) }
   */
  constructor(options = {}) {
    this.#opts = { recvBufferSize: 4 << 20, maxInFlight: 256, ...options };
    this.#iface = resolveInterface(options.interface);
  }

  /** The pinned interface's address. */
  get address() {
    return this.#iface.address;
  }

  async open(request, sink) {
    this.#sink = sink;
    for (const e of ipv4Entries()) this.#host.add(e.address);
    for (const p of request.peers ?? []) this.#peers.add(p.address);
    const { recvBufferSize } = this.#opts;
    const ids =
      request.participantId !== undefined ? [request.participantId] : [...Array(MAX_PROBED_PARTICIPANT_ID + 1).keys()];
    let bound;
    for (const id of ids) {
      const ports = request.ports(id);
      if (!ports) break;
      let meta;
      try {
        meta = await bindSocket(ports.metatraffic, { recvBufferSize });
      } catch (e) {
        if (e.code === 'EADDRINUSE') continue;
        throw e;
      }
      let user;
      try {
        user = await bindSocket(ports.user, { recvBufferSize });
      } catch (e) {
        meta.close();
        if (e.code === 'EADDRINUSE') continue;
        throw e;
      }
      bound = { id, meta, user, ports };
      break;
    }
    if (!bound) {
      throw new PollenError('NO_PORTS', `no participant id with free ports in domain ${request.domainId}`);
    }
    const a = this.#iface.address;
    // Multicast egress (SPDP) from the sending socket stays on the pinned interface.
    bound.meta.setMulticastInterface(a);
    bound.meta.setMulticastTTL(1);
    bound.meta.setMulticastLoopback(true);
    this.#sender = bound.meta;
    this.#listen(bound.meta, { address: a, port: bound.ports.metatraffic });
    this.#listen(bound.user, { address: a, port: bound.ports.user });
    let multicast = Boolean(request.multicast);
    if (multicast) {
      const mc = await bindSocket(request.spdpMulticast.port, { reuseAddr: true, recvBufferSize });
      try {
        mc.addMembership(request.spdpMulticast.address, a);
        mc.setMulticastInterface(a);
      } catch (e) {
        mc.close();
        this.close();
        throw new PollenError('MULTICAST', `cannot join ${request.spdpMulticast.address} on ${a}: ${e.message}`);
      }
      this.#listen(mc, { address: request.spdpMulticast.address, port: request.spdpMulticast.port });
    }
    return { address: a, participantId: bound.id, multicast };
  }

  #accepts(src) {
    if (src.startsWith('127.') || this.#host.has(src)) return true;
    if (this.#iface.address.startsWith('127.')) return false;
    if (this.#peers.has(src)) return true;
    const mask = ipToU32(this.#iface.netmask);
    return ((ipToU32(src) & mask) >>> 0) === ((ipToU32(this.#iface.address) & mask) >>> 0);
  }

  #listen(socket, locator) {
    this.#sockets.push(socket);
    socket.on('message', (msg, rinfo) => {
      if (!this.#accepts(rinfo.address)) {
        this.#stats.refusedOffInterface += 1;
        return;
      }
      this.#stats.datagramsReceived += 1;
      this.#sink?.ondatagram(msg, { address: rinfo.address, port: rinfo.port }, locator);
    });
    socket.on('error', (e) => {
      this.#stats.lastError = String(e.message);
      this.#sink?.onerror(e);
    });
  }

  /** Sends one datagram; false when the caller should wait for ondrain before the next. */
  send(data, to) {
    if (!this.#sender) return true;
    this.#inFlight += 1;
    this.#sender.send(data, to.port, to.address, (err) => {
      this.#inFlight -= 1;
      if (err) {
        // Lost like on the wire (reliable writers repair it); counted.
        this.#stats.sendErrors += 1;
        this.#stats.lastError = `send to ${to.address}:${to.port}: ${err.message}`;
      } else {
        this.#stats.datagramsSent += 1;
      }
      if (this.#blocked && this.#inFlight <= this.#opts.maxInFlight / 2) {
        this.#blocked = false;
        this.#sink?.ondrain();
      }
    });
    if (this.#inFlight >= this.#opts.maxInFlight) {
      this.#blocked = true;
      this.#stats.pushedBack += 1;
      return false;
    }
    return true;
  }

  /** Sends handed to Node.js and not completed yet. */
  pending() {
    return this.#inFlight;
  }

  /** The transport's counters. */
  stats() {
    return { ...this.#stats, inFlight: this.#inFlight };
  }

  close() {
    for (const s of this.#sockets) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
    this.#sockets = [];
    this.#sender = null;
    this.#sink = null;
  }
}

function isDir(p) {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A resolver of ROS 2 message definitions (for the `rosResolver` option): `name`
 * ('pkg/msg/Name') → the text of `<dir>/pkg/msg/Name.msg`, or undefined, for each `share`
 * directory of `paths` (prefixes or share directories) and then of AMENT_PREFIX_PATH.
 */
export function amentResolver(paths = [], env = process.env) {
  const prefixes = [...paths, ...(env.AMENT_PREFIX_PATH ?? '').split(path.delimiter)].filter(Boolean);
  const dirs = prefixes.map((p) => (isDir(path.join(p, 'share')) ? path.join(p, 'share') : p));
  return (name) => {
    const parts = String(name).split('/');
    if (parts.length !== 3 || parts.some((x) => !/^[A-Za-z0-9_]+$/.test(x))) return undefined;
    for (const d of dirs) {
      try {
        return readFileSync(path.join(d, parts[0], parts[1], `${parts[2]}.msg`), 'utf8');
      } catch {
        // not in this one
      }
    }
    return undefined;
  };
}

/**
 * A participant on Node.js over UDP.
 * @param options { domainId = 0, interface, peers (default ['127.0.0.1'] unless multicastOnly),
 *   multicast = true, multicastOnly = false, participantId, userData, mtu, recvBufferSize,
 *   rosDefinitions, rosPaths (ROS 2 prefixes searched before AMENT_PREFIX_PATH), rosResolver
 *   (default: amentResolver(rosPaths)) }
 */
export async function createParticipant(options = {}) {
  const transport = new NodeUdpTransport(options);
  let peers = options.peers;
  if (peers === undefined) peers = options.multicastOnly ? [] : ['127.0.0.1'];
  if (options.multicastOnly && options.multicast === false) {
    throw new PollenError('BAD_OPTIONS', 'multicastOnly with multicast off leaves no discovery');
  }
  const rosResolver = options.rosResolver ?? amentResolver(options.rosPaths ?? []);
  return Participant.create(transport, { ...options, peers, rosResolver });
}
