// Tests of react.js with react-test-renderer, a fake WebSocket and fake timers.
import { test } from "node:test";
import assert from "node:assert/strict";

import React from "react";
import TestRenderer from "react-test-renderer";

import { LivePush } from "../../src/livepush/static/livepush/livepush.js";
import { createLivePushReact } from "../../src/livepush/static/livepush/react.js";
import { fakeWebSocket } from "./fake-websocket.mjs";

const { act } = TestRenderer;
globalThis.IS_REACT_ACT_ENVIRONMENT = true;
const h = React.createElement;
const {
  LivePushProvider,
  useLivePush,
  useLivePushEvent,
  useConnectionStatus,
  useLiveCollection,
  ConnectionStatusIndicator,
} = createLivePushReact(React);

/** Shows the status and the photos pushed so far; counts its renders. */
function Photos({ renders, prefix = "" }) {
  renders.count++;
  const { status } = useConnectionStatus();
  const [ids, setIds] = React.useState([]);
  // A new handler every render, using the prop of that render: the hook must call the latest.
  useLivePushEvent("PHOTO_UPLOADED", (data) => setIds((old) => [...old, `${prefix}${data.id}`]));
  return h("p", null, `${status}: ${ids.join(",")}`);
}

const text = (renderer) => renderer.root.findByType("p").children.join("");

test("provider creates a client; the status and pushed events re-render; unmount closes it", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const renders = { count: 0 };
  const options = { url: "ws://test.invalid/ws/", token: "tok", WebSocket: WS, random: () => 0 };
  let renderer;
  act(() => {
    renderer = TestRenderer.create(h(LivePushProvider, { options }, h(Photos, { renders })));
  });
  assert.equal(WS.instances.length, 1);
  assert.deepEqual(WS.instances[0].protocols, ["livepush", "livepush.token.tok"]);
  assert.equal(text(renderer), "connecting: ");

  act(() => WS.instances[0].open());
  assert.equal(text(renderer), "open: ");

  const before = renders.count;
  act(() => WS.instances[0].receive({ type: "PHOTO_UPLOADED", data: { id: 7 } }));
  assert.equal(text(renderer), "open: 7");
  assert.ok(renders.count > before, "re-rendered on the pushed event");

  // A re-render with a new prop: the next event goes to the new handler.
  act(() => renderer.update(h(LivePushProvider, { options }, h(Photos, { renders, prefix: "#" }))));
  act(() => WS.instances[0].receive({ type: "PHOTO_UPLOADED", data: { id: 8 } }));
  assert.equal(text(renderer), "open: 7,#8");
  assert.equal(WS.instances.length, 1, "the client was created once");

  act(() => renderer.unmount());
  assert.deepEqual(WS.instances[0].closedWith, { code: 1000, reason: undefined });
  t.mock.timers.tick(24 * 3600 * 1000);
  assert.equal(WS.instances.length, 1, "no reconnect after unmount");
});

test("a given client is provided and left open on unmount; unmounted handlers are unbound", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const client = new LivePush({ url: "ws://test.invalid/ws/", WebSocket: WS });
  t.after(() => client.close());
  const seen = [];
  let provided;
  function Child() {
    provided = useLivePush();
    useLivePushEvent("ALBUM_DELETED", (data) => seen.push(data));
    return null;
  }
  let renderer;
  act(() => {
    renderer = TestRenderer.create(h(LivePushProvider, { client }, h(Child)));
  });
  assert.equal(provided, client);
  act(() => WS.instances[0].open());
  act(() => WS.instances[0].receive({ type: "ALBUM_DELETED", data: 1 }));
  act(() => renderer.update(h(LivePushProvider, { client }, null)));
  act(() => WS.instances[0].receive({ type: "ALBUM_DELETED", data: 2 }));
  assert.deepEqual(seen, [1], "the handler was unbound when its component unmounted");
  act(() => renderer.unmount());
  assert.equal(client.status, "open");
  assert.equal(WS.instances[0].closedWith, null);
});

test("StrictMode's double effects leave one open client, closed on unmount", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const renders = { count: 0 };
  const options = { url: "ws://test.invalid/ws/", WebSocket: WS };
  let renderer;
  act(() => {
    renderer = TestRenderer.create(
      h(React.StrictMode, null, h(LivePushProvider, { options }, h(Photos, { renders }))),
    );
  });
  const live = WS.instances.filter((ws) => ws.closedWith === null);
  assert.equal(live.length, 1);
  act(() => live[0].open());
  assert.equal(text(renderer), "open: ");
  act(() => renderer.unmount());
  assert.equal(WS.instances.filter((ws) => ws.closedWith === null).length, 0);
});

test("the hooks throw a clear error outside a provider", (t) => {
  t.mock.method(console, "error", () => {}); // React logs the error thrown during render
  function Lost() {
    useConnectionStatus();
    return null;
  }
  assert.throws(() => act(() => TestRenderer.create(h(Lost))), /inside <LivePushProvider>/);
});


// Live collections and the status indicator ---------------------------------------------------

const settle = () => new Promise((resolve) => setImmediate(resolve));

test("useLiveCollection loads, follows pushes, refetches, and a new album makes a new one", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const client = new LivePush({ url: "ws://test.invalid/ws/", WebSocket: WS });
  t.after(() => client.close());
  const fetched = { 1: [{ id: 1, album: 1 }], 2: [{ id: 5, album: 2 }] };
  const fetches = [];
  let api;
  function Album({ albumId }) {
    api = useLiveCollection(
      {
        fetch: async () => {
          fetches.push(albumId);
          return fetched[albumId];
        },
        create: "PHOTO_UPLOADED",
        delete: "PHOTO_DELETED",
        filter: (photo) => photo.album === albumId,
      },
      [albumId],
    );
    const { items, isLoading } = api;
    return h("p", null, isLoading ? "loading" : items.map((p) => p.id).join(","));
  }
  let renderer;
  await act(async () => {
    renderer = TestRenderer.create(h(LivePushProvider, { client }, h(Album, { albumId: 1 })));
  });
  await act(settle);
  assert.equal(text(renderer), "1");
  act(() => WS.instances[0].open());
  act(() => WS.instances[0].receive({ type: "PHOTO_UPLOADED", data: { id: 2, album: 1 } }));
  act(() => WS.instances[0].receive({ type: "PHOTO_UPLOADED", data: { id: 9, album: 2 } }));
  assert.equal(text(renderer), "1,2");
  fetched[1] = [{ id: 1, album: 1 }, { id: 2, album: 1 }, { id: 3, album: 1 }];
  await act(async () => api.refetch());
  assert.equal(text(renderer), "1,2,3");
  await act(async () => renderer.update(h(LivePushProvider, { client }, h(Album, { albumId: 2 }))));
  await act(settle);
  assert.equal(text(renderer), "5");
  assert.deepEqual(fetches, [1, 1, 2]);
  act(() => renderer.unmount());
});

test("useLiveCollection loads again on a resync and on a reconnect without recovery, showing isLoading", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const client = new LivePush({ url: "ws://test.invalid/ws/", WebSocket: WS, random: () => 0 });
  t.after(() => client.close());
  const answers = [];
  const server = { items: [{ id: 1, title: "a" }] };
  function Points() {
    const { items, isLoading } = useLiveCollection(
      {
        fetch: () => new Promise((resolve) => answers.push(() => resolve(server.items))),
        update: "BUCKETPOINT_UPDATED",
      },
      [],
    );
    return h("p", null, `${isLoading ? "loading " : ""}${items.map((p) => `${p.id}:${p.title}`).join(",")}`);
  }
  let renderer;
  await act(async () => {
    renderer = TestRenderer.create(h(LivePushProvider, { client }, h(Points)));
  });
  act(() => WS.last.open());
  await act(async () => answers.shift()());
  assert.equal(text(renderer), "1:a");

  // A push while the resync's fetch is in flight is applied on top of the fetched list.
  server.items = [{ id: 1, title: "b" }, { id: 2, title: "new" }];
  act(() => WS.last.receive({ type: "RECOVERY", data: { recovered: false, streams: {}, resync: ["user_1"] } }));
  assert.equal(text(renderer), "loading 1:a");
  act(() => WS.last.receive({ type: "BUCKETPOINT_UPDATED", data: { id: 2, title: "newer" } }));
  await act(async () => answers.shift()());
  assert.equal(text(renderer), "1:b,2:newer");

  // A recovered reconnect loads nothing; one that recovered only part of it resyncs.
  act(() => WS.last.serverClose(1006));
  act(() => t.mock.timers.tick(1000));
  act(() => WS.last.open());
  act(() => WS.last.receive({ type: "RECOVERY", data: { recovered: true, streams: {}, resync: [] } }));
  assert.equal(answers.length, 0);
  assert.equal(text(renderer), "1:b,2:newer");
  act(() => renderer.unmount());
});

test("useLiveCollection against a server without recovery loads again after every reconnect", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const client = new LivePush({ url: "ws://test.invalid/ws/", WebSocket: WS, random: () => 0 });
  t.after(() => client.close());
  let fetches = 0;
  function Points() {
    const { items } = useLiveCollection({ fetch: async () => [{ id: ++fetches }] }, []);
    return h("p", null, items.map((p) => p.id).join(","));
  }
  let renderer;
  await act(async () => {
    renderer = TestRenderer.create(h(LivePushProvider, { client }, h(Points)));
  });
  act(() => WS.last.open());
  await act(settle);
  assert.equal(text(renderer), "1");
  for (const expected of ["2", "3"]) {
    act(() => WS.last.serverClose(1006));
    act(() => t.mock.timers.tick(30_000));
    act(() => WS.last.open());
    await act(settle);
    assert.equal(text(renderer), expected);
  }
  act(() => renderer.unmount());
});

test("ConnectionStatusIndicator shows the status by class name, the label when asked", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 0 });
  const WS = fakeWebSocket();
  const client = new LivePush({ url: "ws://test.invalid/ws/", WebSocket: WS });
  t.after(() => client.close());
  let renderer;
  act(() => {
    renderer = TestRenderer.create(
      h(LivePushProvider, { client }, h(ConnectionStatusIndicator, { showLabel: true }), h(ConnectionStatusIndicator)),
    );
  });
  const [labelled, bare] = renderer.root.findAllByType("span");
  assert.equal(labelled.props.className, "livepush-status livepush-status--connecting");
  assert.deepEqual(labelled.children, ["Connecting"]);
  assert.deepEqual(bare.children, []);
  act(() => WS.instances[0].open());
  assert.equal(renderer.root.findAllByType("span")[0].props.className, "livepush-status livepush-status--open");
  assert.deepEqual(renderer.root.findAllByType("span")[0].children, ["Live"]);
});
