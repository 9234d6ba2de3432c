// parley.js — the Parley browser client (Engine.IO v4 / Socket.IO v5). Work in progress.
export function io(url, options) {
  throw new Error("parley.js: not built yet");
}
