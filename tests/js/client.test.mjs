// Tests of livepush.js with a fake WebSocket and node:test's fake timers: no network, no sleeps.
import { test } from "node:test";
import assert from "node:assert/strict";

import LivePushDefault, { CloseCode, LivePush } from "../../src/livepush/static/livepush/livepush.js";
import { fakeWebSocket } from "./fake-websocket.mjs";

const URL_ = "ws://test.invalid/ws/";

/** Fake time from 0, a fake WebSocket and a client; random() returns `r` unless given. */
function setup(t, options = {}) {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const statuses = [];
  const client = new LivePush({ url: URL_, WebSocket: WS, random: () => 0, ...options });
  client.onStatus((info) => statuses.push(info.status));
  t.after(() => client.close());
  return { client, WS, statuses, tick: (ms) => t.mock.timers.tick(ms) };
}

const flushMicrotasks = () => new Promise((resolve) => setImmediate(resolve));

function expectedDelay(n, r) {
  return Math.min(1000 * 1.5 ** (n - 1), 30000) * (1 - 0.5 * r);
}

test("exports: named, default and the close codes of the protocol", () => {
  assert.equal(LivePushDefault, LivePush);
  assert.deepEqual({ ...CloseCode }, {
    NORMAL: 1000, MESSAGE_TOO_BIG: 1009, SERVER_ERROR: 4000, UNAUTHENTICATED: 4001,
    HEARTBEAT_TIMEOUT: 4002, TOKEN_EXPIRED: 4003, MESSAGE_TOO_BIG_APP: 4009,
    SERVICE_RESTART: 1012, SERVICE_RESTART_APP: 4012,
    RATE_LIMITED: 4008, BACKLOG_OVERFLOW: 4010, TOO_MANY_CONNECTIONS: 4011,
  });
});

test("default URL follows the page's scheme and host", (t) => {
  const WS = fakeWebSocket();
  t.after(() => delete globalThis.location);
  globalThis.location = { protocol: "https:", host: "example.com:8443" };
  const secure = new LivePush({ WebSocket: WS });
  globalThis.location = { protocol: "http:", host: "localhost:8000" };
  const plain = new LivePush({ WebSocket: WS });
  secure.close();
  plain.close();
  assert.deepEqual(WS.instances.map((ws) => ws.url), ["wss://example.com:8443/ws/", "ws://localhost:8000/ws/"]);
});

test("subprotocol transport offers livepush and livepush.token.<token>; none without a token", (t) => {
  const { WS } = setup(t, { token: "abc.def" });
  assert.equal(WS.last.url, URL_);
  assert.deepEqual(WS.last.protocols, ["livepush", "livepush.token.abc.def"]);
  const bare = new LivePush({ url: URL_, WebSocket: WS }); // no token option: anonymous
  bare.close();
  assert.deepEqual(WS.last.protocols, ["livepush"]);
});

test("a token provider that gives no token (a 401: not logged in) stops before dialling", async (t) => {
  let loggedIn = false;
  const { client, WS, statuses, tick } = setup(t, { token: async () => (loggedIn ? "t" : null) });
  await flushMicrotasks();
  assert.equal(WS.instances.length, 0, "no socket is opened to be refused");
  assert.deepEqual(statuses.slice(0, 2), ["connecting", "failed"]);
  assert.match(client.statusInfo.reason, /^no_token/);
  tick(10 * 60 * 1000);
  assert.equal(WS.instances.length, 0, "and nothing retries by itself");
  loggedIn = true;
  client.connect();
  await flushMicrotasks();
  assert.equal(WS.instances.length, 1);
});

test("a 4001's reason comes from the ERROR frame before it (daphne) or the close frame", (t) => {
  const { client, WS } = setup(t, { token: () => "t" });
  WS.last.open();
  WS.last.receive({ type: "ERROR", data: { code: "unauthenticated", reason: "expired_token", detail: "..." } });
  WS.last.serverClose(4001);
  assert.equal(client.statusInfo.reason, "expired_token");
  assert.equal(client.status, "reconnecting"); // a fresh token may do
  WS.last.open();
  WS.last.serverClose(4001, "invalid_signature"); // uvicorn passes the close frame's reason
  assert.equal(client.status, "failed");
  assert.equal(client.statusInfo.reason, "invalid_signature: the server refused the token");
});

test("a 4001 for a missing token is not retried: a fresh one cannot appear by itself", (t) => {
  const { client, WS } = setup(t, { token: () => "t" });
  WS.last.open();
  WS.last.receive({ type: "ERROR", data: { code: "unauthenticated", reason: "missing_token", detail: "..." } });
  WS.last.serverClose(4001);
  assert.equal(client.status, "failed");
  assert.equal(WS.instances.length, 1);
});

test("query transport appends the encoded token, with a configurable parameter name", (t) => {
  const { WS } = setup(t, { token: "a+b/c", tokenTransport: "query" });
  assert.equal(WS.last.url, `${URL_}?accessToken=a%2Bb%2Fc`);
  assert.deepEqual(WS.last.protocols, ["livepush"]);
  const other = new LivePush({
    url: `${URL_}?x=1`, WebSocket: WS, token: "t", tokenTransport: "query", queryParam: "jwt",
  });
  other.close();
  assert.equal(WS.last.url, `${URL_}?x=1&jwt=t`);
});

test("the token provider is called before every connect and reconnect", (t) => {
  let calls = 0;
  const { WS, tick } = setup(t, { token: () => `tok${++calls}` });
  assert.equal(calls, 1);
  WS.last.serverClose(1006);
  assert.equal(calls, 1, "not called before the backoff delay");
  tick(expectedDelay(1, 0));
  assert.equal(calls, 2);
  assert.deepEqual(WS.last.protocols, ["livepush", "livepush.token.tok2"]);
});

test("an async token provider is awaited before the socket opens", async (t) => {
  let calls = 0;
  const { client, WS, tick } = setup(t, { token: async () => `async${++calls}` });
  assert.equal(WS.instances.length, 0, "no socket before the token arrives");
  assert.equal(client.status, "connecting");
  await flushMicrotasks();
  assert.deepEqual(WS.last.protocols, ["livepush", "livepush.token.async1"]);
  WS.last.serverClose(1006);
  tick(expectedDelay(1, 0));
  await flushMicrotasks();
  assert.equal(WS.instances.length, 2);
  assert.deepEqual(WS.last.protocols, ["livepush", "livepush.token.async2"]);
});

test("a token that arrives after close() opens no socket", async (t) => {
  let resolve;
  const { client, WS } = setup(t, { token: () => new Promise((r) => (resolve = r)) });
  client.close();
  resolve("late");
  await flushMicrotasks();
  assert.equal(WS.instances.length, 0);
  assert.equal(client.status, "closed");
});

for (const r of [0, 0.37, 0.999999]) {
  test(`backoff delays are min(1000*1.5^(n-1), 30000)*(1-0.5*r) for r=${r}`, (t) => {
    const { client, WS, tick } = setup(t, { random: () => r, maxAttempts: 15 });
    for (let n = 1; n <= 15; n++) {
      const count = WS.instances.length;
      WS.last.serverClose(1006);
      assert.equal(client.status, "reconnecting");
      assert.equal(client.statusInfo.attempt, n);
      const delay = expectedDelay(n, r);
      const base = Math.min(1000 * 1.5 ** (n - 1), 30000);
      assert.ok(delay <= base && delay >= base * 0.5, "within the jitter bounds");
      tick(Math.ceil(delay) - 1);
      assert.equal(WS.instances.length, count, `attempt ${n} not before ${delay} ms`);
      tick(1);
      assert.equal(WS.instances.length, count + 1, `attempt ${n} after ${delay} ms`);
    }
  });
}

test("after maxAttempts failed attempts the status is failed; connect() starts over", (t) => {
  const { client, WS, tick, statuses } = setup(t, { maxAttempts: 3 });
  for (let n = 1; n <= 3; n++) {
    WS.last.serverClose(1006);
    tick(expectedDelay(n, 0));
  }
  assert.equal(WS.instances.length, 4); // the first connect and 3 reconnects
  WS.last.serverClose(1006);
  assert.equal(client.status, "failed");
  assert.match(client.statusInfo.reason, /gave up after 3/);
  tick(10 * 60 * 1000);
  assert.equal(WS.instances.length, 4, "no attempt after failing");
  client.connect();
  assert.equal(WS.instances.length, 5);
  assert.equal(client.status, "connecting");
  assert.equal(client.statusInfo.attempt, 0);
  WS.last.serverClose(1006);
  assert.equal(client.statusInfo.attempt, 1, "the count started over");
  assert.deepEqual(statuses.slice(-3), ["failed", "connecting", "reconnecting"]);
});

test("after failing, the page coming online retries; after close() it does not", (t) => {
  const target = new EventTarget();
  let listeners = 0;
  target.addEventListener = (type, fn) => (listeners++, EventTarget.prototype.addEventListener.call(target, type, fn));
  target.removeEventListener = (type, fn) => (listeners--, EventTarget.prototype.removeEventListener.call(target, type, fn));
  globalThis.window = target;
  t.after(() => delete globalThis.window);
  const { client, WS } = setup(t, { maxAttempts: 0 });
  WS.last.serverClose(1006);
  assert.equal(client.status, "failed");
  target.dispatchEvent(new Event("online"));
  assert.equal(WS.instances.length, 2);
  assert.equal(client.status, "connecting");
  client.close();
  target.dispatchEvent(new Event("online"));
  assert.equal(WS.instances.length, 2, "no socket after close()");
  assert.equal(listeners, 0, "the listener was removed");
});

test("4001: one retry at once with a fresh token; a second 4001 fails for good", (t) => {
  let calls = 0;
  const { client, WS, tick } = setup(t, { token: () => `t${++calls}` });
  WS.last.open(); // the server accepts, then closes a refused connection
  WS.last.serverClose(4001);
  assert.equal(WS.instances.length, 2, "retried without waiting");
  assert.deepEqual(WS.last.protocols, ["livepush", "livepush.token.t2"]);
  assert.equal(client.status, "reconnecting");
  WS.last.open();
  WS.last.serverClose(4001);
  assert.equal(client.status, "failed");
  assert.equal(client.statusInfo.code, 4001);
  assert.match(client.statusInfo.reason, /unauthenticated/);
  tick(10 * 60 * 1000);
  assert.equal(WS.instances.length, 2, "no further sockets");
  assert.equal(calls, 2);
});

test("4001 after a healthy connection gets its one fresh-token retry again", (t) => {
  const { client, WS } = setup(t, { token: "t" });
  WS.last.serverClose(4001);
  WS.last.open();
  WS.last.receive({ type: "PRESENCE_SNAPSHOT", data: { user_ids: [1] } }); // authenticated
  WS.last.serverClose(4001);
  assert.equal(WS.instances.length, 3);
  assert.equal(client.status, "reconnecting");
});

for (const code of [1000, 1006, 1009, 4000, 4002, 4009]) {
  test(`close code ${code} reconnects with backoff`, (t) => {
    const { client, WS, tick } = setup(t, { random: () => 0.5 });
    WS.last.open();
    WS.last.serverClose(code, "bye");
    assert.equal(client.status, "reconnecting");
    assert.deepEqual([client.statusInfo.code, client.statusInfo.reason], [code, "bye"]);
    tick(expectedDelay(1, 0.5) - 1);
    assert.equal(WS.instances.length, 1);
    tick(1);
    assert.equal(WS.instances.length, 2);
  });
}

test("a connection closed right after opening does not reset the backoff", (t) => {
  const { client, WS, tick } = setup(t);
  WS.last.serverClose(1006);
  tick(expectedDelay(1, 0));
  WS.last.open();
  WS.last.serverClose(4000); // accepted, then refused
  assert.equal(client.statusInfo.attempt, 2);
  tick(expectedDelay(2, 0));
  WS.last.open();
  WS.last.receive({ type: "PING" });
  assert.equal(client.statusInfo.attempt, 0, "a frame proves the connection healthy");
  WS.last.serverClose(1006);
  assert.equal(client.statusInfo.attempt, 1);
});

test("the queue keeps at most maxQueueSize messages, dropping the oldest", (t) => {
  const drops = [];
  const { client, WS } = setup(t, { maxQueueSize: 3, onDrop: (m, why) => drops.push([m.data, why]) });
  for (let i = 1; i <= 5; i++) client.send("ECHO", i);
  assert.equal(client.queued, 3);
  assert.deepEqual(drops, [[1, "overflow"], [2, "overflow"]]);
  WS.last.open();
  assert.deepEqual(WS.last.sent.map((m) => m.data), [3, 4, 5]);
  assert.equal(client.queued, 0);
});

test("the default queue holds 100 messages", (t) => {
  const drops = [];
  const { client } = setup(t, { onDrop: (m, why) => drops.push([m.data, why]) });
  for (let i = 0; i < 101; i++) client.send("ECHO", i);
  assert.equal(client.queued, 100);
  assert.deepEqual(drops, [[0, "overflow"]]);
});

test("messages older than maxQueueAge expire, on enqueue and at flush", (t) => {
  const drops = [];
  const { client, WS, tick } = setup(t, { onDrop: (m, why) => drops.push([m.data, why]) });
  client.send("ECHO", "a");
  tick(30000);
  client.send("ECHO", "b");
  tick(30001);
  client.send("ECHO", "c"); // "a" is now 60001 ms old
  assert.deepEqual(drops, [["a", "expired"]]);
  assert.equal(client.queued, 2);
  tick(30000); // "b" is 60001 ms old when the socket opens
  WS.last.open();
  assert.deepEqual(drops, [["a", "expired"], ["b", "expired"]]);
  assert.deepEqual(WS.last.sent, [{ type: "ECHO", data: "c" }]);
});

test("queued messages are flushed in order after a reconnect, before later sends", (t) => {
  const { client, WS, tick } = setup(t);
  WS.last.open();
  client.send("ECHO", 0);
  assert.deepEqual(WS.last.sent, [{ type: "ECHO", data: 0 }], "sent at once while open");
  WS.last.serverClose(1006);
  client.send("ECHO", 1);
  client.send("PING");
  client.send("ECHO", 2);
  assert.equal(client.queued, 3);
  tick(expectedDelay(1, 0));
  client.onStatus((info) => info.status === "open" && client.send("ECHO", 3));
  WS.last.open();
  assert.deepEqual(WS.last.sent, [
    { type: "ECHO", data: 1 }, { type: "PING" }, { type: "ECHO", data: 2 }, { type: "ECHO", data: 3 },
  ]);
});

test("PING is answered with PONG at once and reaches no handler", (t) => {
  const { client, WS } = setup(t);
  const seen = [];
  client.bindAll((data, type) => seen.push(type));
  WS.last.open();
  WS.last.receive({ type: "PING" });
  assert.deepEqual(WS.last.sent, [{ type: "PONG" }]);
  assert.deepEqual(seen, []);
});

test("frames go to the handlers of their type and to bindAll handlers; a throwing one breaks none", (t) => {
  const { client, WS } = setup(t);
  const seen = [];
  const photo = (data, type) => seen.push(["photo", data, type]);
  client.bind("PHOTO_UPLOADED", () => {
    throw new Error("boom");
  });
  client.bind("PHOTO_UPLOADED", photo);
  client.bindAll((data, type) => seen.push(["all", data, type]));
  const errors = t.mock.method(console, "error", () => {});
  WS.last.open();
  WS.last.receive({ type: "PHOTO_UPLOADED", data: { id: 7 } });
  WS.last.receive({ type: "ALBUM_DELETED", data: null });
  WS.last.receive("not json");
  client.unbind("PHOTO_UPLOADED", photo);
  WS.last.receive({ type: "PHOTO_UPLOADED", data: { id: 8 } });
  assert.deepEqual(seen, [
    ["photo", { id: 7 }, "PHOTO_UPLOADED"],
    ["all", { id: 7 }, "PHOTO_UPLOADED"],
    ["all", null, "ALBUM_DELETED"],
    ["all", { id: 8 }, "PHOTO_UPLOADED"],
  ]);
  assert.equal(errors.mock.callCount(), 3); // two throws and the bad frame
});

test("watchdog: silence for heartbeatInterval + heartbeatTimeout reconnects, not before", (t) => {
  const { client, WS, tick } = setup(t, { heartbeatInterval: 30000, heartbeatTimeout: 10000 });
  const first = WS.last;
  first.open();
  tick(39999);
  first.receive({ type: "PING" }); // resets the watchdog
  tick(39999);
  assert.equal(first.closedWith, null, "still alive 39999 ms after the last frame");
  assert.equal(client.status, "open");
  tick(1);
  assert.deepEqual(first.closedWith, { code: 1000, reason: undefined });
  assert.equal(client.status, "reconnecting");
  assert.match(client.statusInfo.reason, /heartbeat/);
  first.serverClose(1006); // a late close event of the abandoned socket changes nothing
  assert.equal(client.statusInfo.attempt, 1);
  tick(expectedDelay(1, 0));
  assert.equal(WS.instances.length, 2);
});

test("status transitions, and onStatus's unsubscribe", (t) => {
  const { client, WS, tick, statuses } = setup(t);
  const late = [];
  const unsubscribe = client.onStatus((info) => late.push(info.status));
  assert.equal(client.status, "connecting");
  WS.last.open();
  WS.last.serverClose(1006);
  tick(expectedDelay(1, 0));
  WS.last.open();
  unsubscribe();
  client.close();
  // A listener is called at once with the current status: "connecting" is never missed.
  assert.deepEqual(statuses, ["connecting", "open", "reconnecting", "open", "closed"]);
  assert.deepEqual(late, ["connecting", "open", "reconnecting", "open"]);
  assert.deepEqual(client.statusInfo, { status: "closed", code: 1000, reason: "", attempt: 1, recovered: null });
});

test("close() stops everything: no reconnect, no watchdog, no timers left", (t) => {
  const { client, WS, tick } = setup(t);
  WS.last.open();
  WS.last.serverClose(1006); // a reconnect is now scheduled
  tick(expectedDelay(1, 0));
  WS.last.open(); // and a watchdog armed
  const socket = WS.last;
  client.close(1000, "bye");
  assert.deepEqual(socket.closedWith, { code: 1000, reason: "bye" });
  socket.serverClose(1000);
  tick(24 * 3600 * 1000);
  assert.equal(WS.instances.length, 2);
  assert.equal(client.status, "closed");
  client.send("ECHO", 1);
  assert.equal(client.queued, 1, "queued for a later connect()");
  client.connect();
  WS.last.open();
  assert.deepEqual(WS.last.sent, [{ type: "ECHO", data: 1 }]);
});

test("close() while waiting to reconnect cancels the attempt", (t) => {
  const { client, WS, tick } = setup(t);
  WS.last.serverClose(1006);
  client.close();
  tick(60000);
  assert.equal(WS.instances.length, 1);
  assert.equal(client.status, "closed");
});

test("a status listener may call close() while the client reconnects", (t) => {
  const { client, WS, tick } = setup(t, { token: () => "t" });
  const once = client.onStatus((info) => info.status === "reconnecting" && (once(), client.close()));
  WS.last.serverClose(1006);
  assert.equal(client.status, "closed");
  WS.last.serverClose(4001); // the stale socket's event is ignored
  tick(60000);
  assert.equal(WS.instances.length, 1);
});

test("autoConnect false: closed until connect(); connect() twice opens one socket", (t) => {
  const { client, WS } = setup(t, { autoConnect: false });
  assert.equal(client.status, "closed");
  assert.equal(WS.instances.length, 0);
  client.connect();
  client.connect();
  assert.equal(WS.instances.length, 1);
});
