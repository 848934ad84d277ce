// livepush.js after a server restart (1012, 4012) or going away (1001): a random delay within
// restartJitter, not counted as a failed attempt. Fake WebSocket and fake timers: no sleeps.
import { test } from "node:test";
import assert from "node:assert/strict";

import { CloseCode, LivePush } from "../../src/livepush/static/livepush/livepush.js";
import { fakeWebSocket } from "./fake-websocket.mjs";

/** A client that opened and got a frame (so it is healthy), with random() returning `r`. */
function connected(t, { r = 0.5, ...options } = {}) {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const infos = [];
  const client = new LivePush({ url: "ws://test.invalid/ws/", WebSocket: WS, random: () => r, ...options });
  client.onStatus((info) => infos.push(info));
  t.after(() => client.close());
  WS.last.open();
  WS.last.receive({ type: "PING" });
  return { client, WS, infos, tick: (ms) => t.mock.timers.tick(ms) };
}

for (const code of [CloseCode.SERVICE_RESTART, CloseCode.SERVICE_RESTART_APP, 1001]) {
  test(`close ${code}: reconnects after random() * restartJitter, attempt count untouched`, (t) => {
    const { client, WS, tick } = connected(t, { r: 0.25, restartJitter: 8000 });
    WS.last.serverClose(code);
    assert.equal(client.status, "reconnecting");
    assert.deepEqual({ ...client.statusInfo }, { status: "reconnecting", code, reason: "", attempt: 0, recovered: null });
    tick(1999);
    assert.equal(WS.instances.length, 1, "not before 0.25 * 8000 ms");
    tick(1);
    assert.equal(WS.instances.length, 2);
    assert.equal(client.status, "connecting", "a first attempt again, not a retry");
  });
}

test("the delays of many clients spread uniformly over the window", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const dialled = [];
  const clients = [];
  for (let i = 0; i < 10; i++) {
    const WS = fakeWebSocket();
    const client = new LivePush({ url: "ws://test.invalid/ws/", WebSocket: WS, random: () => i / 10 });
    t.after(() => client.close());
    WS.last.open();
    WS.last.serverClose(CloseCode.SERVICE_RESTART);
    clients.push({ client, WS });
  }
  for (let ms = 0; ms < 5000; ms += 500) {
    t.mock.timers.tick(ms === 0 ? 0 : 500);
    dialled.push(clients.filter(({ WS }) => WS.instances.length === 2).length);
  }
  // Default window 5000 ms: client i comes back at i * 500 ms.
  assert.deepEqual(dialled, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

test("a restart does not use up maxAttempts or grow the backoff", (t) => {
  const { client, WS, tick } = connected(t, { r: 0, maxAttempts: 1, restartJitter: 1000 });
  for (let i = 0; i < 5; i++) {
    WS.last.serverClose(CloseCode.SERVICE_RESTART_APP);
    tick(0);
    WS.last.open();
  }
  assert.equal(WS.instances.length, 6);
  assert.equal(client.statusInfo.attempt, 0);
  // A failed dial after the restart starts the ordinary backoff at its first step.
  WS.last.serverClose(1006);
  assert.deepEqual([client.status, client.statusInfo.attempt], ["reconnecting", 1]);
});

test("close() during the restart delay cancels the reconnect", (t) => {
  const { client, WS, tick } = connected(t);
  WS.last.serverClose(CloseCode.SERVICE_RESTART);
  client.close();
  tick(10000);
  assert.equal(WS.instances.length, 1);
  assert.equal(client.status, "closed");
});

test("restartJitter 0 reconnects at once", (t) => {
  const { WS, tick } = connected(t, { restartJitter: 0 });
  WS.last.serverClose(CloseCode.SERVICE_RESTART);
  tick(0);
  assert.equal(WS.instances.length, 2);
});
