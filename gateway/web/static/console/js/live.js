// The live boards: one EventSource per page; views subscribe and get the latest board at once.

let source = null;
let latest = null;
const boardListeners = new Set();
const statusListeners = new Set();

export function startLive(onSignedOut) {
  if (source) return;
  source = new EventSource("/console/events");
  source.addEventListener("board", (ev) => {
    latest = JSON.parse(ev.data);
    boardListeners.forEach((fn) => fn(latest));
  });
  source.addEventListener("signed-out", () => { stopLive(); onSignedOut(); });
  source.onopen = () => statusListeners.forEach((fn) => fn(true));
  source.onerror = () => statusListeners.forEach((fn) => fn(false));
}

export function stopLive() {
  if (source) source.close();
  source = null;
  latest = null;
}

/** Calls fn(board) now (if a board arrived already) and on every change; returns unsubscribe. */
export function onBoard(fn) {
  boardListeners.add(fn);
  if (latest) fn(latest);
  return () => boardListeners.delete(fn);
}

export function onLiveStatus(fn) { statusListeners.add(fn); }
