// The test harness of parley.js (Tests/Interop/test_parleyjs_browser.py): one page that
// connects with either client and lets a WebDriver script drive the socket.
//
// Query parameters (all optional):
//   client=parley|socketio   parley (default): `await import(src)` and its `io`; socketio: the
//                            official bundle loaded as a classic script, `window.io`
//   src=/parley.js           the module parley.js is imported from
//   bundle=/socket.io.min.js where the official bundle is loaded from
//   url=http://host:port     the server (default: the page's origin)
//   nsp=/                    the namespace; the socket connects to `url + nsp`
//   path=/socket.io/         the engine path
//   transports=a,b           e.g. polling | websocket | polling,websocket | websocket,polling
//   reconnectionDelay, reconnectionDelayMax, reconnectionAttempts, randomizationFactor,
//   timeout, ackTimeout, retries (numbers); reconnection, upgrade, tryAllTransports (true|false)
//   auth={"token":"x"}       JSON, the CONNECT payload
//   opts={...}               JSON merged over every option above
//   listen=a,b               events recorded from the start (before the first connect)
//   answer=name              events acknowledged with their own arguments ("echo")
//   open=0                   do not create the socket on load; call harness.open(overrides)
//
// window.harness (every function that waits is bounded and returns a Promise):
//   ready                    Promise: the client is loaded and the socket created
//   socket, io, client       the socket, the io function, "parley" or "socketio"
//   options, url             what io() was called with
//   open(overrides)          creates the socket (only with open=0), resolves when created
//   state()                  snapshot: {client, fatal, connected, id, recovered, transport,
//                            connects:[{id, recovered, transport, at}], disconnects:[{reason, at}],
//                            connectErrors:[{message, at}], reconnects:[{attempt, at}],
//                            reconnectAttempts, opens, closes:[reason], upgrades:[{name, at}],
//                            received:{event: count}, pageErrors:[message], createdAt}
//                            (`at`: ms since performance.timeOrigin)
//   listen(...events)        records every later `event` (harness.received(event))
//   received(event)          the argument lists of `event` recorded so far (in wire form)
//   answer(event, reply)     acknowledges every later `event` with `reply`: "echo" (its own
//                            arguments) or an array of values in wire form; records it too
//   emit(event, ...args)     socket.emit
//   volatileEmit(event, ...args)  socket.volatile.emit
//   emitWithAck(event, ...args)   socket.emitWithAck; resolves with the (first) ack argument
//   ack(event, ...args)      socket.timeout(ackMs).emit(event, ...args, cb); resolves with all
//                            the ack's arguments
//   ackMs                    that timeout and the bound of emitWithAck (default 10000)
//   waitFor(expression, ms)  polls a JavaScript expression until truthy; resolves with its value
//   transport()              socket.io.engine.transport.name (null without an engine)
//   disconnect(), connect()  socket.disconnect(), socket.connect()
//   note(text)               shows a line on the page (for screenshots)
//   run(name, ...args)       calls one of the above, waiting for `ready` first; resolves
//                            {ok: value} or {error: message} — never rejects (for WebDriver)
//
// Wire form (what crosses WebDriver as JSON): {"$uint8array": [bytes]}, {"$arraybuffer":
// [bytes]} and {"$blob": [bytes]} become a Uint8Array, an ArrayBuffer, a Blob on the way in;
// received binary comes back as {"$arraybuffer": [bytes]} (or "$uint8array", or
// {"$blob": size}), nested anywhere inside arrays and objects.

const params = new URLSearchParams(location.search);
const now = () => Math.round(performance.now());

const record = {
  connects: [],
  disconnects: [],
  connectErrors: [],
  reconnects: [],
  reconnectAttempts: 0,
  opens: 0,
  closes: [],
  upgrades: [],
  received: {},
  pageErrors: [],
  createdAt: null,
};
const listened = new Map(); // event -> [args in wire form]

// ---- the page ------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function logLine(kind, text) {
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = `${(now() / 1000).toFixed(3)} ${text}`;
  const log = $("log");
  log.prepend(item);
  while (log.children.length > 40) log.lastChild.remove();
}

function short(value) {
  const text = JSON.stringify(value);
  return text && text.length > 140 ? `${text.slice(0, 137)}…` : text;
}

function render() {
  const socket = harness.socket;
  const status = $("status");
  const transport = harness.transport();
  if (harness.fatal) {
    status.className = "failed";
    status.textContent = `failed: ${harness.fatal}`;
  } else if (socket && socket.connected) {
    status.className = "connected";
    status.textContent = `connected · ${transport} · id ${socket.id}${socket.recovered ? " · recovered" : ""}`;
  } else if (socket) {
    const last = record.disconnects[record.disconnects.length - 1];
    status.className = "disconnected";
    status.textContent = `disconnected${last ? ` (${last.reason})` : ""}${transport ? ` · ${transport}` : ""}`;
  } else {
    status.className = "";
    status.textContent = "not opened";
  }
  $("counters").textContent =
    `connects ${record.connects.length} · disconnects ${record.disconnects.length} · ` +
    `connect errors ${record.connectErrors.length} · reconnect attempts ${record.reconnectAttempts} · ` +
    `reconnects ${record.reconnects.length} · upgrades ${record.upgrades.map((u) => u.name).join(",") || "none"}`;
}

function fail(message) {
  if (harness.fatal) return; // the first failure is the one that counts
  harness.fatal = message;
  logLine("error", `FATAL ${message}`);
  render();
}

window.addEventListener("error", (event) => {
  const message = event.error ? String(event.error.message || event.error) : String(event.message);
  record.pageErrors.push(message);
  logLine("error", `page error: ${message}`);
});
window.addEventListener("unhandledrejection", (event) => {
  const message = String((event.reason && event.reason.message) || event.reason);
  record.pageErrors.push(message);
  logLine("error", `unhandled rejection: ${message}`);
});

// ---- wire form -----------------------------------------------------------------------------

function toWire(value) {
  if (value instanceof ArrayBuffer) return { $arraybuffer: Array.from(new Uint8Array(value)) };
  if (ArrayBuffer.isView(value)) {
    return { $uint8array: Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
  }
  if (typeof Blob !== "undefined" && value instanceof Blob) return { $blob: value.size };
  if (value instanceof Error) return { $error: String(value.message) };
  if (Array.isArray(value)) return value.map(toWire);
  if (value === undefined) return null;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, toWire(item)]));
  }
  return value;
}

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$uint8array") return Uint8Array.from(value.$uint8array);
    if (keys.length === 1 && keys[0] === "$arraybuffer") return Uint8Array.from(value.$arraybuffer).buffer;
    if (keys.length === 1 && keys[0] === "$blob") return new Blob([Uint8Array.from(value.$blob)]);
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fromWire(item)]));
  }
  return value;
}

// ---- options -------------------------------------------------------------------------------

function optionsFromQuery() {
  const options = {};
  const list = params.get("transports");
  if (list) options.transports = list.split(",").map((name) => name.trim()).filter(Boolean);
  for (const name of ["reconnectionDelay", "reconnectionDelayMax", "reconnectionAttempts",
    "randomizationFactor", "timeout", "ackTimeout", "retries"]) {
    if (params.has(name)) options[name] = Number(params.get(name));
  }
  for (const name of ["reconnection", "upgrade", "tryAllTransports"]) {
    if (params.has(name)) options[name] = params.get(name) === "true";
  }
  if (params.has("path")) options.path = params.get("path");
  if (params.has("auth")) options.auth = JSON.parse(params.get("auth"));
  if (params.has("opts")) Object.assign(options, JSON.parse(params.get("opts")));
  return options;
}

async function loadClient(client) {
  if (client === "socketio") {
    const bundle = params.get("bundle") || "/socket.io.min.js";
    await new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = bundle;
      script.onload = resolve;
      script.onerror = () => reject(new Error(`cannot load ${bundle}`));
      document.head.append(script);
    });
    if (typeof window.io !== "function") throw new Error(`${bundle} defines no window.io`);
    return window.io;
  }
  const src = params.get("src") || "/parley.js";
  const module = await import(src);
  if (typeof module.io !== "function") throw new Error(`${src} exports no io function`);
  return module.io;
}

// ---- the socket ----------------------------------------------------------------------------

function watch(socket) {
  socket.on("connect", () => {
    record.connects.push({ id: socket.id, recovered: socket.recovered === true, transport: harness.transport(), at: now() });
    logLine("", `connect id ${socket.id} recovered ${socket.recovered} over ${harness.transport()}`);
    render();
  });
  socket.on("disconnect", (reason) => {
    record.disconnects.push({ reason: String(reason), at: now() });
    logLine("error", `disconnect: ${reason}`);
    render();
  });
  socket.on("connect_error", (error) => {
    const message = String((error && error.message) || error);
    record.connectErrors.push({ message, at: now() });
    logLine("error", `connect_error: ${message}`);
    render();
  });
  const manager = socket.io;
  const watchEngine = () => {
    const engine = manager.engine;
    if (!engine || typeof engine.on !== "function") return;
    engine.on("upgrade", (transport) => {
      const name = (transport && transport.name) || String(transport);
      record.upgrades.push({ name, at: now() });
      logLine("", `upgrade to ${name}`);
      render();
    });
  };
  manager.on("open", () => {
    record.opens += 1;
    watchEngine();
    render();
  });
  manager.on("close", (reason) => {
    record.closes.push(String(reason));
    render();
  });
  manager.on("reconnect_attempt", (attempt) => {
    record.reconnectAttempts += 1;
    logLine("", `reconnect attempt ${attempt}`);
    render();
  });
  manager.on("reconnect", (attempt) => {
    record.reconnects.push({ attempt, at: now() });
    logLine("", `reconnect after ${attempt} attempt(s)`);
    render();
  });
}

function listen(...events) {
  for (const event of events) {
    if (listened.has(event)) continue;
    listened.set(event, []);
    harness.socket.on(event, (...args) => {
      const wire = toWire(args);
      listened.get(event).push(wire);
      record.received[event] = (record.received[event] || 0) + 1;
      logLine("in", `← ${event} ${short(wire)}`);
      render();
    });
  }
  return events;
}

function answer(event, reply) {
  listened.set(event, listened.get(event) || []);
  harness.socket.on(event, (...args) => {
    const callback = typeof args[args.length - 1] === "function" ? args.pop() : null;
    const wire = toWire(args);
    listened.get(event).push(wire);
    record.received[event] = (record.received[event] || 0) + 1;
    logLine("in", `← ${event} ${short(wire)}${callback ? " (acked)" : ""}`);
    if (callback) callback(...(reply === "echo" ? args : fromWire(reply)));
    render();
  });
  return event;
}

function bounded(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// ---- window.harness ------------------------------------------------------------------------

const client = params.get("client") || "parley";
let resolveReady;
let rejectReady;
const ready = new Promise((resolve, reject) => {
  resolveReady = resolve;
  rejectReady = reject;
});
ready.catch(() => {}); // reported through harness.fatal

const harness = {
  client,
  ready,
  fatal: null,
  socket: null,
  io: null,
  options: null,
  url: null,
  ackMs: 10000,

  async open(overrides = {}) {
    if (harness.socket) throw new Error("the socket is already open");
    const base = params.get("url") || location.origin;
    const nsp = params.get("nsp") || "/";
    harness.url = base.replace(/\/+$/, "") + (nsp.startsWith("/") ? nsp : `/${nsp}`);
    harness.options = { ...optionsFromQuery(), ...overrides };
    $("setup").textContent = `io(${JSON.stringify(harness.url)}, ${JSON.stringify(harness.options)})`;
    record.createdAt = now();
    let socket;
    try {
      socket = harness.io(harness.url, harness.options);
    } catch (error) {
      fail(`io() threw: ${String((error && error.message) || error)}`);
      throw error;
    }
    harness.socket = socket;
    window.socket = socket; // the test teardown disconnects window.socket
    watch(socket);
    for (const event of (params.get("listen") || "").split(",").filter(Boolean)) listen(event);
    for (const event of (params.get("answer") || "").split(",").filter(Boolean)) answer(event, "echo");
    render();
    return true;
  },

  state() {
    const socket = harness.socket;
    return {
      client,
      fatal: harness.fatal,
      connected: Boolean(socket && socket.connected),
      id: socket ? socket.id ?? null : null,
      recovered: socket ? socket.recovered === true : false,
      transport: harness.transport(),
      ...record,
    };
  },

  transport() {
    try {
      const engine = harness.socket && harness.socket.io && harness.socket.io.engine;
      return (engine && engine.transport && engine.transport.name) || null;
    } catch (error) {
      return null;
    }
  },

  listen,
  answer,

  received(event) {
    return listened.get(event) || [];
  },

  emit(event, ...args) {
    logLine("out", `→ ${event} ${short(args)}`);
    harness.socket.emit(event, ...fromWire(args));
    return true;
  },

  volatileEmit(event, ...args) {
    logLine("out", `→ volatile ${event} ${short(args)}`);
    harness.socket.volatile.emit(event, ...fromWire(args));
    return true;
  },

  async emitWithAck(event, ...args) {
    logLine("out", `→ ${event} ${short(args)} (emitWithAck)`);
    const value = await bounded(harness.socket.emitWithAck(event, ...fromWire(args)), harness.ackMs, `emitWithAck ${event}`);
    logLine("in", `← ack of ${event} ${short(toWire(value))}`);
    return toWire(value);
  },

  ack(event, ...args) {
    logLine("out", `→ ${event} ${short(args)} (ack callback)`);
    return new Promise((resolve, reject) => {
      harness.socket.timeout(harness.ackMs).emit(event, ...fromWire(args), (error, ...reply) => {
        if (error) {
          reject(error);
          return;
        }
        logLine("in", `← ack of ${event} ${short(toWire(reply))}`);
        resolve(toWire(reply));
      });
    });
  },

  waitFor(expression, ms = 10000) {
    const check = new Function("harness", `return (${expression});`);
    return new Promise((resolve, reject) => {
      const deadline = performance.now() + ms;
      const poll = () => {
        let value;
        try {
          value = check(harness);
        } catch (error) {
          value = undefined;
        }
        if (value) {
          resolve(value);
        } else if (harness.fatal) {
          reject(new Error(`${harness.fatal} (while waiting for ${expression})`));
        } else if (performance.now() > deadline) {
          reject(new Error(`not within ${ms} ms: ${expression}`));
        } else {
          setTimeout(poll, 20);
        }
      };
      poll();
    });
  },

  disconnect() {
    harness.socket.disconnect();
    return true;
  },

  connect() {
    harness.socket.connect();
    return true;
  },

  note(text) {
    const line = document.createElement("div");
    line.textContent = text;
    $("notes").append(line);
    return true;
  },

  async run(name, ...args) {
    try {
      await ready;
    } catch (error) {
      return { error: `the harness is not ready: ${harness.fatal || String((error && error.message) || error)}` };
    }
    try {
      if (typeof harness[name] !== "function") throw new Error(`harness.${name} is not a function`);
      return { ok: toWire(await harness[name](...args)) };
    } catch (error) {
      return { error: String((error && error.message) || error) };
    }
  },
};
window.harness = harness;

$("client").textContent = client;
render();
setInterval(render, 250); // the transport can change without an event the page hears

(async () => {
  try {
    harness.io = await loadClient(client);
    if (params.get("open") !== "0") await harness.open();
    resolveReady(true);
  } catch (error) {
    fail(String((error && error.message) || error));
    rejectReady(error);
  }
})();
