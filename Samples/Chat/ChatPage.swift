/// The chat's single web page, served at `/`. It runs on `parley.js`, which every Parley server
/// serves at `/parley.js`; with `?client=socketio` it runs on the official client instead,
/// loaded from ``clientBundlePath``, and explains how to get that file when it is missing.
enum ChatPage {
    /// Where the page expects the official `socket.io.min.js`.
    static let clientBundlePath = "/socket.io/socket.io.min.js"

    /// The page: `?transports=polling` (comma-separated) restricts the client's transports,
    /// `?client=socketio` picks the official client, and `?server=URL` connects to a chat server
    /// on another origin (a copy of the page served elsewhere; the server needs `--cors-origin`).
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Parley Chat</title>
    <style>
      :root { --accent: #4f46e5; --bg: #f4f5fb; --card: #fff; --muted: #6b7280; --line: #e5e7eb; }
      * { box-sizing: border-box; }
      html, body { height: 100%; margin: 0; }
      body { display: flex; flex-direction: column; background: var(--bg); color: #111827;
             font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
      header { display: flex; align-items: center; gap: 12px; padding: 10px 16px;
               background: var(--accent); color: #fff; }
      header h1 { margin: 0; font-size: 18px; font-weight: 600; }
      #room-title { opacity: .85; }
      #status { margin-left: auto; padding: 2px 10px; border-radius: 999px; font-size: 12px;
                background: rgba(255, 255, 255, .18); }
      .bar { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; padding: 8px 16px;
             background: var(--card); border-bottom: 1px solid var(--line); }
      .bar form { display: flex; gap: 6px; }
      #members { margin-left: auto; color: var(--muted); font-size: 12px; }
      input { font: inherit; padding: 6px 9px; border: 1px solid var(--line); border-radius: 6px; }
      input:focus { outline: 2px solid #c7d2fe; border-color: var(--accent); }
      button { font: inherit; padding: 6px 14px; border: 0; border-radius: 6px; cursor: pointer;
               background: var(--accent); color: #fff; }
      button:disabled { opacity: .45; cursor: default; }
      main { flex: 1; overflow-y: auto; padding: 12px 16px; }
      #messages { display: flex; flex-direction: column; gap: 6px; margin: 0; padding: 0; list-style: none; }
      .msg { align-self: flex-start; max-width: 75%; padding: 6px 10px; border-radius: 10px;
             background: var(--card); border: 1px solid var(--line); }
      .msg.mine { align-self: flex-end; background: #eef2ff; border-color: #c7d2fe; }
      .msg.pending { opacity: .55; }
      .msg.failed { border-color: #fca5a5; }
      .from { margin-right: 6px; font-weight: 600; color: var(--accent); }
      .meta { margin-left: 8px; font-size: 11px; color: var(--muted); }
      .msg.dm { border-color: #fcd34d; background: #fffbeb; }
      .msg.history { opacity: .8; }
      .notice { align-self: center; font-size: 12px; font-style: italic; color: var(--muted); }
      #typing { min-height: 22px; padding: 2px 16px; font-size: 12px; font-style: italic; color: var(--muted); }
      #compose { display: flex; gap: 8px; padding: 8px 16px 12px; background: var(--card);
                 border-top: 1px solid var(--line); }
      #compose input { flex: 1; }
      .help { margin: 16px; padding: 12px 16px; border-radius: 8px; background: #fff7ed;
              border: 1px solid #fed7aa; }
      .help p { margin: 6px 0; }
      .help code { background: #ffedd5; padding: 1px 4px; border-radius: 4px; }
      .help pre { margin: 0; padding: 8px 10px; border-radius: 6px; background: #ffedd5; overflow-x: auto; }
    </style>
    </head>
    <body>
    <header>
      <h1>Parley Chat</h1><span id="room-title">no room</span>
      <span id="status">connecting…</span>
    </header>
    <div class="bar">
      <form id="nick-form"><input id="nick" placeholder="nickname" maxlength="24" autocomplete="off"><button id="nick-set">Set</button></form>
      <form id="room-form"><input id="room" placeholder="room" value="lobby" maxlength="32" autocomplete="off"><button id="join">Join</button></form>
      <span id="members"></span>
    </div>
    <div id="parley-missing" class="help" hidden>
      <strong>parley.js is missing.</strong>
      <p>This page imports <code>/parley.js</code>, which a Parley server serves unless
      <code>servesClientScript</code> is off.</p>
    </div>
    <div id="help" class="help" hidden>
      <strong>The Socket.IO client is missing.</strong>
      <p>With <code>?client=socketio</code> this page loads the official <code>socket.io.min.js</code> from
      <code>/socket.io/socket.io.min.js</code>, which the server serves when started with
      <code>--client-js PATH</code>. One way to get the file (it ships in the nicegui wheel on PyPI):</p>
      <pre>pip download --no-deps nicegui==3.18.0 -d /tmp/nicegui
    unzip -j /tmp/nicegui/nicegui-*.whl nicegui/static/socket.io.min.js
    swift run Chat --client-js socket.io.min.js</pre>
    </div>
    <main id="scroller"><ul id="messages"></ul></main>
    <div id="typing"></div>
    <form id="compose"><input id="text" placeholder="Write a message… (/dm nick text for a direct message)" maxlength="2000" autocomplete="off" disabled><button id="send" disabled>Send</button></form>
    <script type="module">
    const $ = (id) => document.getElementById(id);
    const params = new URLSearchParams(location.search);
    // The client: parley.js by default, the official bundle with ?client=socketio. The page is
    // the same for both; parley.js adds a durable outbox and de-duplication of direct messages.
    const official = params.get("client") === "socketio";
    const loadScript = (src) => new Promise((resolve) => {
      const script = document.createElement("script");
      script.src = src; script.onload = resolve; script.onerror = resolve;
      document.head.append(script);
    });
    let io;
    if (official) {
      await loadScript("/socket.io/socket.io.min.js");
      io = window.io;
    } else {
      io = await import("/parley.js").then((m) => m.io, () => undefined);
    }
    window.chatClient = official ? "socket.io" : "parley.js";
    const chat = { nick: "", room: "", members: [], typers: new Map(), offsets: new Set(), dms: [], sentDMs: [] };
    window.chat = chat;

    function setStatus(text) { $("status").textContent = text; }
    function scrollDown() { $("scroller").scrollTop = $("scroller").scrollHeight; }
    function clock(ms) { return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }

    function addNotice(text) {
      const li = document.createElement("li");
      li.className = "notice";
      li.textContent = text;
      $("messages").append(li);
      scrollDown();
    }

    // Parley's reliable-delivery marker: the argument `{parley: {...}}` (Protocol/reliable.md § 2).
    function markerOf(args) { const m = args.find((a) => a && typeof a === "object" && a.parley); return m ? m.parley : {}; }

    // Direct messages already shown, by id: a message delivered again (at least once) shows once.
    const seenDMs = JSON.parse(localStorage.getItem("chat.seenDMs") || "[]");
    function firstTimeDM(id) {
      if (!id) return true;
      if (seenDMs.includes(id)) return false;
      seenDMs.push(id);
      localStorage.setItem("chat.seenDMs", JSON.stringify(seenDMs.slice(-500)));
      return true;
    }

    function addMessage(from, text, mine, time, extra) {
      const li = document.createElement("li");
      li.className = "msg" + (mine ? " mine pending" : "") + (extra ? " " + extra : "");
      const who = document.createElement("span"), body = document.createElement("span"), meta = document.createElement("span");
      who.className = "from"; who.textContent = from;
      body.className = "text"; body.textContent = text;
      meta.className = "meta"; meta.textContent = mine ? "sending…" : clock(time);
      li.append(who, body, meta);
      $("messages").append(li);
      scrollDown();
      return li;
    }

    function showMembers() {
      $("members").textContent = chat.room ? `${chat.members.length} here: ${chat.members.join(", ")}` : "";
      $("room-title").textContent = chat.room ? `# ${chat.room}` : "no room";
    }

    function showTypers() {
      const names = [...chat.typers.keys()];
      $("typing").textContent = names.length === 0 ? "" :
        names.length === 1 ? `${names[0]} is typing…` : `${names.join(" and ")} are typing…`;
    }

    function setMembers(list) { chat.members = [...new Set(list)].sort(); showMembers(); }

    if (typeof io !== "function") {
      $(official ? "help" : "parley-missing").hidden = false;
      setStatus("client missing");
      for (const b of document.querySelectorAll("button")) b.disabled = true;
    } else {
      const transports = params.get("transports");
      // The nickname is the user: direct messages wait for it. parley.js names the device
      // itself (reliable: true); with the official client the page keeps a device id.
      let deviceId = localStorage.getItem("chat.device");
      if (official && !deviceId) { deviceId = "web-" + Math.random().toString(36).slice(2, 10); localStorage.setItem("chat.device", deviceId); }
      const auth = (cb) => cb(Object.assign(official ? { deviceId } : {}, localStorage.getItem("chat.nick") ? { user: localStorage.getItem("chat.nick") } : {}));
      const socket = io(params.get("server") ?? undefined, Object.assign({ auth }, official ? {} : { reliable: true }, transports ? { transports: transports.split(",") } : {}));
      window.socket = socket;

      const showTransport = () => setStatus(`connected · ${socket.io.engine.transport.name}`);
      socket.io.on("open", () => { showTransport(); socket.io.engine.on("upgrade", showTransport); });
      socket.on("connect", showTransport);
      // parley.js keeps what is sent while disconnected (direct messages in its durable outbox),
      // so the page stays writable; the official client's page waits for the connection.
      socket.on("disconnect", (reason) => {
        setStatus(`disconnected (${reason})`);
        if (official) $("text").disabled = $("send").disabled = true;
      });
      socket.on("connect_error", (err) => setStatus(`cannot connect: ${err.message}` + (official ? "" : " · direct messages wait in the outbox")));
      $("nick").value = localStorage.getItem("chat.nick") ?? "";

      const setNick = (name) => socket.emit("nickname", name, (ack) => {
        if (!ack.ok) { addNotice(ack.error); return; }
        chat.nick = ack.nick; $("nick").value = ack.nick;
        localStorage.setItem("chat.nick", ack.nick);
      });
      const showHistory = (room) => socket.emitWithAck("parley:history", { room: "chat:" + room, last: 50 }).then((page) => {
        if (!page || !page.messages || room !== chat.room) return;
        for (const entry of page.messages) {
          if (chat.offsets.has(entry.offset)) continue;
          chat.offsets.add(entry.offset);
          const m = entry.event[1];
          addMessage(m.from, m.text, false, m.time, "history").dataset.id = entry.offset;
        }
      });
      const join = (room) => socket.emit("join", { room }, (ack) => {
        if (!ack.ok) { addNotice(ack.error); return; }
        if (chat.room !== ack.room) addNotice(`You joined # ${ack.room}`);
        chat.room = ack.room; chat.typers.clear(); showTypers();
        showHistory(ack.room);
        setMembers(ack.members);
        $("text").disabled = $("send").disabled = false;
        $("text").focus();
      });

      // A new connection is a new socket on the server: restate the nickname and the room.
      socket.on("welcome", ({ nick }) => {
        const wanted = $("nick").value.trim();
        if (wanted && wanted !== nick) setNick(wanted); else { chat.nick = nick; $("nick").value = nick; localStorage.setItem("chat.nick", nick); }
        if (chat.room) join(chat.room);
      });
      socket.on("message", (m, ...rest) => {
        const offset = official ? markerOf(rest).offset : socket.delivery?.offset;
        if (m.room !== chat.room || chat.offsets.has(offset)) return;
        if (offset) chat.offsets.add(offset);
        addMessage(m.from, m.text, false, m.time).dataset.id = offset;
      });
      socket.on("dm", (m, ...rest) => {
        // parley.js drops repeats and acknowledges by itself; the official client hands over
        // the marker and an ack callback.
        const ack = rest.find((a) => typeof a === "function");
        if (!official || firstTimeDM(markerOf(rest).id)) {
          chat.dms.push(`${m.from}: ${m.text}`);
          addMessage(`${m.from} → you`, m.text, false, m.time, "dm");
        }
        if (ack) ack();
      });
      socket.on("joined", ({ room, nick }) => { if (room !== chat.room) return; addNotice(`${nick} joined`); setMembers([...chat.members, nick]); });
      socket.on("left", ({ room, nick }) => {
        if (room !== chat.room) return;
        addNotice(`${nick} left`);
        const i = chat.members.indexOf(nick); if (i >= 0) chat.members.splice(i, 1);
        chat.typers.delete(nick); showMembers(); showTypers();
      });
      socket.on("renamed", ({ room, from, to }) => {
        if (room !== chat.room) return;
        addNotice(`${from} is now ${to}`);
        setMembers(chat.members.map((n) => (n === from ? to : n)));
      });
      socket.on("typing", ({ room, nick, typing }) => {
        if (room !== chat.room) return;
        clearTimeout(chat.typers.get(nick));
        // Volatile indicators may be lost: forget a typist after a while without news.
        if (typing) chat.typers.set(nick, setTimeout(() => { chat.typers.delete(nick); showTypers(); }, 5000));
        else chat.typers.delete(nick);
        showTypers();
      });

      // A direct message's bubble: "queued" while in the outbox, then the server's answer.
      function showAnswer(li, err, ack) {
        li.classList.remove("pending");
        const meta = li.querySelector(".meta");
        if (err || !ack.ok) { li.classList.add("failed"); meta.textContent = err ? (err.code ? err.message : "not delivered") : ack.error; return; }
        li.dataset.id = ack.id;
        meta.textContent = clock(ack.time);
        chat.sentDMs.push(ack.id);
      }
      function showOutbound(li, key, answer) {
        li.dataset.key = key;
        li.querySelector(".meta").textContent = "queued";
        answer.then((ack) => showAnswer(li, null, ack), (err) => showAnswer(li, err));
      }
      // Direct messages a previous visit of this page left in the outbox: shown as queued.
      if (!official) {
        socket.outbox().then((pending) => {
          for (const { key, event, args, answer } of pending) {
            if (event !== "dm") continue;
            showOutbound(addMessage(`you → ${args[0].to}`, args[0].text, true, 0, "dm"), key, answer);
          }
        });
      }

      $("nick-form").addEventListener("submit", (e) => { e.preventDefault(); setNick($("nick").value); });
      $("room-form").addEventListener("submit", (e) => { e.preventDefault(); join($("room").value); });

      let typing = false, typingTimer = 0;
      const sendTyping = (value) => {
        if (typing === value || !chat.room) return;
        typing = value;
        socket.volatile.emit("typing", { room: chat.room, typing: value });
      };
      $("text").addEventListener("input", () => {
        sendTyping($("text").value.length > 0);
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => sendTyping(false), 2000);
      });
      $("compose").addEventListener("submit", (e) => {
        e.preventDefault();
        const text = $("text").value.trim();
        const direct = text.match(/^\/dm\s+(\S+)\s+(.+)$/);
        if (direct) {
          $("text").value = "";
          const request = { to: direct[1], text: direct[2] };
          const li = addMessage(`you → ${request.to}`, request.text, true, 0, "dm");
          if (!official) {
            // Into the durable outbox first: it goes out (again) until the server answers,
            // across reconnections and reloads of this page.
            socket.emitReliable("dm", request).then(({ key, answer }) => showOutbound(li, key, answer),
              (err) => showAnswer(li, err));
            return;
          }
          socket.timeout(10000).emit("dm", request, (err, ack) => showAnswer(li, err, ack));
          return;
        }
        if (!text || !chat.room) return;
        $("text").value = "";
        sendTyping(false);
        const li = addMessage(chat.nick, text, true);
        socket.timeout(10000).emit("message", { room: chat.room, text }, (err, ack) => {
          li.classList.remove("pending");
          const meta = li.querySelector(".meta");
          if (err || !ack.ok) { li.classList.add("failed"); meta.textContent = err ? "not delivered" : ack.error; return; }
          li.dataset.id = ack.id;
          chat.offsets.add(ack.id);
          meta.textContent = clock(ack.time);
        });
      });
    }
    </script>
    </body>
    </html>
    """#
}
