// parley.js — the browser client of Parley.
//
// One ES module, no dependencies, no build step. It speaks Engine.IO v4 and Socket.IO v5 as
// Protocol/engine.md, Protocol/socket.md and Protocol/client.md write them down, with an API
// close to the official Socket.IO client's, so a page moves over by changing its import:
//
//   import { io } from "/parley.js";
//   const socket = io({ transports: ["polling", "websocket"] });
//   socket.on("chat", (text) => console.log(text));
//   const answer = await socket.timeout(5000).emitWithAck("hello", "world");
//
// It adds the client half of Parley's reliable delivery (Protocol/reliable.md § 6) when created
// with `reliable: true`: a durable outbox (`emitReliable`), de-duplication of inbound messages
// by id, and room positions for `history(room)`, all kept in IndexedDB so they survive a reload
// or a closed tab. Where it differs from the official client is listed in Protocol/client.md § 8.

/** The Socket.IO protocol revision spoken. */
export const protocol = 5;

// ---------------------------------------------------------------------------------------------
// Small pieces
// ---------------------------------------------------------------------------------------------

/** Listener registry shared by the manager, the engine and the sockets. */
class Emitter {
  constructor() {
    /** @type {Map<string, Function[]>} */
    this._listeners = new Map();
  }

  /** @param {string} event @param {Function} listener @returns {this} */
  on(event, listener) {
    const list = this._listeners.get(event);
    if (list) list.push(listener);
    else this._listeners.set(event, [listener]);
    return this;
  }

  /** @param {string} event @param {Function} listener @returns {this} */
  once(event, listener) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      return listener.apply(this, args);
    };
    wrapper.listener = listener;
    return this.on(event, wrapper);
  }

  /** Removes one listener, every listener of an event, or every listener. */
  off(event, listener) {
    if (event === undefined) {
      this._listeners.clear();
    } else if (listener === undefined) {
      this._listeners.delete(event);
    } else {
      const list = this._listeners.get(event);
      if (list) {
        const i = list.findIndex((l) => l === listener || l.listener === listener);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this._listeners.delete(event);
      }
    }
    return this;
  }

  /** @param {string} event @returns {Function[]} */
  listeners(event) {
    return [...(this._listeners.get(event) ?? [])];
  }

  /** @param {string} event @returns {boolean} */
  hasListeners(event) {
    return (this._listeners.get(event)?.length ?? 0) > 0;
  }

  /** Calls the listeners of `event`; returns what they returned. */
  _emitLocal(event, ...args) {
    const list = this._listeners.get(event);
    if (!list) return [];
    const results = [];
    for (const listener of [...list]) {
      try {
        results.push(listener.apply(this, args));
      } catch (error) {
        reportListenerError(event, error);
      }
    }
    return results;
  }
}

function reportListenerError(event, error) {
  // A throwing listener must not stop the others nor the connection.
  setTimeout(() => {
    throw error;
  });
  if (typeof console !== "undefined") console.error(`parley.js: a "${event}" listener threw`, error);
}

/** An error of this library: `type` says which kind, `description` the underlying cause. */
export class ParleyError extends Error {
  /** @param {string} message @param {{type?: string, description?: any, data?: any, code?: string}} [details] */
  constructor(message, details = {}) {
    super(message);
    this.name = "ParleyError";
    this.type = details.type;
    this.description = details.description;
    this.data = details.data;
    this.code = details.code;
  }
}

function isBinary(value) {
  return (
    value instanceof ArrayBuffer ||
    ArrayBuffer.isView(value) ||
    (typeof Blob !== "undefined" && value instanceof Blob)
  );
}

function hasBinary(value, depth = 0) {
  if (depth > 64 || value === null || typeof value !== "object") return false;
  if (isBinary(value)) return true;
  if (Array.isArray(value)) return value.some((v) => hasBinary(v, depth + 1));
  if (typeof value.toJSON === "function") return false;
  return Object.values(value).some((v) => hasBinary(v, depth + 1));
}

/** Replaces every binary value with a placeholder and collects the values, in order. */
function deconstruct(value, attachments) {
  if (value === null || typeof value !== "object") return value;
  if (isBinary(value)) {
    attachments.push(value);
    return { _placeholder: true, num: attachments.length - 1 };
  }
  if (Array.isArray(value)) return value.map((v) => deconstruct(v, attachments));
  if (typeof value.toJSON === "function") return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = deconstruct(v, attachments);
  return out;
}

/** Puts the received attachments back where their placeholders are. */
function reconstruct(value, attachments) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reconstruct(value[i], attachments);
    return value;
  }
  if (value._placeholder === true && typeof value.num === "number") {
    if (!Number.isInteger(value.num) || value.num < 0 || value.num >= attachments.length) {
      throw new ParleyError("attachment placeholder out of range", { type: "parse error" });
    }
    return attachments[value.num];
  }
  for (const k of Object.keys(value)) value[k] = reconstruct(value[k], attachments);
  return value;
}

/** @param {Uint8Array} bytes */
function toBase64(bytes) {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

/** @param {string} text @returns {ArrayBuffer} */
function fromBase64(text) {
  let binary;
  try {
    binary = atob(text);
  } catch {
    throw new ParleyError("bad base64 in a polling payload", { type: "parse error" });
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

/** Bytes of any binary value, copied out of a view so the caller may reuse its buffer. */
async function bytesOf(value) {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return new Uint8Array(await value.arrayBuffer());
}

function utf8Length(text) {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function binaryLength(value) {
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return value.byteLength;
  return value.size;
}

let requestCounter = 0;
/** A value for `t` that no earlier request of this page used (Protocol/engine.md § 5.5). */
function cacheBuster() {
  requestCounter = (requestCounter + 1) % 1e9;
  return Date.now().toString(36) + "." + requestCounter.toString(36);
}

function randomId(length) {
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  const bytes = new Uint8Array(length);
  crypto.getRandomValues(bytes);
  let out = "";
  for (const b of bytes) out += alphabet[b % 36];
  return out;
}

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
  return { promise, resolve, reject };
}

// ---------------------------------------------------------------------------------------------
// Engine.IO v4: packets and payloads (Protocol/engine.md §§ 2, 4)
// ---------------------------------------------------------------------------------------------

const OPEN = "0", CLOSE = "1", PING = "2", PONG = "3", MESSAGE = "4", UPGRADE = "5", NOOP = "6";

/**
 * An engine packet: `type` is one digit, `data` a string or (for a message) binary.
 * @typedef {{type: string, data?: string | ArrayBuffer | ArrayBufferView | Blob}} EnginePacket
 */

/** @param {string} text @returns {EnginePacket} */
function decodeEnginePacket(text) {
  if (text.length === 0) throw new ParleyError("empty engine packet", { type: "parse error" });
  const type = text[0];
  if (type < "0" || type > "6") throw new ParleyError(`unknown engine packet type ${JSON.stringify(type)}`, { type: "parse error" });
  return { type, data: text.slice(1) };
}

/** Splits a polling body at the record separator; `b…` is a base64 binary message. */
function decodePayload(body) {
  const packets = [];
  for (const part of body.split("\x1e")) {
    if (part.length === 0) continue;
    if (part.startsWith("b")) packets.push({ type: MESSAGE, data: fromBase64(part.slice(1)) });
    else packets.push(decodeEnginePacket(part));
  }
  return packets;
}

/** @param {EnginePacket[]} packets @returns {Promise<string>} */
async function encodePayload(packets) {
  const parts = [];
  for (const p of packets) {
    if (typeof p.data === "string" || p.data === undefined) parts.push(p.type + (p.data ?? ""));
    else parts.push("b" + toBase64(await bytesOf(p.data)));
  }
  return parts.join("\x1e");
}

function packetLength(p) {
  if (p.data === undefined) return 1;
  if (typeof p.data === "string") return 1 + utf8Length(p.data);
  return 1 + Math.ceil(binaryLength(p.data) / 3) * 4;
}

// ---------------------------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------------------------

/** HTTP long-polling with fetch: one GET and one POST in flight at most (engine.md § 5). */
class PollingTransport {
  /** @param {Engine} engine */
  constructor(engine) {
    this.engine = engine;
    this.name = "polling";
    this.closed = false;
    this.polling = false;
    this.posting = false;
    this.paused = false;
    this._onPaused = null;
    this._getAbort = null;
  }

  get writable() {
    return !this.posting && !this.closed && !this.paused;
  }

  open() {
    this._poll();
  }

  _fetchOptions(init) {
    const opts = this.engine.opts;
    return Object.assign(
      {
        cache: "no-store",
        credentials: opts.withCredentials ? "include" : "same-origin",
        headers: Object.assign({}, opts.extraHeaders),
      },
      init,
    );
  }

  async _poll() {
    if (this.closed || this.paused) return;
    this.polling = true;
    const abort = new AbortController();
    this._getAbort = abort;
    let body;
    try {
      const res = await fetch(this.engine.uri("polling"), this._fetchOptions({ method: "GET", signal: abort.signal }));
      if (!res.ok) {
        const detail = await res.text().catch(() => "");
        throw new ParleyError(`polling GET answered HTTP ${res.status} ${detail}`.trim(), { type: "transport error", description: res.status });
      }
      body = await res.text();
    } catch (error) {
      this.polling = false;
      if (!this.closed) this.engine._onTransportError(this, error);
      return;
    }
    this.polling = false;
    if (this.closed) return;
    let packets;
    try {
      packets = decodePayload(body);
    } catch (error) {
      this.engine._onTransportError(this, error, "parse error");
      return;
    }
    for (const packet of packets) {
      if (this.closed) return;
      this.engine._onPacket(this, packet);
    }
    if (this.closed) return;
    if (this._onPaused) this._checkPaused();
    else this._poll();
  }

  /** @param {EnginePacket[]} packets */
  async send(packets) {
    this.posting = true;
    let ok = false;
    try {
      const body = await encodePayload(packets);
      const res = await fetch(
        this.engine.uri("polling"),
        this._fetchOptions({
          method: "POST",
          body,
          headers: Object.assign({ "Content-Type": "text/plain;charset=UTF-8" }, this.engine.opts.extraHeaders),
        }),
      );
      const text = await res.text().catch(() => "");
      if (!res.ok) throw new ParleyError(`polling POST answered HTTP ${res.status} ${text}`.trim(), { type: "transport error", description: res.status });
      ok = true;
    } catch (error) {
      this.posting = false;
      if (!this.closed) this.engine._onTransportError(this, error);
      return;
    }
    this.posting = false;
    if (this.closed || !ok) return;
    if (this._onPaused) this._checkPaused();
    else this.engine._onDrain(this);
  }

  /** Stops issuing requests; calls `done` once the GET and POST in flight have returned. */
  pause(done) {
    this._onPaused = done;
    this._checkPaused();
  }

  resume() {
    this._onPaused = null;
    this.paused = false;
    if (!this.polling && !this.closed) this._poll();
  }

  _checkPaused() {
    if (this.polling || this.posting || !this._onPaused) return;
    this.paused = true;
    const done = this._onPaused;
    this._onPaused = null;
    done();
  }

  /** Ends the transport; with `sendClose`, tells the server the session is over. */
  close(sendClose) {
    if (this.closed) return;
    this.closed = true;
    if (sendClose && this.engine.id) {
      // keepalive lets the request outlive a page being closed
      fetch(this.engine.uri("polling"), this._fetchOptions({ method: "POST", body: CLOSE, keepalive: true, headers: { "Content-Type": "text/plain;charset=UTF-8" } })).catch(() => {});
    }
    this._getAbort?.abort();
  }
}

/** WebSocket: one engine packet per frame, binary frames are messages (engine.md § 6). */
class WebSocketTransport {
  /** @param {Engine} engine @param {boolean} probe */
  constructor(engine, probe) {
    this.engine = engine;
    this.name = "websocket";
    this.probe = probe;
    this.closed = false;
    this.opened = false;
    this.ws = null;
  }

  get writable() {
    return !this.closed && this.opened;
  }

  open() {
    let ws;
    try {
      ws = new WebSocket(this.engine.uri("websocket"), this.engine.opts.protocols);
    } catch (error) {
      queueMicrotask(() => this.engine._onTransportError(this, error));
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      if (this.closed) return;
      this.opened = true;
      this.engine._onTransportOpen(this);
    };
    ws.onmessage = (event) => {
      if (this.closed) return;
      let packet;
      try {
        packet = typeof event.data === "string" ? decodeEnginePacket(event.data) : { type: MESSAGE, data: event.data };
      } catch (error) {
        this.engine._onTransportError(this, error, "parse error");
        return;
      }
      this.engine._onPacket(this, packet);
    };
    ws.onclose = (event) => {
      if (this.closed) return;
      this.closed = true;
      this.engine._onTransportError(this, new ParleyError(`websocket closed (code ${event.code})`, { type: "transport close", description: event }), "transport close");
    };
    ws.onerror = () => {
      // a close event follows and says the rest
    };
  }

  /** @param {EnginePacket[]} packets */
  send(packets) {
    for (const p of packets) {
      if (typeof p.data === "string" || p.data === undefined) this.ws.send(p.type + (p.data ?? ""));
      else this.ws.send(p.data);
    }
    queueMicrotask(() => {
      if (!this.closed) this.engine._onDrain(this);
    });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    try {
      this.ws?.close();
    } catch {
      // already closing
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The engine: one Engine.IO session (handshake, heartbeat, upgrade)
// ---------------------------------------------------------------------------------------------

const stalledKey = (base) => "parley.websocket-stalled:" + base;

/**
 * One Engine.IO session. Emits `open`, `message` (string or ArrayBuffer), `upgrade`
 * (transport), `upgradeError`, `ping`, `drain`, `close` (reason, description).
 */
class Engine extends Emitter {
  /** @param {Manager} manager */
  constructor(manager) {
    super();
    this.manager = manager;
    this.opts = manager.opts;
    this.id = null;
    this.readyState = "opening";
    this.writeBuffer = [];
    this.upgrading = false;
    this.upgrades = [];
    this.pingInterval = 25000;
    this.pingTimeout = 20000;
    this.maxPayload = 1e6;
    /** Whether a message of the server arrived in this session (the fallback decision). */
    this.carried = false;
    this._pingTimer = null;
    this._openTimer = null;
    this.transport = null;
  }

  /** The URL of a request over `transport`, with a fresh `t`. */
  uri(transport) {
    const m = this.manager;
    const query = new URLSearchParams(m.query);
    query.set("EIO", "4");
    query.set("transport", transport);
    if (this.opts.timestampRequests !== false) query.set(this.opts.timestampParam ?? "t", cacheBuster());
    if (this.id) query.set("sid", this.id);
    const base = transport === "websocket" ? m.baseURL.replace(/^http/, "ws") : m.baseURL;
    return base + "?" + query.toString();
  }

  /** @param {boolean} [pollingFirst] open on polling whatever the transports' order */
  open(pollingFirst = false) {
    const transports = this.opts.transports;
    const wantsWebSocketFirst = transports[0] === "websocket";
    const canPoll = transports.includes("polling");
    const first = wantsWebSocketFirst && !(canPoll && (pollingFirst || this.manager._webSocketStalled())) ? "websocket" : canPoll ? "polling" : "websocket";
    this._openTimer = setTimeout(() => this._onClose("transport error", new ParleyError("the handshake did not arrive in time", { type: "timeout" })), this.opts.timeout);
    this.transport = first === "websocket" ? new WebSocketTransport(this, false) : new PollingTransport(this);
    this.transport.open();
  }

  _onTransportOpen(transport) {
    if (transport === this.transport && transport.name === "websocket" && this.readyState === "opening") {
      // The server's open packet must follow promptly; a socket that opens and carries
      // nothing is a buffering proxy (Protocol/client.md § 8).
      clearTimeout(this._silenceTimer);
      this._silenceTimer = setTimeout(() => {
        if (this.readyState === "opening" && !this.carried) {
          this._onClose("transport error", new ParleyError("the websocket opened but carried nothing", { type: "websocket stalled" }));
        }
      }, Math.min(this.opts.webSocketOpenTimeout, this.opts.timeout));
    } else if (transport === this._probe) {
      transport.send([{ type: PING, data: "probe" }]);
    }
  }

  _onPacket(transport, packet) {
    if (transport === this._probe) {
      this._onProbePacket(packet);
      return;
    }
    if (transport !== this.transport || this.readyState === "closed") return;
    this.carried = true;
    this._armHeartbeat();
    switch (packet.type) {
      case OPEN:
        this._onHandshake(packet.data);
        break;
      case PING:
        this.sendPacket(PONG);
        this._emitLocal("ping");
        break;
      case MESSAGE:
        if (this.readyState === "open") this._emitLocal("message", packet.data);
        break;
      case CLOSE:
        this._onClose("transport close", new ParleyError("the server closed the session", { type: "transport close" }));
        break;
      case NOOP:
      case PONG:
        break;
      default:
        this._onClose("parse error", new ParleyError(`unexpected engine packet ${packet.type}`, { type: "parse error" }));
    }
  }

  _onHandshake(text) {
    if (this.readyState !== "opening") {
      this._onClose("parse error", new ParleyError("a second open packet", { type: "parse error" }));
      return;
    }
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
    if (!data || typeof data.sid !== "string") {
      this._onClose("parse error", new ParleyError("bad open packet", { type: "parse error", description: text }));
      return;
    }
    clearTimeout(this._openTimer);
    clearTimeout(this._silenceTimer);
    this.id = data.sid;
    this.upgrades = Array.isArray(data.upgrades) ? data.upgrades : [];
    this.pingInterval = Number(data.pingInterval) || 25000;
    this.pingTimeout = Number(data.pingTimeout) || 20000;
    this.maxPayload = Number(data.maxPayload) || 1e6;
    this.readyState = "open";
    this._armHeartbeat();
    this._emitLocal("open");
    this.flush();
    if (
      this.transport.name === "polling" &&
      this.opts.upgrade !== false &&
      this.upgrades.includes("websocket") &&
      this.opts.transports.includes("websocket") &&
      !this.manager._webSocketStalled()
    ) {
      this._startProbe();
    }
  }

  _armHeartbeat() {
    if (this.readyState !== "open") return;
    clearTimeout(this._pingTimer);
    this._pingTimer = setTimeout(
      () => this._onClose("ping timeout", new ParleyError("no ping from the server in time", { type: "ping timeout" })),
      this.pingInterval + this.pingTimeout,
    );
  }

  // --- upgrade (client.md § 2) ---

  _startProbe() {
    const probe = new WebSocketTransport(this, true);
    this._probe = probe;
    this._probeTimer = setTimeout(() => this._abandonProbe("no 3probe in time", true), this.opts.upgradeTimeout);
    probe.open();
  }

  _onProbePacket(packet) {
    const probe = this._probe;
    if (!probe) return;
    if (packet.type === PONG && packet.data === "probe" && !this.upgrading) {
      this.upgrading = true;
      this.transport.pause(() => {
        if (this._probe !== probe || this.readyState !== "open") return;
        clearTimeout(this._probeTimer);
        this._probe = null;
        probe.send([{ type: UPGRADE }]);
        const old = this.transport;
        old.close(false);
        this.transport = probe;
        probe.probe = false;
        this.upgrading = false;
        this._emitLocal("upgrade", probe);
        this.flush();
      });
    } else if (packet.type === NOOP) {
      // harmless
    } else {
      this._abandonProbe(`unexpected packet ${packet.type} during the probe`, true);
    }
  }

  /**
   * Stays on polling. A probe that stalled (`stalled`: opened, then no `3probe`) is a buffering
   * proxy: no WebSocket is tried again in this session.
   */
  _abandonProbe(why, stalled = false) {
    const probe = this._probe;
    if (!probe) return;
    this._probe = null;
    clearTimeout(this._probeTimer);
    probe.close();
    if (stalled) this.manager._rememberStall();
    const wasUpgrading = this.upgrading;
    this.upgrading = false;
    if (wasUpgrading && this.transport.name === "polling") this.transport.resume();
    this._emitLocal("upgradeError", new ParleyError(`websocket upgrade abandoned: ${why}`, { type: "upgrade" }));
    this.flush();
  }

  _onTransportError(transport, error, reason = "transport error") {
    if (transport === this._probe) {
      this._abandonProbe(String(error?.message ?? error));
      return;
    }
    if (transport !== this.transport) return;
    this._onClose(reason, error);
  }

  _onDrain(transport) {
    if (transport !== this.transport) return;
    if (this.writeBuffer.length === 0) this._emitLocal("drain");
    else this.flush();
  }

  // --- sending ---

  /** @param {string} type @param {any} [data] */
  sendPacket(type, data) {
    if (this.readyState === "closing" || this.readyState === "closed") return;
    this.writeBuffer.push({ type, data });
    this.flush();
  }

  /** Queues a message (string or binary) for the server. */
  write(data) {
    this.sendPacket(MESSAGE, data);
  }

  flush() {
    if ((this.readyState !== "open" && this.readyState !== "closing") || this.upgrading || !this.transport.writable || this.writeBuffer.length === 0) return;
    let packets;
    if (this.transport.name === "polling") {
      // Keep each POST under the server's maxPayload (at least one packet per POST).
      let size = 0;
      let n = 0;
      for (const p of this.writeBuffer) {
        const len = packetLength(p) + (n > 0 ? 1 : 0);
        if (n > 0 && size + len > this.maxPayload) break;
        size += len;
        n++;
      }
      packets = this.writeBuffer.splice(0, n);
    } else {
      packets = this.writeBuffer.splice(0);
    }
    this.transport.send(packets);
  }

  /**
   * Closes the session from this side, once what is queued went out (a DISCONNECT, say), or
   * after one second at most.
   */
  close() {
    if (this.readyState === "closed" || this.readyState === "closing") return;
    const finish = () => {
      if (this.readyState === "closed") return;
      if (this.transport?.name === "websocket" && this.transport.writable) this.transport.send([{ type: CLOSE }]);
      this._onClose("forced close", null, true);
    };
    if (this.readyState === "open" && (this.writeBuffer.length > 0 || this.upgrading || !this.transport.writable)) {
      this.readyState = "closing";
      this.once("drain", finish);
      setTimeout(finish, 1000);
      return;
    }
    finish();
  }

  _onClose(reason, description, sendClose = false) {
    if (this.readyState === "closed") return;
    sendClose = sendClose && this.id !== null;
    this.readyState = "closed";
    clearTimeout(this._pingTimer);
    clearTimeout(this._openTimer);
    clearTimeout(this._silenceTimer);
    clearTimeout(this._probeTimer);
    if (this._probe) {
      this._probe.close();
      this._probe = null;
    }
    this.transport?.close(sendClose);
    this.writeBuffer = [];
    this._emitLocal("close", reason, description);
  }
}

// ---------------------------------------------------------------------------------------------
// Socket.IO v5: packets (Protocol/socket.md)
// ---------------------------------------------------------------------------------------------

export const PacketType = Object.freeze({
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
});

/**
 * @typedef {{type: number, nsp: string, id?: number, data?: any, attachments?: number, json?: string}} Packet
 */

/**
 * Encodes a packet into its text part and its attachments. `packet.json`, when given, is the
 * JSON text of the data as stored earlier (the outbox resends the exact bytes).
 * @param {Packet} packet @param {any[]} [attachments] @returns {any[]}
 */
function encodePacket(packet, attachments) {
  let type = packet.type;
  let json;
  let blobs = attachments ?? [];
  if (packet.json !== undefined) {
    json = packet.json;
  } else if (packet.data !== undefined) {
    if ((type === PacketType.EVENT || type === PacketType.ACK) && hasBinary(packet.data)) {
      blobs = [];
      json = JSON.stringify(deconstruct(packet.data, blobs));
    } else {
      json = JSON.stringify(packet.data);
    }
  }
  if (blobs.length > 0 && type === PacketType.EVENT) type = PacketType.BINARY_EVENT;
  if (blobs.length > 0 && type === PacketType.ACK) type = PacketType.BINARY_ACK;
  let text = String(type);
  if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) text += blobs.length + "-";
  if (packet.nsp && packet.nsp !== "/") text += packet.nsp + ",";
  if (packet.id !== undefined && packet.id !== null) text += packet.id;
  if (json !== undefined) text += json;
  return [text, ...blobs];
}

const MAX_ATTACHMENTS = 10;

/** Turns engine messages back into packets, waiting for a binary packet's attachments. */
class Decoder {
  constructor() {
    this.pending = null;
  }

  /**
   * @param {string | ArrayBuffer} data
   * @returns {Packet | null} a complete packet, or null while attachments are missing
   */
  add(data) {
    if (typeof data !== "string") {
      if (!this.pending) throw new ParleyError("binary message outside a binary packet", { type: "parse error" });
      this.pending.buffers.push(data);
      if (this.pending.buffers.length < this.pending.packet.attachments) return null;
      const { packet, buffers } = this.pending;
      this.pending = null;
      packet.data = reconstruct(packet.data, buffers);
      return packet;
    }
    if (this.pending) throw new ParleyError("text message while a binary packet waits for attachments", { type: "parse error" });
    const packet = decodeSocketPacket(data);
    if (packet.type === PacketType.BINARY_EVENT || packet.type === PacketType.BINARY_ACK) {
      if (packet.attachments === 0) return packet;
      this.pending = { packet, buffers: [] };
      return null;
    }
    return packet;
  }

  reset() {
    this.pending = null;
  }
}

/** @param {string} text @returns {Packet} */
function decodeSocketPacket(text) {
  let i = 0;
  const type = text.charCodeAt(0) - 48;
  if (!(type >= 0 && type <= 6) || text.length === 0) throw new ParleyError(`unknown packet type in ${JSON.stringify(text.slice(0, 20))}`, { type: "parse error" });
  i = 1;
  /** @type {Packet} */
  const packet = { type, nsp: "/" };
  if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) {
    const dash = text.indexOf("-", i);
    const count = text.slice(i, dash);
    if (dash < 0 || !/^\d{1,3}$/.test(count)) throw new ParleyError("bad attachment count", { type: "parse error" });
    packet.attachments = Number(count);
    if (packet.attachments > MAX_ATTACHMENTS) throw new ParleyError("too many attachments", { type: "parse error" });
    i = dash + 1;
  }
  if (text[i] === "/") {
    const comma = text.indexOf(",", i);
    if (comma < 0) {
      packet.nsp = text.slice(i);
      i = text.length;
    } else {
      packet.nsp = text.slice(i, comma);
      i = comma + 1;
    }
  }
  let digits = "";
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) digits += text[i++];
  if (digits) {
    if (digits.length > 15) throw new ParleyError("ack id too large", { type: "parse error" });
    packet.id = Number(digits);
  }
  if (i < text.length) {
    try {
      packet.data = JSON.parse(text.slice(i));
    } catch {
      throw new ParleyError("bad JSON in a packet", { type: "parse error" });
    }
  }
  const ok =
    type === PacketType.CONNECT
      ? packet.data === undefined || isPlainObject(packet.data)
      : type === PacketType.DISCONNECT
        ? packet.data === undefined
        : type === PacketType.CONNECT_ERROR
          ? typeof packet.data === "string" || isPlainObject(packet.data)
          : type === PacketType.EVENT || type === PacketType.BINARY_EVENT
            ? Array.isArray(packet.data) && packet.data.length > 0 && (typeof packet.data[0] === "string" || typeof packet.data[0] === "number")
            : Array.isArray(packet.data) && packet.id !== undefined;
  if (!ok) throw new ParleyError(`invalid payload for packet type ${type}`, { type: "parse error" });
  return packet;
}

function isPlainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// The manager: one engine connection, reconnection, namespaces (client.md §§ 1, 4)
// ---------------------------------------------------------------------------------------------

const DEFAULTS = {
  path: "/socket.io",
  transports: ["polling", "websocket"],
  upgrade: true,
  upgradeTimeout: 3000,
  webSocketOpenTimeout: 5000,
  timeout: 20000,
  reconnection: true,
  reconnectionAttempts: Infinity,
  reconnectionDelay: 1000,
  reconnectionDelayMax: 5000,
  autoConnect: true,
  maxBufferedEmits: 1000,
  maxEventsBeforeConnect: 100000,
  addTrailingSlash: true,
  withCredentials: false,
  rememberFallback: true,
};

/**
 * One connection to one server, shared by the sockets of its namespaces. Emits `open`,
 * `close` (reason, description), `error`, `ping`, `packet`, `reconnect_attempt` (attempt),
 * `reconnect` (attempt), `reconnect_error` (error), `reconnect_failed`.
 */
export class Manager extends Emitter {
  /**
   * @param {string | URL} [uri] the server (scheme, host, port); defaults to the page's origin
   * @param {object} [opts] see `io`
   */
  constructor(uri, opts) {
    super();
    if (typeof uri === "object" && !(uri instanceof URL)) {
      opts = uri;
      uri = undefined;
    }
    this.opts = Object.assign({}, DEFAULTS, opts);
    if (!Array.isArray(this.opts.transports) || this.opts.transports.length === 0) throw new ParleyError("transports must list polling and/or websocket");
    for (const t of this.opts.transports) if (t !== "polling" && t !== "websocket") throw new ParleyError(`unknown transport ${JSON.stringify(t)}`);
    const base = new URL(uri ?? "/", typeof location !== "undefined" ? location.href : undefined);
    let path = this.opts.path.replace(/\/$/, "");
    if (this.opts.addTrailingSlash) path += "/";
    this.origin = base.origin.replace(/^ws/, "http");
    this.baseURL = this.origin + path;
    this.query = Object.assign({}, Object.fromEntries(base.searchParams), typeof this.opts.query === "string" ? Object.fromEntries(new URLSearchParams(this.opts.query)) : this.opts.query);
    /** @type {Map<string, Socket>} */
    this.nsps = new Map();
    this.engine = null;
    this._readyState = "closed";
    this._reconnecting = false;
    this._skipReconnect = false;
    this._attempts = 0;
    this._decoder = new Decoder();
    this._stalled = false;
    /** @type {ReliableStore | null} */
    this._store = null;
    if (this.opts.autoConnect) this.open();
  }

  /** `reconnection(false)` stops reconnecting; without an argument, whether it reconnects. */
  reconnection(value) {
    if (value === undefined) return this.opts.reconnection;
    this.opts.reconnection = !!value;
    if (!value) this._skipReconnect = true;
    return this;
  }

  reconnectionAttempts(value) {
    return this._option("reconnectionAttempts", value);
  }

  reconnectionDelay(value) {
    return this._option("reconnectionDelay", value);
  }

  reconnectionDelayMax(value) {
    return this._option("reconnectionDelayMax", value);
  }

  timeout(value) {
    return this._option("timeout", value);
  }

  _option(name, value) {
    if (value === undefined) return this.opts[name];
    this.opts[name] = value;
    return this;
  }

  _webSocketStalled() {
    if (this._stalled) return true;
    if (!this.opts.rememberFallback) return false;
    try {
      return sessionStorage.getItem(stalledKey(this.baseURL)) === "1";
    } catch {
      return false;
    }
  }

  _rememberStall() {
    this._stalled = true;
    if (!this.opts.rememberFallback) return;
    try {
      sessionStorage.setItem(stalledKey(this.baseURL), "1");
    } catch {
      // no session storage (sandboxed frame): remembered in memory only
    }
  }

  /**
   * Opens the connection (`connect` is the same). `callback(error?)` says how it went;
   * `pollingFirst` opens on polling whatever the transports' order.
   */
  open(callback, pollingFirst = false) {
    if (this._readyState === "open" || this._readyState === "opening") {
      return this;
    }
    this._skipReconnect = false;
    this._readyState = "opening";
    const engine = new Engine(this);
    this.engine = engine;
    this._decoder.reset();
    engine.on("open", () => {
      if (this.engine !== engine) return;
      this._readyState = "open";
      this._emitLocal("open");
      callback?.();
      for (const socket of this.nsps.values()) if (socket.active) socket._onOpen();
    });
    engine.on("message", (data) => this._onMessage(engine, data));
    engine.on("ping", () => this._emitLocal("ping"));
    engine.on("close", (reason, description) => {
      if (this.engine !== engine) return;
      const wasOpen = this._readyState === "open";
      this._readyState = "closed";
      this.engine = null;
      if (!wasOpen) {
        const transport = engine.transport;
        if (!pollingFirst && this.opts.transports.includes("polling") && transport?.name === "websocket" && !engine.carried) {
          // A WebSocket that could not open, or opened and carried nothing: this attempt goes
          // on over polling at once. The second is a buffering proxy: no WebSocket for the rest
          // of the session (client.md § 8).
          if (transport.opened) this._rememberStall();
          this._readyState = "closed";
          this.open(callback, true);
          return;
        }
        const error = new ParleyError(description?.message ?? reason, { type: reason, description });
        this._emitLocal("error", error);
        callback?.(error);
        for (const socket of this.nsps.values()) if (socket.active) socket._onConnectFailure(error);
        this._maybeReconnect();
        return;
      }
      this._onClose(reason, description);
    });
    engine.open(pollingFirst);
    return this;
  }

  connect(callback) {
    return this.open(callback);
  }

  _onMessage(engine, data) {
    if (this.engine !== engine) return;
    let packet;
    try {
      packet = this._decoder.add(data);
    } catch (error) {
      this._emitLocal("error", error);
      engine._onClose("parse error", error);
      return;
    }
    if (!packet) return;
    this._emitLocal("packet", packet);
    const socket = this.nsps.get(packet.nsp);
    if (socket) socket._onPacket(packet);
  }

  /** @param {string} nsp @param {object} [opts] @returns {Socket} */
  socket(nsp, opts) {
    let socket = this.nsps.get(nsp);
    if (!socket) {
      socket = new Socket(this, nsp, opts);
      this.nsps.set(nsp, socket);
    } else if (this.opts.autoConnect && !socket.active) {
      socket.connect();
    }
    return socket;
  }

  /** Sends a packet: the text part, then its attachments. */
  _packet(packet, attachments) {
    if (!this.engine || this.engine.readyState !== "open") return false;
    const parts = encodePacket(packet, attachments);
    for (const part of parts) this.engine.write(part);
    return true;
  }

  /** Called when a socket leaves: the connection closes when no socket is left. */
  _destroy(socket) {
    for (const s of this.nsps.values()) if (s.active) return;
    this._close();
  }

  _close() {
    this._skipReconnect = true;
    this._reconnecting = false;
    clearTimeout(this._reconnectTimer);
    const engine = this.engine;
    this._readyState = "closed";
    this.engine = null;
    if (engine) {
      engine.close();
      this._onClose("forced close");
    }
  }

  /** Closes the connection and stops reconnecting. */
  close() {
    this._close();
  }

  disconnect() {
    this._close();
  }

  _onClose(reason, description) {
    this._decoder.reset();
    this._emitLocal("close", reason, description);
    for (const socket of this.nsps.values()) socket._onClose(reason, description);
    this._maybeReconnect();
  }

  _maybeReconnect() {
    if (!this.opts.reconnection || this._skipReconnect || this._reconnecting) return;
    let active = false;
    for (const socket of this.nsps.values()) if (socket.active) active = true;
    if (!active && this.nsps.size > 0) return;
    this._reconnect();
  }

  /** Full-jitter backoff: a random delay below min(max, initial × 2^attempt). */
  _delay() {
    const ceiling = Math.min(this.opts.reconnectionDelayMax, this.opts.reconnectionDelay * 2 ** Math.min(this._attempts, 30));
    return Math.floor(Math.random() * ceiling);
  }

  _reconnect() {
    if (this._skipReconnect) return;
    if (this._attempts >= this.opts.reconnectionAttempts) {
      this._attempts = 0;
      this._reconnecting = false;
      this._emitLocal("reconnect_failed");
      return;
    }
    const delay = this._delay();
    this._reconnecting = true;
    this._reconnectTimer = setTimeout(() => {
      if (this._skipReconnect) return;
      this._attempts++;
      this._emitLocal("reconnect_attempt", this._attempts);
      if (this._skipReconnect) return;
      this.open((error) => {
        if (error) {
          this._reconnecting = false;
          this._emitLocal("reconnect_error", error);
          this._reconnect();
        } else {
          const attempts = this._attempts;
          this._reconnecting = false;
          this._attempts = 0;
          this._emitLocal("reconnect", attempts);
        }
      });
    }, delay);
  }

  _storeFor(opts) {
    if (!this._store) this._store = ReliableStore.open(opts);
    return this._store;
  }
}

// ---------------------------------------------------------------------------------------------
// Sockets: one namespace (client.md §§ 5, 6)
// ---------------------------------------------------------------------------------------------

const RESERVED = new Set(["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]);

/**
 * A namespace on a manager's connection. Emits `connect`, `connect_error` (error),
 * `disconnect` (reason, description) and the server's events.
 */
export class Socket extends Emitter {
  /** @param {Manager} io @param {string} nsp @param {object} [opts] */
  constructor(io, nsp, opts = {}) {
    super();
    this.io = io;
    this.nsp = nsp;
    this.id = undefined;
    this.connected = false;
    this.recovered = false;
    this.auth = opts.auth;
    this.active = false;
    /** Emits waiting for the connection (client.md § 5). */
    this.sendBuffer = [];
    /** Events that arrived before the CONNECT reply. */
    this.receiveBuffer = [];
    this.flags = {};
    this.ids = 0;
    /** @type {Map<number, {callback: Function, withError: boolean, timer?: any, sent: boolean}>} */
    this.acks = new Map();
    this._anyListeners = [];
    this._anyOutgoingListeners = [];
    this._pid = undefined;
    this._lastOffset = undefined;
    this._giveUpRecovery = false;
    /** `{id}` or `{room, offset}` while the listeners of a reliable message run, else null. */
    this.delivery = null;
    /** The reliable-delivery state, when the manager was created with `reliable`. */
    this._reliable = io.opts.reliable ? new ReliableSocket(this, io.opts.reliable) : null;
    if (io.opts.autoConnect) this.connect();
  }

  get disconnected() {
    return !this.connected;
  }

  /** Joins the namespace (opening the connection if needed). */
  connect() {
    if (this.connected) return this;
    this.active = true;
    if (this.io._readyState === "open") this._onOpen();
    else if (!this.io._reconnecting) this.io.open();
    return this;
  }

  open() {
    return this.connect();
  }

  async _onOpen() {
    let auth = this.auth;
    if (typeof auth === "function") {
      auth = await new Promise((resolve) => this.auth((data) => resolve(data)));
    }
    let data = isPlainObject(auth) ? Object.assign({}, auth) : {};
    if (this._pid && this._lastOffset && !this._giveUpRecovery) Object.assign(data, { pid: this._pid, offset: this._lastOffset });
    if (this._reliable) {
      try {
        // What a previous run left in the outbox goes before anything of this run.
        await this._reliable._load();
        data.deviceId = await this._reliable.deviceId();
      } catch (error) {
        this._emitLocal("connect_error", new ParleyError(`the reliable store cannot be opened: ${error?.message ?? error}`, { type: "store", description: error }));
        return;
      }
    }
    if (!this.active || this.io._readyState !== "open") return;
    this._giveUpRecovery = false;
    this.receiveBuffer = [];
    this.io._packet({ type: PacketType.CONNECT, nsp: this.nsp, data: Object.keys(data).length ? data : undefined });
  }

  _onConnectFailure(error) {
    if (!this.connected) this._emitLocal("connect_error", error);
  }

  /** @param {Packet} packet */
  _onPacket(packet) {
    switch (packet.type) {
      case PacketType.CONNECT:
        if (packet.data && typeof packet.data.sid === "string") this._onConnect(packet.data);
        else this._emitLocal("connect_error", new ParleyError("invalid CONNECT reply", { type: "parse error" }));
        break;
      case PacketType.EVENT:
      case PacketType.BINARY_EVENT:
        this._onEvent(packet);
        break;
      case PacketType.ACK:
      case PacketType.BINARY_ACK:
        this._onAck(packet);
        break;
      case PacketType.DISCONNECT:
        this._onServerDisconnect();
        break;
      case PacketType.CONNECT_ERROR: {
        this.active = false;
        const message = typeof packet.data === "string" ? packet.data : packet.data?.message;
        const error = new ParleyError(String(message ?? "connection refused"), { type: "connect_error", data: packet.data?.data });
        this._emitLocal("connect_error", error);
        this.io._destroy(this);
        break;
      }
    }
  }

  _onConnect({ sid, pid }) {
    this.id = sid;
    this.recovered = !!pid && pid === this._pid;
    if (!this.recovered) this._lastOffset = undefined;
    this._pid = pid;
    this.connected = true;
    // Events held before the reply, then the outbox, then the emits buffered while
    // disconnected, then `connect` (client.md §§ 5, 7).
    const held = this.receiveBuffer;
    this.receiveBuffer = [];
    for (const packet of held) this._dispatch(packet);
    this._reliable?._onConnect();
    const buffered = this.sendBuffer;
    this.sendBuffer = [];
    for (const item of buffered) this._send(item);
    this._emitLocal("connect");
  }

  _onEvent(packet) {
    if (!this.connected) {
      if (this.receiveBuffer.length >= this.io.opts.maxEventsBeforeConnect) {
        // Rather no recovery than a hole (client.md § 6).
        this.receiveBuffer = [];
        this._pid = undefined;
        this._lastOffset = undefined;
        this._giveUpRecovery = true;
        return;
      }
      if (!this._giveUpRecovery) this.receiveBuffer.push(packet);
      return;
    }
    this._dispatch(packet);
  }

  /** Passes an event to the application, through the reliable layer when there is one. */
  _dispatch(packet) {
    if (this._reliable) this._reliable._inbound(packet);
    else this._deliver(packet.data.slice(), packet.id);
  }

  /** @param {any[]} args the event name and its arguments @param {number} [ackId] */
  _deliver(args, ackId) {
    if (ackId !== undefined) args.push(this._ackFunction(ackId));
    if (this._pid && args.length > 1 && typeof args[args.length - 1] === "string") this._lastOffset = args[args.length - 1];
    const results = [];
    for (const listener of [...this._anyListeners]) {
      try {
        results.push(listener.apply(this, args));
      } catch (error) {
        reportListenerError("any", error);
      }
    }
    results.push(...this._emitLocal(...args));
    return results;
  }

  _ackFunction(id) {
    let sent = false;
    return (...args) => {
      if (sent) return;
      sent = true;
      this._packet({ type: PacketType.ACK, id, data: args });
    };
  }

  _onAck(packet) {
    const ack = this.acks.get(packet.id);
    if (!ack) return;
    this.acks.delete(packet.id);
    clearTimeout(ack.timer);
    if (ack.withError) ack.callback(null, ...packet.data);
    else ack.callback(...packet.data);
  }

  _onServerDisconnect() {
    this.active = false;
    this._pid = undefined;
    this._lastOffset = undefined;
    this._cleanup("io server disconnect");
    this.io._destroy(this);
  }

  _onClose(reason, description) {
    if (!this.connected) return;
    this._cleanup(reason, description);
  }

  _cleanup(reason, description) {
    const wasConnected = this.connected;
    this.connected = false;
    this.id = undefined;
    this._reliable?._onDisconnect();
    // Acks of packets already sent cannot arrive any more; emitWithAck and timeout() hear it
    // (the official client's rule); emits still buffered keep theirs.
    for (const [id, ack] of this.acks) {
      if (!ack.sent) continue;
      this.acks.delete(id);
      clearTimeout(ack.timer);
      if (ack.withError) ack.callback(new ParleyError("socket has been disconnected", { type: "disconnected" }));
    }
    if (wasConnected) this._emitLocal("disconnect", reason, description);
  }

  /** Leaves the namespace; the connection closes when no namespace is left. */
  disconnect() {
    if (this.connected) this._packet({ type: PacketType.DISCONNECT, nsp: this.nsp });
    this.active = false;
    this._pid = undefined;
    this._lastOffset = undefined;
    if (this.connected) this._cleanup("io client disconnect");
    this.io._destroy(this);
    return this;
  }

  close() {
    return this.disconnect();
  }

  // --- emitting ---

  /** Sends an event; a function as last argument is called with the server's ack. */
  emit(event, ...args) {
    if (RESERVED.has(event)) throw new ParleyError(`"${event}" is a reserved event name`);
    const flags = this.flags;
    this.flags = {};
    let callback;
    if (typeof args[args.length - 1] === "function") callback = args.pop();
    const item = { data: [event, ...args], callback, flags, id: undefined };
    if (callback) {
      item.id = this.ids++;
      this._registerAck(item, flags.timeout ?? this.io.opts.ackTimeout, flags.withError ?? flags.timeout !== undefined);
    }
    if (this.connected) {
      this._send(item);
    } else if (flags.volatile) {
      this._dropAck(item);
    } else {
      if (this.sendBuffer.length >= this.io.opts.maxBufferedEmits) {
        this._dropAck(item);
        throw new ParleyError(`emit buffer full (${this.io.opts.maxBufferedEmits} emits wait for the connection)`, { type: "buffer full" });
      }
      this.sendBuffer.push(item);
    }
    return this;
  }

  _registerAck(item, timeout, withError) {
    const ack = { callback: item.callback, withError, sent: false, timer: undefined };
    if (timeout !== undefined && timeout !== null && timeout !== Infinity) {
      ack.timer = setTimeout(() => {
        if (this.acks.get(item.id) !== ack) return;
        this.acks.delete(item.id);
        const i = this.sendBuffer.indexOf(item);
        if (i >= 0) this.sendBuffer.splice(i, 1);
        if (withError) ack.callback(new ParleyError("operation has timed out", { type: "timeout" }));
      }, timeout);
    }
    this.acks.set(item.id, ack);
  }

  _dropAck(item) {
    if (item.id === undefined) return;
    const ack = this.acks.get(item.id);
    this.acks.delete(item.id);
    if (ack) clearTimeout(ack.timer);
  }

  _send(item) {
    if (item.id !== undefined) {
      const ack = this.acks.get(item.id);
      if (!ack) return; // timed out while buffered
      ack.sent = true;
    }
    const volatileAndBusy = item.flags.volatile && !(this.io.engine?.transport?.writable ?? false);
    if (volatileAndBusy) {
      this._dropAck(item);
      return;
    }
    for (const listener of [...this._anyOutgoingListeners]) listener.apply(this, item.data);
    if (!this._packet({ type: PacketType.EVENT, nsp: this.nsp, id: item.id, data: item.data })) {
      this.sendBuffer.push(item);
    }
  }

  _packet(packet, attachments) {
    packet.nsp = this.nsp;
    return this.io._packet(packet, attachments);
  }

  /**
   * Sends an event and resolves with the first argument of the server's ack. With `retries`
   * (socket option) it sends again after each ack timeout, so the server may see it more
   * than once.
   */
  emitWithAck(event, ...args) {
    const flags = this.flags;
    this.flags = {};
    const timeout = flags.timeout ?? this.io.opts.ackTimeout;
    let tries = (this.io.opts.retries ?? 0) + 1;
    return new Promise((resolve, reject) => {
      const attempt = () => {
        tries--;
        this.flags = Object.assign({}, flags, { withError: true, timeout });
        this.emit(event, ...args, (error, answer) => {
          if (!error) resolve(answer);
          else if (tries > 0 && (error.type === "timeout" || error.type === "disconnected")) attempt();
          else reject(error);
        });
      };
      attempt();
    });
  }

  /** `socket.timeout(ms).emit(event, …, (error, answer) => …)`. */
  timeout(ms) {
    this.flags.timeout = ms;
    return this;
  }

  /** The next emit is dropped, not buffered, when it cannot go out now. */
  get volatile() {
    this.flags.volatile = true;
    return this;
  }

  /** Accepted for compatibility; Parley does not compress packets. */
  compress() {
    return this;
  }

  /** Sends an event named `message`. */
  send(...args) {
    return this.emit("message", ...args);
  }

  onAny(listener) {
    this._anyListeners.push(listener);
    return this;
  }

  prependAny(listener) {
    this._anyListeners.unshift(listener);
    return this;
  }

  offAny(listener) {
    if (!listener) this._anyListeners = [];
    else this._anyListeners = this._anyListeners.filter((l) => l !== listener);
    return this;
  }

  listenersAny() {
    return [...this._anyListeners];
  }

  onAnyOutgoing(listener) {
    this._anyOutgoingListeners.push(listener);
    return this;
  }

  offAnyOutgoing(listener) {
    if (!listener) this._anyOutgoingListeners = [];
    else this._anyOutgoingListeners = this._anyOutgoingListeners.filter((l) => l !== listener);
    return this;
  }

  // --- reliable delivery (Protocol/reliable.md § 6) ---

  /**
   * Writes a reliable emit to the durable outbox and resolves once it is there; its `answer`
   * resolves with the server's answer (the first argument of its ack) or rejects with a
   * `ParleyError` whose `code` is the wire error. Needs `reliable` in the options.
   * @returns {Promise<{key: string, answer: Promise<any>}>}
   */
  emitReliable(event, ...args) {
    if (!this._reliable) return Promise.reject(new ParleyError("emitReliable needs the `reliable` option"));
    if (RESERVED.has(event)) return Promise.reject(new ParleyError(`"${event}" is a reserved event name`));
    return this._reliable.emit(event, args);
  }

  /** How many reliable emits wait for their answer, from this run and earlier ones. */
  outboxDepth() {
    if (!this._reliable) return Promise.resolve(0);
    return this._reliable.depth();
  }

  /**
   * The reliable emits waiting for their answer, oldest first, including those a previous run
   * of the page left: `{key, event, args, answer}` (binary arguments come back as ArrayBuffer).
   */
  outbox() {
    if (!this._reliable) return Promise.resolve([]);
    return this._reliable.list();
  }

  /**
   * Reads a room's history from the position this client remembers (or the newest `limit`
   * messages when it remembers none) and moves the position to the page's end.
   * @returns {Promise<{room: string, messages: {offset: string, at: number, event: string, args: any[]}[], latest: string | null, more: boolean, reset: boolean}>}
   */
  history(room, { limit = 100 } = {}) {
    if (!this._reliable) return Promise.reject(new ParleyError("history needs the `reliable` option"));
    return this._reliable.history(room, limit);
  }

  /** Reliable messages dropped as repeats since the socket was created. */
  get repeatsDropped() {
    return this._reliable?.repeatsDropped ?? 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Reliable delivery, client half (Protocol/reliable.md § 6, Protocol/client.md § 7)
// ---------------------------------------------------------------------------------------------

function markerOf(value) {
  if (!isPlainObject(value)) return null;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === "parley" && isPlainObject(value.parley) ? value.parley : null;
}

/** Compares room offsets `<epoch>.<n>`: by n within one epoch; another epoch counts as newer. */
function offsetIsNewer(offset, than) {
  const [ea, na] = String(offset).split(".");
  const [eb, nb] = String(than).split(".");
  if (ea !== eb) return true;
  return Number(na) > Number(nb);
}

/** The persisted half: device id, key counter, outbox, ids seen, room positions. */
class ReliableStore {
  /** @param {{database?: string}} opts @returns {ReliableStore} */
  static open(opts) {
    const name = opts.database ?? "parley";
    if (typeof indexedDB === "undefined" || opts.database === null) return new ReliableStore(null, name);
    return new ReliableStore(openDatabase(name), name);
  }

  /** @param {Promise<IDBDatabase> | null} db */
  constructor(db, name) {
    this.name = name;
    this.db = db;
    this.memory = db ? null : { meta: new Map(), outbox: new Map(), seen: new Map(), rooms: new Map() };
    if (db) db.catch(() => {});
    this.recordsSinceTrim = new Map();
  }

  async _tx(stores, mode, body) {
    const db = await this.db;
    return new Promise((resolve, reject) => {
      const tx = db.transaction(stores, mode);
      let result;
      tx.oncomplete = () => resolve(result);
      tx.onabort = tx.onerror = () => reject(tx.error ?? new ParleyError("IndexedDB transaction aborted"));
      Promise.resolve(body(tx)).then((r) => {
        result = r;
      }, reject);
    });
  }

  async deviceId() {
    if (this.memory) {
      if (!this.memory.meta.has("deviceId")) this.memory.meta.set("deviceId", randomId(16));
      return this.memory.meta.get("deviceId");
    }
    return this._tx(["meta"], "readwrite", async (tx) => {
      const meta = tx.objectStore("meta");
      let id = await request(meta.get("deviceId"));
      if (!id) {
        id = randomId(16);
        meta.put(id, "deviceId");
      }
      return id;
    });
  }

  /** Appends an emit with the next key counter, in one transaction. */
  async addOutbox(scope, make) {
    if (this.memory) {
      const n = (this.memory.meta.get("counter") ?? 0) + 1;
      this.memory.meta.set("counter", n);
      const entry = make(n);
      this.memory.outbox.set(scope + "\n" + n, Object.assign({ scope, n }, entry));
      return Object.assign({ scope, n }, entry);
    }
    return this._tx(["meta", "outbox"], "readwrite", async (tx) => {
      const meta = tx.objectStore("meta");
      const n = ((await request(meta.get("counter"))) ?? 0) + 1;
      meta.put(n, "counter");
      const entry = Object.assign({ scope, n }, make(n));
      tx.objectStore("outbox").put(entry);
      return entry;
    });
  }

  async loadOutbox(scope) {
    if (this.memory) return [...this.memory.outbox.values()].filter((e) => e.scope === scope).sort((a, b) => a.n - b.n);
    return this._tx(["outbox"], "readonly", (tx) => request(tx.objectStore("outbox").getAll(IDBKeyRange.bound([scope, 0], [scope, Infinity]))));
  }

  async removeOutbox(scope, n) {
    if (this.memory) {
      this.memory.outbox.delete(scope + "\n" + n);
      return;
    }
    return this._tx(["outbox"], "readwrite", (tx) => {
      tx.objectStore("outbox").delete([scope, n]);
    });
  }

  async hasSeen(scope, id) {
    if (this.memory) return this.memory.seen.has(scope + "\n" + id);
    return this._tx(["seen"], "readonly", async (tx) => (await request(tx.objectStore("seen").getKey([scope, id]))) !== undefined);
  }

  /** Records an id and keeps the newest `window` ids of the scope. */
  async recordSeen(scope, id, window) {
    const since = (this.recordsSinceTrim.get(scope) ?? 0) + 1;
    const trim = since >= Math.max(1, Math.min(256, Math.floor(window / 8)));
    this.recordsSinceTrim.set(scope, trim ? 0 : since);
    if (this.memory) {
      this.memory.seen.set(scope + "\n" + id, { scope, id, at: Date.now() });
      if (trim) {
        const mine = [...this.memory.seen.entries()].filter(([, v]) => v.scope === scope);
        for (const [k] of mine.slice(0, Math.max(0, mine.length - window))) this.memory.seen.delete(k);
      }
      return;
    }
    return this._tx(["seen", "meta"], "readwrite", async (tx) => {
      const meta = tx.objectStore("meta");
      const seq = ((await request(meta.get("seenSeq"))) ?? 0) + 1;
      meta.put(seq, "seenSeq");
      const seen = tx.objectStore("seen");
      seen.put({ scope, id, seq });
      if (!trim) return;
      const range = IDBKeyRange.bound([scope, 0], [scope, Infinity]);
      const order = seen.index("order");
      let excess = (await request(order.count(range))) - window;
      if (excess <= 0) return;
      await new Promise((resolve, reject) => {
        const cursor = order.openCursor(range);
        cursor.onerror = () => reject(cursor.error);
        cursor.onsuccess = () => {
          const c = cursor.result;
          if (!c || excess <= 0) return resolve();
          c.delete();
          excess--;
          c.continue();
        };
      });
    });
  }

  async roomPosition(scope, room) {
    if (this.memory) return this.memory.rooms.get(scope + "\n" + room);
    return this._tx(["rooms"], "readonly", async (tx) => (await request(tx.objectStore("rooms").get([scope, room])))?.offset);
  }

  /** Moves a room's position forward (never back: other tabs share it). */
  async setRoomPosition(scope, room, offset) {
    if (this.memory) {
      const current = this.memory.rooms.get(scope + "\n" + room);
      if (!current || offsetIsNewer(offset, current)) this.memory.rooms.set(scope + "\n" + room, offset);
      return;
    }
    return this._tx(["rooms"], "readwrite", async (tx) => {
      const rooms = tx.objectStore("rooms");
      const current = (await request(rooms.get([scope, room])))?.offset;
      if (!current || offsetIsNewer(offset, current)) rooms.put({ scope, room, offset });
    });
  }
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDatabase(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore("meta");
      db.createObjectStore("outbox", { keyPath: ["scope", "n"] });
      db.createObjectStore("seen", { keyPath: ["scope", "id"] }).createIndex("order", ["scope", "seq"]);
      db.createObjectStore("rooms", { keyPath: ["scope", "room"] });
    };
    req.onsuccess = () => {
      const db = req.result;
      // Another page upgrading the schema: step aside rather than block it.
      db.onversionchange = () => db.close();
      resolve(db);
    };
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new ParleyError(`IndexedDB "${name}" is blocked by another page`));
  });
}

const RELIABLE_DEFAULTS = { window: 32, deduplicationWindow: 10000, retryDelay: 1000, maximumRetryDelay: 30000, shareAcrossTabs: true };

/** A socket's outbox, inbound de-duplication and room positions. */
class ReliableSocket {
  /** @param {Socket} socket */
  constructor(socket, opts) {
    this.socket = socket;
    this.opts = Object.assign({}, RELIABLE_DEFAULTS, opts === true ? {} : opts);
    this.store = socket.io._storeFor(this.opts);
    this.scope = socket.io.baseURL + "#" + socket.nsp;
    /** Pending emits by key counter, oldest first. */
    this.entries = [];
    this.inFlight = 0;
    this.repeatsDropped = 0;
    this._inboundChain = Promise.resolve();
    this._loaded = null;
    this._ready = false;
    /**
     * This page's room positions: the newest offset it passed on, from live messages and history
     * pages. Live repeats are judged by it; the stored position (shared by the profile's tabs)
     * is where `history()` continues from when the page has none yet.
     */
    this._positions = new Map();
    /** Ids this page passed on (its own or relayed by another tab), the newest 1 000. */
    this._delivered = new Set();
    // The tabs of a browser profile are one device: a message one of them passes on is
    // relayed to the others, which drop the server's copy as a repeat.
    this._tabs = null;
    if (this.opts.shareAcrossTabs !== false && typeof BroadcastChannel !== "undefined") {
      this._tabs = new BroadcastChannel("parley:" + this.store.name + ":" + this.scope);
      this._tabs.onmessage = (event) => this._onRelay(event.data);
    }
  }

  _remember(id) {
    this._delivered.add(id);
    if (this._delivered.size > 1000) this._delivered.delete(this._delivered.values().next().value);
  }

  _onRelay(data) {
    if (!data || typeof data.id !== "string" || !Array.isArray(data.args)) return;
    this._inboundChain = this._inboundChain.then(async () => {
      if (this._delivered.has(data.id)) return;
      this._remember(data.id);
      const socket = this.socket;
      socket.delivery = { id: data.id, relayed: true };
      try {
        await settle(socket._deliver(data.args));
      } finally {
        socket.delivery = null;
      }
    });
  }

  async _historyPosition(room) {
    return this._positions.get(room) ?? (await this.store.roomPosition(this.scope, room)) ?? null;
  }

  deviceId() {
    return this.store.deviceId();
  }

  /** Loads what a previous run left, once, before anything of this run is sent. */
  _load() {
    if (!this._loaded) {
      this._loaded = this.store.loadOutbox(this.scope).then((rows) => {
        const fresh = this.entries;
        this.entries = rows.map((row) => this._entry(row));
        for (const e of fresh) if (!this.entries.some((x) => x.n === e.n)) this.entries.push(e);
        this.entries.sort((a, b) => a.n - b.n);
        this._ready = true;
        this._pump();
      });
      this._loaded.catch(() => {
        this._loaded = null;
      });
    }
    return this._loaded;
  }

  _entry(row) {
    const d = deferred();
    return { n: row.n, key: row.key, json: row.json, binary: row.binary ?? [], answer: d, ackId: undefined, retryDelay: 0, waitingRetry: false };
  }

  async emit(event, args) {
    await this._load();
    const deviceId = await this.store.deviceId();
    const attachments = [];
    const row = await this.store.addOutbox(this.scope, (n) => {
      const key = deviceId + "." + n;
      const payload = deconstruct([event, ...args, { parley: { key } }], attachments);
      return { key, json: JSON.stringify(payload), binary: attachments.map((a) => (a instanceof ArrayBuffer ? a.slice(0) : ArrayBuffer.isView(a) ? a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength) : a)) };
    });
    const entry = this._entry(row);
    this.entries.push(entry);
    this.entries.sort((a, b) => a.n - b.n);
    this._pump();
    return { key: entry.key, answer: entry.answer.promise };
  }

  async depth() {
    await this._load();
    return this.entries.length;
  }

  async list() {
    await this._load();
    return this.entries.map((e) => {
      const data = reconstruct(JSON.parse(e.json), e.binary);
      data.pop(); // the marker
      const [event, ...args] = data;
      return { key: e.key, event, args, answer: e.answer.promise };
    });
  }

  _onConnect() {
    for (const e of this.entries) e.ackId = undefined;
    this.inFlight = 0;
    if (this._ready) this._pump();
    else this._load().catch(() => {});
  }

  _onDisconnect() {
    for (const e of this.entries) e.ackId = undefined;
    this.inFlight = 0;
  }

  /** Sends pending emits in order, at most `window` unanswered. */
  _pump() {
    const socket = this.socket;
    if (!socket.connected || !this._ready) return;
    for (const entry of this.entries) {
      if (this.inFlight >= this.opts.window) break;
      if (entry.ackId !== undefined || entry.waitingRetry) continue;
      const id = socket.ids++;
      entry.ackId = id;
      this.inFlight++;
      socket.acks.set(id, {
        withError: false,
        sent: true,
        callback: (...answer) => this._onAnswer(entry, id, answer),
      });
      socket._packet({ type: PacketType.EVENT, id, json: entry.json }, entry.binary);
    }
  }

  async _onAnswer(entry, id, answer) {
    if (entry.ackId !== id) return;
    entry.ackId = undefined;
    this.inFlight--;
    const marker = answer.length === 1 ? markerOf(answer[0]) : null;
    if (marker && marker.error === "store_failed") {
      entry.retryDelay = Math.min(this.opts.maximumRetryDelay, entry.retryDelay ? entry.retryDelay * 2 : this.opts.retryDelay);
      entry.waitingRetry = true;
      setTimeout(() => {
        entry.waitingRetry = false;
        this._pump();
      }, entry.retryDelay);
      this._pump();
      return;
    }
    try {
      await this.store.removeOutbox(this.scope, entry.n);
    } catch (error) {
      // Kept: it goes out again on the next connection, and the server answers it again.
      entry.ackId = undefined;
      console.error("parley.js: the outbox could not remove an answered emit", error);
      return;
    }
    const i = this.entries.indexOf(entry);
    if (i >= 0) this.entries.splice(i, 1);
    if (marker && typeof marker.error === "string") {
      entry.answer.reject(new ParleyError(marker.message ?? marker.error, { type: "reliable", code: marker.error }));
    } else {
      entry.answer.resolve(answer[0]);
    }
    this._pump();
  }

  /** Inbound events, one at a time in arrival order (client.md § 7). */
  _inbound(packet) {
    this._inboundChain = this._inboundChain.then(() => this._handle(packet)).catch((error) => {
      console.error("parley.js: an inbound event failed", error);
    });
  }

  async _handle(packet) {
    const socket = this.socket;
    const args = packet.data.slice();
    let index = args.length - 1;
    if (socket._pid && index > 1 && typeof args[index] === "string" && markerOf(args[index - 1])) index--;
    const marker = index >= 1 ? markerOf(args[index]) : null;
    if (!marker) {
      await settle(socket._deliver(args, packet.id));
      return;
    }
    args.splice(index, 1);
    if (typeof marker.id === "string") {
      let seen = this._delivered.has(marker.id);
      try {
        seen = seen || (await this.store.hasSeen(this.scope, marker.id));
      } catch (error) {
        console.error("parley.js: the de-duplication window cannot be read; the message will come again", error);
        return;
      }
      if (seen) {
        this.repeatsDropped++;
        if (socket._pid && typeof args[args.length - 1] === "string") socket._lastOffset = args[args.length - 1];
      } else {
        socket.delivery = { id: marker.id };
        this._remember(marker.id);
        const relayed = this._tabs ? [...args] : null;
        try {
          await settle(socket._deliver(args));
        } finally {
          socket.delivery = null;
        }
        try {
          this._tabs?.postMessage({ id: marker.id, args: relayed });
        } catch (error) {
          console.error("parley.js: a message could not be relayed to the other tabs", error);
        }
        try {
          await this.store.recordSeen(this.scope, marker.id, this.opts.deduplicationWindow);
        } catch (error) {
          console.error("parley.js: a received id could not be recorded; the message will come again", error);
          return;
        }
      }
      if (packet.id !== undefined && socket.connected) socket._packet({ type: PacketType.ACK, id: packet.id, data: [] });
      return;
    }
    if (typeof marker.room === "string" && typeof marker.offset === "string") {
      try {
        const position = this._positions.get(marker.room);
        if (position && !offsetIsNewer(marker.offset, position)) {
          this.repeatsDropped++;
          return;
        }
        this._positions.set(marker.room, marker.offset);
        await this.store.setRoomPosition(this.scope, marker.room, marker.offset);
      } catch (error) {
        console.error("parley.js: a room position could not be kept", error);
      }
      socket.delivery = { room: marker.room, offset: marker.offset };
      try {
        await settle(socket._deliver(args, packet.id));
      } finally {
        socket.delivery = null;
      }
      return;
    }
    await settle(socket._deliver(args, packet.id));
  }

  async history(room, limit) {
    const position = await this._historyPosition(room);
    const request = position ? { room, after: position, limit } : { room, last: limit };
    const page = await this.socket.emitWithAck("parley:history", request);
    const marker = markerOf(page);
    if (marker && typeof marker.error === "string") throw new ParleyError(marker.message ?? marker.error, { type: "history", code: marker.error });
    if (!isPlainObject(page) || !Array.isArray(page.messages)) throw new ParleyError("malformed history page", { type: "history", code: "bad_answer" });
    const messages = page.messages.map((m) => ({ offset: m.offset, at: m.at, event: m.event?.[0], args: (m.event ?? []).slice(1) }));
    const last = messages.length ? messages[messages.length - 1].offset : page.reset ? page.latest : null;
    if (last) {
      this._positions.set(room, last);
      await this.store.setRoomPosition(this.scope, room, last);
    }
    return { room, messages, latest: page.latest ?? null, more: !!page.more, reset: !!page.reset };
  }
}

async function settle(results) {
  for (const r of results) {
    if (r && typeof r.then === "function") {
      try {
        await r;
      } catch (error) {
        reportListenerError("event", error);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// io()
// ---------------------------------------------------------------------------------------------

const managers = new Map();

/**
 * Connects to a namespace: `io()`, `io("/chat")`, `io("https://host:3000/chat", opts)`.
 * Sockets of one server share a connection unless `forceNew` (or `multiplex: false`) is set or
 * the namespace is already in use on it.
 *
 * Options (the official client's names): `path` ("/socket.io"), `transports`
 * (["polling", "websocket"]), `upgrade`, `timeout` (20000 ms, for the handshake),
 * `reconnection`, `reconnectionAttempts`, `reconnectionDelay` (1000), `reconnectionDelayMax`
 * (5000), `autoConnect`, `auth` (object, or function receiving a callback), `query`,
 * `extraHeaders` (polling only), `withCredentials`, `ackTimeout`, `retries`. Parley's:
 * `maxBufferedEmits` (1000), `maxEventsBeforeConnect` (100000), `upgradeTimeout` (3000 ms),
 * `webSocketOpenTimeout` (5000 ms), `rememberFallback` (true), and `reliable` (`true` or
 * `{database, window, deduplicationWindow, retryDelay, maximumRetryDelay, shareAcrossTabs}`).
 * @returns {Socket}
 */
export function io(uri, opts) {
  if (typeof uri === "object" && uri !== null && !(uri instanceof URL)) {
    opts = uri;
    uri = undefined;
  }
  opts = opts ?? {};
  const url = new URL(uri ?? "/", typeof location !== "undefined" ? location.href : undefined);
  const given = typeof uri === "string" || uri instanceof URL;
  const nsp = given && url.pathname && url.pathname !== "" ? url.pathname : "/";
  const key = url.origin + "|" + (opts.path ?? DEFAULTS.path);
  let manager = managers.get(key);
  const newConnection = opts.forceNew || opts["force new connection"] || opts.multiplex === false || (manager && manager.nsps.has(nsp));
  if (newConnection || !manager) {
    manager = new Manager(url.origin + url.search, Object.assign({}, opts, { autoConnect: false }));
    manager.opts.autoConnect = opts.autoConnect ?? true;
    if (!newConnection) managers.set(key, manager);
  }
  const socket = manager.socket(nsp, opts);
  if (manager.opts.autoConnect && !socket.active) socket.connect();
  return socket;
}

io.Manager = Manager;
io.Socket = Socket;
io.io = io;
io.connect = io;
io.protocol = protocol;

export { io as connect };
export default io;
