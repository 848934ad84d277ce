// Recovery in livepush.js: positions kept per stream, presented on reconnect, duplicates dropped,
// onResync called for streams the server could not recover, positions kept across a reload.
import { test } from "node:test";
import assert from "node:assert/strict";

import { LivePush } from "../../src/livepush/static/livepush/livepush.js";
import { fakeWebSocket } from "./fake-websocket.mjs";

const URL_ = "ws://test.invalid/ws/";

function setup(t, options = {}) {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const client = new LivePush({ url: URL_, WebSocket: WS, random: () => 0, ...options });
  t.after(() => client.close());
  const seen = [];
  client.bind("MESSAGE_CREATED", (data) => seen.push(data.n));
  return { client, WS, seen, tick: (ms) => t.mock.timers.tick(ms) };
}

const pos = (offset, stream = "user_5", epoch = "e1") => ({ stream, offset, epoch });
const push = (n, offset, stream, epoch) => ({ type: "MESSAGE_CREATED", data: { n }, pos: pos(offset, stream, epoch) });
const recovery = (streams, resync = []) => ({
  type: "RECOVERY",
  data: { recovered: resync.length === 0, streams, resync },
});

function resumeOf(url) {
  const value = new URL(url).searchParams.get("resume");
  return value === null ? null : JSON.parse(value);
}

test("the first connect presents nothing; a reconnect presents the last position per stream", (t) => {
  const { WS, tick } = setup(t);
  assert.equal(resumeOf(WS.last.url), null);
  WS.last.open();
  WS.last.receive(recovery({ user_5: { offset: 3, epoch: "e1" }, broadcast: { offset: 9, epoch: "b1" } }));
  WS.last.receive(push(1, 4));
  WS.last.serverClose(1006);
  tick(1000);
  assert.deepEqual(resumeOf(WS.last.url), { user_5: [4, "e1"], broadcast: [9, "b1"] });
});

test("a push at or below the last position of its epoch is dropped; a new epoch starts over", (t) => {
  const { WS, seen } = setup(t);
  WS.last.open();
  WS.last.receive(recovery({ user_5: { offset: 3, epoch: "e1" } }));
  WS.last.receive(push(3, 3)); // the server's floor already covers it; the client drops it too
  WS.last.receive(push(4, 4));
  WS.last.receive(push(4, 4));
  WS.last.receive(push(5, 5));
  WS.last.receive(push(1, 1, "user_5", "e2")); // history lost: another epoch
  assert.deepEqual(seen, [4, 5, 1]);
});

test("recovered is reported on the status, and onResync gets the streams to refetch", (t) => {
  const resyncs = [];
  const { client, WS } = setup(t, { onResync: (streams) => resyncs.push(streams) });
  assert.equal(client.statusInfo.recovered, null);
  WS.last.open();
  WS.last.receive(recovery({ user_5: { offset: 3, epoch: "e1" } }));
  assert.equal(client.statusInfo.recovered, true);
  WS.last.receive(recovery({ user_5: { offset: 40, epoch: "e1" } }, ["user_5"]));
  assert.equal(client.statusInfo.recovered, false);
  assert.deepEqual(resyncs, [["user_5"]]);
  // The RECOVERY frame reaches bound handlers too, and the position moved to where it said.
  const frames = [];
  client.bind("MESSAGE_CREATED", (data) => frames.push(data.n));
  WS.last.receive(push(40, 40));
  WS.last.receive(push(41, 41));
  assert.deepEqual(frames, [41]);
});

test("with recover: false nothing is presented", (t) => {
  const { WS, tick } = setup(t, { recover: false });
  WS.last.open();
  WS.last.receive(push(1, 4));
  WS.last.serverClose(1006);
  tick(1000);
  assert.equal(resumeOf(WS.last.url), null);
});

test("persistPositions keeps the positions in sessionStorage across a reload", (t) => {
  const store = new Map();
  globalThis.sessionStorage = {
    getItem: (k) => (store.has(k) ? store.get(k) : null),
    setItem: (k, v) => store.set(k, String(v)),
  };
  t.after(() => delete globalThis.sessionStorage);
  const { client, WS } = setup(t, { persistPositions: "livepush.positions" });
  WS.last.open();
  WS.last.receive(push(1, 7));
  client.close();
  // A new page: a new client, same storage.
  const WS2 = fakeWebSocket();
  const reloaded = new LivePush({ url: URL_, WebSocket: WS2, persistPositions: "livepush.positions" });
  t.after(() => reloaded.close());
  assert.deepEqual(resumeOf(WS2.last.url), { user_5: [7, "e1"] });
});

test("the resume parameter goes after a query token", (t) => {
  const { WS, tick } = setup(t, { token: "tok", tokenTransport: "query" });
  WS.last.open();
  WS.last.receive(push(1, 2));
  WS.last.serverClose(1006);
  tick(1000);
  const url = new URL(WS.last.url);
  assert.equal(url.searchParams.get("accessToken"), "tok");
  assert.deepEqual(JSON.parse(url.searchParams.get("resume")), { user_5: [2, "e1"] });
});

test("the connect's RECOVERY replaces the positions: streams the connection is no longer in go", (t) => {
  const { WS, tick } = setup(t);
  WS.last.open();
  WS.last.receive(recovery({ user_5: { offset: 3, epoch: "e1" }, album_1: { offset: 2, epoch: "a1" } }));
  WS.last.serverClose(1006);
  tick(1000);
  WS.last.open();
  // This connect is no longer in album_1 (get_groups changed): its RECOVERY does not name it.
  WS.last.receive(recovery({ user_5: { offset: 3, epoch: "e1" } }));
  WS.last.serverClose(1006);
  tick(1000);
  assert.deepEqual(resumeOf(WS.last.url), { user_5: [3, "e1"] });
});

test("a later RECOVERY moves a position forward only, within its epoch", (t) => {
  const { WS, seen, tick } = setup(t);
  WS.last.open();
  WS.last.receive(recovery({ user_5: { offset: 3, epoch: "e1" } }));
  WS.last.receive(push(4, 4));
  WS.last.receive(push(5, 5));
  // A gap's resync released after those, naming an older offset: the position stays at 5.
  WS.last.receive(recovery({ user_5: { offset: 4, epoch: "e1" } }, ["user_5"]));
  WS.last.receive(push(5, 5));
  assert.deepEqual(seen, [4, 5]);
  WS.last.serverClose(1006);
  tick(1000);
  assert.deepEqual(resumeOf(WS.last.url), { user_5: [5, "e1"] });
});

test("a reconnect that presented nothing (recover: false) recovered nothing: every stream resyncs", (t) => {
  const resyncs = [];
  const { client, WS, tick } = setup(t, { recover: false, onResync: (streams) => resyncs.push(streams) });
  const handled = [];
  client.bind("RECOVERY", (data) => handled.push(data));
  WS.last.open();
  WS.last.receive(recovery({ user_5: { offset: 3, epoch: "e1" }, broadcast: { offset: 9, epoch: "b1" } }));
  assert.deepEqual(resyncs, []); // the first connect missed nothing
  assert.equal(client.statusInfo.recovered, true);
  WS.last.serverClose(1006);
  tick(1000);
  WS.last.open();
  WS.last.receive(recovery({ user_5: { offset: 7, epoch: "e1" }, broadcast: { offset: 9, epoch: "b1" } }));
  assert.deepEqual(resyncs, [["user_5", "broadcast"]]);
  assert.equal(client.statusInfo.recovered, false);
  assert.deepEqual(handled[1].resync, ["user_5", "broadcast"]);
  assert.equal(handled[1].recovered, false);
});
