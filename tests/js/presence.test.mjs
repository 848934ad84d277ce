// PRESENCE_DIFF in livepush.js: one frame per presence window, expanded into the per-user
// USER_PRESENCE_DISCONNECTED / USER_PRESENCE_CONNECTED handlers that applications bind.
import { test } from "node:test";
import assert from "node:assert/strict";

import { LivePush } from "../../src/livepush/static/livepush/livepush.js";
import { fakeWebSocket } from "./fake-websocket.mjs";

function setup(t) {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const client = new LivePush({ url: "ws://test.invalid/ws/", WebSocket: WS, random: () => 0 });
  t.after(() => client.close());
  WS.last.open();
  return { client, ws: WS.last };
}

const diff = (joins, leaves) => ({ type: "PRESENCE_DIFF", data: { joins, leaves } });

test("a diff calls the per-user handlers: leaves first, then joins, with { user_id }", (t) => {
  const { client, ws } = setup(t);
  const seen = [];
  client.bind("USER_PRESENCE_CONNECTED", (data, type) => seen.push([type, data]));
  client.bind("USER_PRESENCE_DISCONNECTED", (data, type) => seen.push([type, data]));
  ws.receive(diff([1, "u-2"], [3]));
  assert.deepEqual(seen, [
    ["USER_PRESENCE_DISCONNECTED", { user_id: 3 }],
    ["USER_PRESENCE_CONNECTED", { user_id: 1 }],
    ["USER_PRESENCE_CONNECTED", { user_id: "u-2" }],
  ]);
});

test("an online set kept from the snapshot and the handlers follows the diffs", (t) => {
  const { client, ws } = setup(t);
  const online = new Set();
  client.bind("PRESENCE_SNAPSHOT", ({ user_ids }) => user_ids.forEach((id) => online.add(id)));
  client.bind("USER_PRESENCE_CONNECTED", ({ user_id }) => online.add(user_id));
  client.bind("USER_PRESENCE_DISCONNECTED", ({ user_id }) => online.delete(user_id));
  ws.receive({ type: "PRESENCE_SNAPSHOT", data: { user_ids: [1, 2] } });
  ws.receive(diff([3, 4], [1]));
  // A redundant entry (a user who left and came back within one window) changes nothing.
  ws.receive(diff([3], [2, 9]));
  assert.deepEqual([...online].sort(), [3, 4]);
});

test("PRESENCE_DIFF handlers get the frame's data once; bindAll sees the per-user events", (t) => {
  const { client, ws } = setup(t);
  const diffs = [];
  const all = [];
  client.bind("PRESENCE_DIFF", (data, type) => diffs.push([type, data]));
  client.bindAll((data, type) => all.push([type, data]));
  ws.receive(diff([5], [6]));
  assert.deepEqual(diffs, [["PRESENCE_DIFF", { joins: [5], leaves: [6] }]]);
  assert.deepEqual(all, [
    ["USER_PRESENCE_DISCONNECTED", { user_id: 6 }],
    ["USER_PRESENCE_CONNECTED", { user_id: 5 }],
  ]);
});

test("a throwing handler stops no other user's event; a malformed diff is skipped", (t) => {
  const { client, ws } = setup(t);
  const errors = t.mock.method(console, "error", () => {});
  const seen = [];
  client.bind("USER_PRESENCE_CONNECTED", ({ user_id }) => {
    if (user_id === 1) throw new Error("boom");
    seen.push(user_id);
  });
  ws.receive(diff([1, 2], []));
  ws.receive({ type: "PRESENCE_DIFF", data: null });
  ws.receive({ type: "PRESENCE_DIFF", data: { joins: "nope" } });
  ws.receive(diff([3], []));
  assert.deepEqual(seen, [2, 3]);
  assert.equal(errors.mock.callCount(), 1);
});
