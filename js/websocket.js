// The WebSocket transport: RTPS datagrams through `pollen relay`, for browsers (and Node.js
// with a global WebSocket, ≥ 22, or the `ws` package passed as `WebSocket`).
//
// The relay gives each session a UDP port pair and says so in its first (text) message; the
// participant announces those ports as its locators. Every binary message, both ways, is one
// datagram behind an 8-byte header: version 1, a channel (from the relay: 0 metatraffic, 1
// user, 2 SPDP multicast), the port and the IPv4 address (big-endian; the destination going
// up, the source coming down).

const VERSION = 1;
const HEADER = 8;
const CHANNELS = ['metatraffic', 'user', 'multicast'];

function ipBytes(s) {
  const p = String(s).split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return undefined;
  return p;
}

/** An error from the relay or the WebSocket, with a machine-readable `code`. */
export class RelayError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'RelayError';
    this.code = code;
  }
}

/**
 * A Transport over a WebSocket to `pollen relay`.
 *
 * Options: { token (sent as the subprotocol `pollen-token.TOKEN`, or in the URL with
 * tokenIn: 'query'), WebSocket (the class; default globalThis.WebSocket), wsOptions (the `ws`
 * package's third argument: { origin, headers }), maxBuffered = 1 MiB (bytes queued in the
 * WebSocket before send() pushes back), reconnect = true, reconnectDelay = 250 ms (doubling to
 * 4 s), openTimeout = 10000 ms }.
 *
 * Events through `onevent(name, detail)` when set: 'relayError' ({ code, message }),
 * 'disconnected', 'reconnected' ({ ports }).
 */
export class WebSocketTransport {
  #url;
  #opts;
  #WS;
  #ws = null;
  #sink = null;
  #hello = null;
  #closed = false;
  #blocked = false;
  #drainTimer = null;
  #reconnectTimer = null;
  #delay;
  #stats = {
    datagramsSent: 0,
    bytesSent: 0,
    datagramsReceived: 0,
    bytesReceived: 0,
    droppedDisconnected: 0,
    malformed: 0,
    pushedBack: 0,
    connects: 0,
    disconnects: 0,
    relayErrors: 0,
    lastError: '',
  };
  onevent = null;

  constructor(url, options = {}) {
    this.#url = String(url);
    this.#opts = { maxBuffered: 1 << 20, reconnect: true, reconnectDelay: 250, openTimeout: 10000, tokenIn: 'protocol', ...options };
    this.#WS = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WS !== 'function') {
      throw new RelayError('NO_WEBSOCKET', 'no WebSocket class: pass { WebSocket } (on Node.js < 22, the `ws` package)');
    }
    this.#delay = this.#opts.reconnectDelay;
  }

  /** What the relay said in its hello (ports, limits), once open. */
  get hello() {
    return this.#hello;
  }

  #urlFor(domainId, ports) {
    const u = new URL(this.#url);
    u.searchParams.set('domain', String(domainId));
    if (this.#opts.token !== undefined && this.#opts.tokenIn === 'query') u.searchParams.set('token', this.#opts.token);
    if (ports) u.searchParams.set('ports', `${ports[0]},${ports[1]}`);
    return u.toString();
  }

  #connect(domainId, ports) {
    const protocols = ['pollen-relay'];
    if (this.#opts.token !== undefined && this.#opts.tokenIn !== 'query') protocols.push(`pollen-token.${this.#opts.token}`);
    const ws = this.#opts.wsOptions
      ? new this.#WS(this.#urlFor(domainId, ports), protocols, this.#opts.wsOptions)
      : new this.#WS(this.#urlFor(domainId, ports), protocols);
    ws.binaryType = 'arraybuffer';
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => fail(new RelayError('TIMEOUT', `no hello from the relay at ${this.#url}`)), this.#opts.openTimeout);
      const fail = (e) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          ws.close();
        } catch {
          // not open
        }
        reject(e);
      };
      ws.onerror = (ev) => fail(new RelayError('CONNECT', `cannot connect to ${this.#url}: ${ev?.message ?? ev?.error?.message ?? 'refused (token, Origin, or session limit?)'}`));
      ws.onclose = (ev) => fail(new RelayError('CLOSED', `the relay closed the connection (${ev?.code ?? ''} ${ev?.reason ?? ''})`));
      ws.onmessage = (ev) => {
        if (typeof ev.data !== 'string') return fail(new RelayError('PROTOCOL', 'the relay spoke before its hello'));
        let h;
        try {
          h = JSON.parse(ev.data);
        } catch {
          return fail(new RelayError('PROTOCOL', 'the hello is not JSON'));
        }
        if (h.type === 'error') return fail(new RelayError(h.code ?? 'RELAY', String(h.message)));
        if (h.type !== 'hello' || h.version !== VERSION || !ipBytes(h.address)) {
          return fail(new RelayError('PROTOCOL', `unexpected hello ${ev.data.slice(0, 200)}`));
        }
        settled = true;
        clearTimeout(timer);
        resolve({ ws, hello: h });
      };
    });
  }

  #attach(ws) {
    this.#ws = ws;
    this.#stats.connects += 1;
    ws.onmessage = (ev) => this.#onMessage(ev.data);
    ws.onerror = (ev) => {
      this.#stats.lastError = String(ev?.message ?? 'WebSocket error');
    };
    ws.onclose = () => this.#onClose(ws);
  }

  #emit(name, detail) {
    try {
      this.onevent?.(name, detail);
    } catch {
      // a listener's problem
    }
  }

  #onMessage(data) {
    if (typeof data === 'string') {
      let m;
      try {
        m = JSON.parse(data);
      } catch {
        this.#stats.malformed += 1;
        return;
      }
      if (m.type === 'error') {
        this.#stats.relayErrors += 1;
        this.#stats.lastError = `${m.code}: ${m.message}`;
        this.#emit('relayError', { code: m.code, message: m.message });
      }
      return;
    }
    const b = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (b.length < HEADER || b[0] !== VERSION || b[1] > 2) {
      this.#stats.malformed += 1;
      return;
    }
    const port = (b[2] << 8) | b[3];
    const from = { address: `${b[4]}.${b[5]}.${b[6]}.${b[7]}`, port };
    const h = this.#hello;
    const channel = CHANNELS[b[1]];
    const to =
      channel === 'multicast'
        ? { address: h.spdp.address, port: h.spdp.port }
        : { address: h.address, port: channel === 'user' ? h.user : h.metatraffic };
    this.#stats.datagramsReceived += 1;
    this.#stats.bytesReceived += b.length - HEADER;
    this.#sink?.ondatagram(b.subarray(HEADER), from, to);
  }

  #onClose(ws) {
    if (ws !== this.#ws) return;
    this.#ws = null;
    this.#stats.disconnects += 1;
    if (this.#closed) return;
    this.#emit('disconnected', {});
    if (this.#opts.reconnect) this.#scheduleReconnect();
    else this.#sink?.onerror(new RelayError('CLOSED', 'the relay connection closed'));
  }

  #scheduleReconnect() {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(async () => {
      if (this.#closed) return;
      const h = this.#hello;
      try {
        const { ws, hello } = await this.#connect(h.domain, [h.metatraffic, h.user]);
        if (this.#closed) {
          ws.close();
          return;
        }
        if (hello.metatraffic !== h.metatraffic || hello.user !== h.user || hello.address !== h.address) {
          // The participant announced the old ports; it cannot take new ones.
          ws.close();
          const e = new RelayError('PORTS_CHANGED', `the relay gave ports ${hello.metatraffic}/${hello.user} instead of ${h.metatraffic}/${h.user}: create the participant again`);
          this.#stats.lastError = e.message;
          this.#sink?.onerror(e);
          this.#delay = Math.min(this.#delay * 2, 4000);
          this.#scheduleReconnect();
          return;
        }
        this.#hello = hello;
        this.#delay = this.#opts.reconnectDelay;
        this.#attach(ws);
        this.#emit('reconnected', { ports: [hello.metatraffic, hello.user] });
      } catch (e) {
        this.#stats.lastError = String(e.message);
        this.#delay = Math.min(this.#delay * 2, 4000);
        this.#scheduleReconnect();
      }
    }, this.#delay);
  }

  async open(request, sink) {
    this.#sink = sink;
    const { ws, hello } = await this.#connect(request.domainId);
    if (hello.domain !== request.domainId) {
      ws.close();
      throw new RelayError('DOMAIN', `the relay serves domain ${hello.domain}, not ${request.domainId}`);
    }
    this.#hello = hello;
    this.#attach(ws);
    return {
      address: hello.address,
      participantId: hello.participantId ?? 0,
      multicast: Boolean(hello.multicast && request.multicast),
      locators: { metatraffic: hello.metatraffic, user: hello.user },
    };
  }

  /** Sends one datagram; false when the WebSocket's buffer is over maxBuffered (ondrain follows). */
  send(data, to) {
    const ws = this.#ws;
    const ip = ipBytes(to.address);
    if (!ws || ws.readyState !== 1 || !ip) {
      // Lost like on the wire while reconnecting (reliable writers repair it).
      this.#stats.droppedDisconnected += 1;
      return true;
    }
    const f = new Uint8Array(HEADER + data.length);
    f[0] = VERSION;
    f[1] = 0;
    f[2] = (to.port >>> 8) & 255;
    f[3] = to.port & 255;
    f.set(ip, 4);
    f.set(data, HEADER);
    ws.send(f);
    this.#stats.datagramsSent += 1;
    this.#stats.bytesSent += data.length;
    if (ws.bufferedAmount > this.#opts.maxBuffered) {
      this.#blocked = true;
      this.#stats.pushedBack += 1;
      this.#watchDrain();
      return false;
    }
    return true;
  }

  // Browsers have no drain event on a WebSocket: poll bufferedAmount while blocked.
  #watchDrain() {
    if (this.#drainTimer !== null) return;
    this.#drainTimer = setInterval(() => {
      const ws = this.#ws;
      if (!ws || ws.bufferedAmount <= this.#opts.maxBuffered / 2 || this.#closed) {
        clearInterval(this.#drainTimer);
        this.#drainTimer = null;
        if (this.#blocked) {
          this.#blocked = false;
          this.#sink?.ondrain();
        }
      }
    }, 5);
  }

  /** Bytes queued in the WebSocket. */
  pending() {
    return this.#ws?.bufferedAmount ?? 0;
  }

  /** The transport's counters. */
  stats() {
    return { ...this.#stats, connected: this.#ws !== null ? 1 : 0 };
  }

  close() {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#drainTimer);
    this.#drainTimer = null;
    const ws = this.#ws;
    this.#ws = null;
    this.#sink = null;
    if (ws) {
      try {
        ws.close(1000, 'bye');
      } catch {
        // already closed
      }
    }
  }
}
