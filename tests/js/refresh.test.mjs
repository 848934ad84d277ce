// Token lifetime in livepush.js: REFRESH_TOKEN ahead of exp, failures retried, reconnect on 4003.
// A fake WebSocket and node:test's fake timers (time starts at 0): no network, no sleeps.
import { test } from "node:test";
import assert from "node:assert/strict";

import { CloseCode, LivePush } from "../../src/livepush/static/livepush/livepush.js";
import { fakeWebSocket } from "./fake-websocket.mjs";

const URL_ = "ws://test.invalid/ws/";
const QUIET = { heartbeatInterval: 1e9, heartbeatTimeout: 1e9 }; // no watchdog in these tests

/** An unsigned JWT-shaped token; the client only reads the payload's exp (seconds). */
function jwt(exp, extra = {}) {
  const part = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
  return `${part({ alg: "HS256", typ: "JWT" })}.${part({ exp, user_id: 1, ...extra })}.sig`;
}

/** Tokens handed out in order by a provider; `provider.calls` counts the calls. */
function tokens(...list) {
  const provider = () => {
    const next = list[Math.min(provider.calls, list.length - 1)];
    provider.calls += 1;
    if (next instanceof Error) throw next;
    return next;
  };
  provider.calls = 0;
  return provider;
}

function setup(t, options = {}) {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const errors = [];
  t.mock.method(console, "error", (...args) => errors.push(args.join(" ")));
  const client = new LivePush({ url: URL_, WebSocket: WS, random: () => 0, ...QUIET, ...options });
  t.after(() => client.close());
  return { client, WS, errors, tick: (ms) => t.mock.timers.tick(ms) };
}

const refreshes = (ws) => ws.sent.filter((frame) => frame.type === "REFRESH_TOKEN");
const flushMicrotasks = () => new Promise((resolve) => setImmediate(resolve));

test("the provider is asked again refreshAhead before exp and the token goes in REFRESH_TOKEN", (t) => {
  const first = jwt(600); // 600 s: 20% is 120 s, so the default 60 s ahead applies
  const second = jwt(1200);
  const provider = tokens(first, second);
  const { WS, tick } = setup(t, { token: provider });
  WS.last.open();
  tick(539_999);
  assert.equal(provider.calls, 1);
  assert.deepEqual(refreshes(WS.last), []);
  tick(1);
  assert.equal(provider.calls, 2);
  assert.deepEqual(refreshes(WS.last), [{ type: "REFRESH_TOKEN", data: { token: second } }]);
  assert.equal(WS.instances.length, 1, "refreshed in band, not by reconnecting");
});

test("a short token is refreshed at 80% of the lifetime left, then again from the new exp", (t) => {
  const provider = tokens(jwt(10), jwt(20), jwt(30));
  const { WS, tick } = setup(t, { token: provider });
  WS.last.open();
  tick(7_999);
  assert.equal(provider.calls, 1);
  tick(1); // 8 s: 2 s (20% of 10 s) ahead of exp
  assert.equal(refreshes(WS.last).length, 1);
  tick(9_600); // at 17.6 s: 20% of the 12 s the second token had left
  assert.equal(provider.calls, 3);
  assert.deepEqual(refreshes(WS.last).map((f) => f.data.token), [jwt(20), jwt(30)]);
});

test("refreshAhead is configurable, and null turns refreshing off", (t) => {
  const provider = tokens(jwt(600), jwt(1200));
  const { WS, tick } = setup(t, { token: provider, refreshAhead: 5_000 });
  WS.last.open();
  tick(594_999);
  assert.equal(provider.calls, 1);
  tick(1);
  assert.equal(refreshes(WS.last).length, 1);

  const off = tokens(jwt(600), jwt(1200));
  const client = new LivePush({ url: URL_, WebSocket: WS, token: off, refreshAhead: null, ...QUIET });
  WS.last.open();
  tick(700_000);
  assert.equal(off.calls, 1);
  client.close();
});

test("no refresh for a fixed token or a token without a readable exp", (t) => {
  const { WS, tick } = setup(t, { token: jwt(10) });
  WS.last.open();
  const opaque = tokens("not-a-jwt", "other");
  const client = new LivePush({ url: URL_, WebSocket: WS, token: opaque, ...QUIET });
  WS.last.open();
  tick(60_000);
  assert.equal(opaque.calls, 1);
  assert.deepEqual(WS.instances.flatMap(refreshes), []);
  client.close();
});

test("an async provider is awaited before the frame is sent", async (t) => {
  let calls = 0;
  const { WS, tick } = setup(t, { token: async () => jwt(10 * ++calls) });
  await flushMicrotasks();
  WS.last.open();
  tick(8_000);
  assert.deepEqual(refreshes(WS.last), []);
  await flushMicrotasks();
  assert.deepEqual(refreshes(WS.last), [{ type: "REFRESH_TOKEN", data: { token: jwt(20) } }]);
});

test("a failing provider is retried with the backoff while the token lasts, without a crash", (t) => {
  const provider = tokens(jwt(100), new Error("offline"), new Error("offline"), jwt(200));
  const { client, WS, errors, tick } = setup(t, { token: provider });
  WS.last.open();
  tick(80_000); // 20 s ahead (20% of 100 s): the provider throws
  assert.equal(provider.calls, 2);
  assert.match(errors.join("\n"), /could not refresh the token.*offline/);
  assert.equal(client.status, "open");
  tick(999);
  assert.equal(provider.calls, 2);
  tick(1); // initialDelay: throws again
  assert.equal(provider.calls, 3);
  tick(1_500); // initialDelay * multiplier: a token at last
  assert.equal(provider.calls, 4);
  assert.deepEqual(refreshes(WS.last), [{ type: "REFRESH_TOKEN", data: { token: jwt(200) } }]);
});

test("a rejected async refresh is retried too", async (t) => {
  let calls = 0;
  const provider = async () => {
    calls += 1;
    if (calls === 2) throw new Error("token endpoint down");
    return jwt(100 * calls);
  };
  const { client, WS, errors, tick } = setup(t, { token: provider });
  await flushMicrotasks();
  WS.last.open();
  tick(80_000);
  await flushMicrotasks();
  assert.match(errors.join("\n"), /token endpoint down/);
  tick(1_000);
  await flushMicrotasks();
  assert.deepEqual(refreshes(WS.last).map((f) => f.data.token), [jwt(300)]);
  assert.equal(client.status, "open");
});

test("retries stop at the token's expiry: the server's 4003 takes over", (t) => {
  const provider = tokens(jwt(10), new Error("offline"));
  const { WS, tick } = setup(t, { token: provider });
  WS.last.open();
  tick(8_000); // fails at 8 s
  tick(1_000); // 9 s: fails again; the next (9 s + 1.5 s) would come after exp
  assert.equal(provider.calls, 3);
  tick(60_000);
  assert.equal(provider.calls, 3);
});

test("a provider that hands back the same token is not sent; asked again after a delay", (t) => {
  const same = jwt(100);
  const provider = tokens(same, same, jwt(200));
  const { WS, tick } = setup(t, { token: provider });
  WS.last.open();
  tick(80_000);
  assert.equal(provider.calls, 2);
  assert.deepEqual(refreshes(WS.last), []);
  tick(1_000);
  assert.deepEqual(refreshes(WS.last).map((f) => f.data.token), [jwt(200)]);
});

test("token_refused puts the old expiry back and retries; ERROR handlers still hear it", (t) => {
  const provider = tokens(jwt(100), jwt(200), jwt(300));
  const { client, WS, tick } = setup(t, { token: provider });
  const seen = [];
  client.bind("ERROR", (data) => seen.push(data.code));
  WS.last.open();
  tick(80_000);
  assert.equal(refreshes(WS.last).length, 1);
  WS.last.receive({ type: "ERROR", data: { code: "token_refused", detail: "refused" } });
  assert.deepEqual(seen, ["token_refused"]);
  tick(1_000);
  assert.deepEqual(refreshes(WS.last).map((f) => f.data.token), [jwt(200), jwt(300)]);
});

test("close 4003 reconnects at once with a fresh token", (t) => {
  const provider = tokens(jwt(10), jwt(600));
  const { client, WS } = setup(t, { token: provider, refreshAhead: null });
  WS.last.open();
  WS.last.receive({ type: "PING" });
  WS.last.serverClose(CloseCode.TOKEN_EXPIRED);
  assert.equal(WS.instances.length, 2, "no backoff delay");
  assert.equal(provider.calls, 2);
  assert.deepEqual(WS.last.protocols, ["livepush", `livepush.token.${jwt(600)}`]);
  assert.equal(client.statusInfo.code, CloseCode.TOKEN_EXPIRED);
  WS.last.open();
  assert.equal(client.status, "open");
});

test("a second 4003 before the server sent anything backs off instead of spinning", (t) => {
  const provider = tokens(jwt(1));
  const { client, WS, tick } = setup(t, { token: provider, refreshAhead: null });
  WS.last.open();
  WS.last.serverClose(CloseCode.TOKEN_EXPIRED);
  assert.equal(WS.instances.length, 2);
  WS.last.open();
  WS.last.serverClose(CloseCode.TOKEN_EXPIRED);
  assert.equal(WS.instances.length, 2, "waits for the backoff");
  assert.equal(client.status, "reconnecting");
  tick(1_500); // the second attempt's delay
  assert.equal(WS.instances.length, 3);
});

test("close() and a dropped socket cancel the pending refresh", (t) => {
  const provider = tokens(jwt(10), jwt(20));
  const { client, WS, tick } = setup(t, { token: provider });
  WS.last.open();
  client.close();
  tick(60_000);
  assert.equal(provider.calls, 1);
  client.connect();
  WS.last.open();
  WS.last.serverClose(1006);
  const calls = provider.calls;
  tick(7_000); // the reconnect's dial asks the provider; no refresh of the dropped socket does
  assert.equal(provider.calls, calls + 1);
  assert.deepEqual(WS.instances.flatMap(refreshes), []);
});
