// The live collection (collection.js) against each race, with a fake WebSocket and fetches the
// test answers by hand: no network, no sleeps.
import { test } from "node:test";
import assert from "node:assert/strict";

import { LivePush } from "../../src/livepush/static/livepush/livepush.js";
import { LiveCollection } from "../../src/livepush/static/livepush/collection.js";
import { fakeWebSocket } from "./fake-websocket.mjs";

/** A fetch the test answers: each call returns a promise resolved by `answer(items)`. */
function heldFetch() {
  const calls = [];
  const fetch = () => new Promise((resolve, reject) => calls.push({ resolve, reject }));
  return { fetch, calls, answer: (items, n = calls.length - 1) => calls[n].resolve(items) };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

function setup(t, options = {}) {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const client = new LivePush({ url: "ws://test.invalid/ws/", WebSocket: WS, random: () => 0 });
  WS.last.open();
  const held = heldFetch();
  const collection = new LiveCollection(client, {
    fetch: held.fetch,
    create: "PHOTO_CREATED",
    update: "PHOTO_UPDATED",
    delete: "PHOTO_DELETED",
    ...options,
  });
  t.after(() => {
    collection.close();
    client.close();
  });
  const push = (type, data) => WS.last.receive({ type, data });
  const ids = () => collection.getSnapshot().items.map((p) => `${p.id}:${p.title}`);
  return { client, WS, collection, held, push, ids, tick: (ms) => t.mock.timers.tick(ms) };
}

test("loads the list; isLoading until the fetch answers", async (t) => {
  const { collection, held, ids } = setup(t);
  assert.equal(collection.getSnapshot().isLoading, true);
  held.answer([{ id: 1, title: "a" }, { id: 2, title: "b" }]);
  await settle();
  assert.deepEqual(ids(), ["1:a", "2:b"]);
  assert.equal(collection.getSnapshot().isLoading, false);
});

test("a push during the fetch is applied on top of the list, never lost nor doubled", async (t) => {
  const { held, push, ids } = setup(t);
  push("PHOTO_CREATED", { id: 3, title: "new" }); // the fetch may or may not have seen it
  push("PHOTO_UPDATED", { id: 1, title: "renamed" });
  held.answer([{ id: 1, title: "a" }, { id: 3, title: "new" }]); // it had seen the create
  await settle();
  assert.deepEqual(ids(), ["1:renamed", "3:new"]);
  // And when the fetch had not seen it:
  push("PHOTO_CREATED", { id: 4, title: "later" });
  assert.deepEqual(ids(), ["1:renamed", "3:new", "4:later"]);
});

test("an update that overtakes its create is kept; the late create changes nothing", async (t) => {
  const { held, push, ids } = setup(t);
  held.answer([]);
  await settle();
  push("PHOTO_UPDATED", { id: 5, title: "edited" });
  push("PHOTO_CREATED", { id: 5, title: "original" });
  assert.deepEqual(ids(), ["5:edited"]);
});

test("a delete of an unknown key changes nothing and keeps a late create out", async (t) => {
  const { held, push, ids, collection } = setup(t);
  held.answer([{ id: 1, title: "a" }]);
  await settle();
  let notified = 0;
  collection.subscribe(() => notified++);
  push("PHOTO_DELETED", { id: 9 });
  assert.equal(notified, 0);
  push("PHOTO_CREATED", { id: 9, title: "ghost" }); // overtaken by its delete
  assert.deepEqual(ids(), ["1:a"]);
  push("PHOTO_DELETED", { id: 1 });
  assert.deepEqual(ids(), []);
});

test("duplicate deliveries are harmless", async (t) => {
  const { held, push, ids } = setup(t);
  held.answer([]);
  await settle();
  for (let i = 0; i < 2; i++) push("PHOTO_CREATED", { id: 1, title: "a" });
  for (let i = 0; i < 2; i++) push("PHOTO_DELETED", { id: 1 });
  assert.deepEqual(ids(), []);
});

test("with a version, an older event never overwrites a newer state", async (t) => {
  const { held, push, ids } = setup(t, { version: (p) => p.version });
  push("PHOTO_UPDATED", { id: 1, title: "v1", version: 1 }); // during the fetch, older than it
  held.answer([{ id: 1, title: "v2", version: 2 }]);
  await settle();
  assert.deepEqual(ids(), ["1:v2"]);
  push("PHOTO_UPDATED", { id: 1, title: "v4", version: 4 });
  push("PHOTO_UPDATED", { id: 1, title: "v3", version: 3 }); // overtaken
  assert.deepEqual(ids(), ["1:v4"]);
  push("PHOTO_DELETED", { id: 1, version: 5 });
  push("PHOTO_UPDATED", { id: 1, title: "v4 again", version: 4 });
  assert.deepEqual(ids(), []);
});

test("a resync during a fetch loads again and the first answer is ignored", async (t) => {
  const { held, WS, ids, collection } = setup(t);
  WS.last.receive({ type: "RECOVERY", data: { recovered: false, streams: {}, resync: ["user_1"] } });
  assert.equal(held.calls.length, 2);
  held.answer([{ id: 1, title: "stale" }], 0);
  await settle();
  assert.equal(collection.getSnapshot().isLoading, true);
  held.answer([{ id: 1, title: "fresh" }], 1);
  await settle();
  assert.deepEqual(ids(), ["1:fresh"]);
});

test("a recovered reconnect does not load again", async (t) => {
  const { held, WS, tick } = setup(t);
  held.answer([]);
  await settle();
  WS.last.receive({ type: "RECOVERY", data: { recovered: true, streams: {}, resync: [] } });
  WS.last.serverClose(1006);
  tick(1000);
  WS.last.open();
  WS.last.receive({ type: "RECOVERY", data: { recovered: true, streams: {}, resync: [] } });
  assert.equal(held.calls.length, 1);
});

test("a reconnect to a server without recovery loads again", async (t) => {
  const plain = setup(t);
  plain.held.answer([]);
  await settle();
  plain.WS.last.serverClose(1006);
  plain.tick(1000);
  plain.WS.last.open();
  assert.equal(plain.held.calls.length, 2);
});

test("a filter keeps other items out and drops one that moved out of view", async (t) => {
  const { held, push, ids } = setup(t, { filter: (p) => p.album === 1 });
  held.answer([{ id: 1, title: "a", album: 1 }]);
  await settle();
  push("PHOTO_CREATED", { id: 2, title: "elsewhere", album: 2 });
  push("PHOTO_UPDATED", { id: 1, title: "moved", album: 2 });
  assert.deepEqual(ids(), []);
});

test("a failed fetch reports isError and keeps what was pushed; refetch recovers", async (t) => {
  const { held, push, ids, collection } = setup(t);
  push("PHOTO_CREATED", { id: 1, title: "a" });
  held.calls[0].reject(new Error("500"));
  await settle();
  assert.equal(collection.getSnapshot().isError, true);
  assert.deepEqual(ids(), ["1:a"]);
  collection.refetch();
  held.answer([{ id: 1, title: "a" }, { id: 2, title: "b" }]);
  await settle();
  assert.equal(collection.getSnapshot().isError, false);
  assert.deepEqual(ids(), ["1:a", "2:b"]);
});

test("snapshots are new frozen objects only when something changed, sorted when asked", async (t) => {
  const { held, push, collection } = setup(t, { sort: (a, b) => b.id - a.id });
  held.answer([{ id: 1, title: "a" }, { id: 2, title: "b" }]);
  await settle();
  const first = collection.getSnapshot();
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.items));
  assert.deepEqual(first.items.map((p) => p.id), [2, 1]);
  push("PHOTO_DELETED", { id: 7 });
  assert.equal(collection.getSnapshot(), first);
  push("PHOTO_CREATED", { id: 3, title: "c" });
  assert.deepEqual(collection.getSnapshot().items.map((p) => p.id), [3, 2, 1]);
});

test("a client with recover: false loads again after a reconnect to a server with recovery", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const client = new LivePush({ url: "ws://test.invalid/ws/", WebSocket: WS, random: () => 0, recover: false });
  t.after(() => client.close());
  WS.last.open();
  const held = heldFetch();
  const collection = new LiveCollection(client, { fetch: held.fetch, create: "PHOTO_CREATED" });
  t.after(() => collection.close());
  const streams = { user_1: { offset: 2, epoch: "e1" } };
  WS.last.receive({ type: "RECOVERY", data: { recovered: true, streams, resync: [] } });
  held.answer([]);
  await settle();
  WS.last.serverClose(1006);
  t.mock.timers.tick(1000);
  WS.last.open();
  // The server recovered nothing it was not asked for, and says so as "recovered".
  WS.last.receive({ type: "RECOVERY", data: { recovered: true, streams, resync: [] } });
  assert.equal(held.calls.length, 2);
});
