// collection.js: a live collection for livepush.js. A list loaded with a fetch function and kept
// current from pushes, race-free: pushes during a fetch are kept and applied on top of what it
// returns, an older event never overwrites a newer state (with `version`), and a reconnect that
// missed pushes loads again. Framework-free: subscribe()/getSnapshot() serve React's
// useSyncExternalStore and plain DOM code alike. API in collection.d.ts.

function report(what, error) {
  console.error(`LivePush collection: ${what}`, error);
}

const asList = (types) => (types == null ? [] : Array.isArray(types) ? types : [types]);

export class LiveCollection {
  /**
   * @param client a LivePush client.
   * @param options {fetch, key, create, update, delete, filter, version, sort, autoStart}.
   */
  constructor(client, options) {
    if (typeof options?.fetch !== "function") throw new TypeError("LiveCollection needs a fetch function");
    this._client = client;
    this._fetch = options.fetch;
    this._key = options.key ?? ((item) => item.id);
    this._filter = options.filter ?? null;
    this._version = options.version ?? null;
    this._sort = options.sort ?? null;
    this._items = new Map(); // key -> item, in first-seen order
    this._versions = new Map(); // key -> version of the state held (or of its delete)
    this._deleted = new Set(); // keys deleted: a late create or update must not bring them back
    this._pending = null; // events received while a fetch is in flight, in order
    this._gen = 0; // bumped by every load: an older fetch's result is ignored
    this._listeners = new Set();
    this._seenRecovery = false; // the server does recovery: its RECOVERY frame says what to do
    this._wasOpen = false;
    this._lastStatus = client.status;
    this._snapshot = Object.freeze({ items: Object.freeze([]), isLoading: false, isError: false, error: null });
    this._bound = [];
    for (const type of asList(options.create)) this._on(type, (data) => this._event("create", data));
    for (const type of asList(options.update)) this._on(type, (data) => this._event("update", data));
    for (const type of asList(options.delete)) this._on(type, (data) => this._event("delete", data));
    this._on("RECOVERY", (data) => {
      this._seenRecovery = true;
      if (Array.isArray(data?.resync) && data.resync.length > 0) this.refetch();
    });
    this._unsubscribeStatus = client.onStatus((info) => this._status(info));
    this._started = false;
    if (options.autoStart !== false) this.start();
  }

  /** Load the list (once; later loads come from refetch(), a resync or a reconnect). */
  start() {
    if (this._started) return;
    this._started = true;
    this._wasOpen = this._client.status === "open";
    this.refetch();
  }

  /** Load the list again; pushes that arrive meanwhile are applied on top of the result. */
  refetch() {
    const gen = ++this._gen;
    if (this._pending === null) this._pending = [];
    this._publish({ isLoading: true }, false);
    let result;
    try {
      result = Promise.resolve(this._fetch());
    } catch (error) {
      result = Promise.reject(error);
    }
    return result.then(
      (items) => gen === this._gen && this._loaded(items),
      (error) => {
        if (gen !== this._gen) return;
        this._apply(this._pending ?? []); // what was pushed still holds
        this._pending = null;
        this._publish({ isLoading: false, isError: true, error });
      },
    );
  }

  getSnapshot() { return this._snapshot; }

  subscribe(listener) {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  /** Stop listening to the client; the last snapshot stays. */
  close() {
    this._gen++;
    for (const [type, handler] of this._bound) this._client.unbind(type, handler);
    this._bound = [];
    this._unsubscribeStatus();
  }

  // --- internals ----------------------------------------------------------------------------

  _on(type, handler) {
    this._client.bind(type, handler);
    this._bound.push([type, handler]);
  }

  _status(info) {
    const opened = info.status === "open" && this._lastStatus !== "open";
    this._lastStatus = info.status;
    if (!opened) return;
    // A reconnect to a server without recovery missed whatever was pushed meanwhile: load again.
    // With recovery, the RECOVERY frame that follows says whether anything is missing.
    if (this._wasOpen && this._started && !this._seenRecovery) this.refetch();
    this._wasOpen = true;
  }

  _event(kind, data) {
    if (this._pending !== null) {
      this._pending.push([kind, data]);
      return;
    }
    if (this._apply([[kind, data]])) this._publish({});
  }

  _loaded(items) {
    if (!Array.isArray(items)) {
      this._publish({ isLoading: false, isError: true, error: new TypeError("fetch() must resolve to an array") });
      this._pending = null;
      return;
    }
    // The fetched list is the state when it was read; what was pushed meanwhile goes on top (a
    // push the list already reflects changes nothing: creates of known keys are ignored, and
    // versions keep an older update from winning).
    const pending = this._pending ?? [];
    this._pending = null;
    this._items = new Map();
    this._versions = new Map();
    this._deleted = new Set();
    for (const item of items) {
      const key = this._key(item);
      this._items.set(key, item);
      if (this._version) this._versions.set(key, this._version(item));
    }
    this._apply(pending);
    this._publish({ isLoading: false, isError: false, error: null });
  }

  /** Apply events; return whether the list changed. */
  _apply(events) {
    let changed = false;
    for (const [kind, data] of events) {
      try {
        changed = this._applyOne(kind, data) || changed;
      } catch (error) {
        report(`could not apply a ${kind} event`, error);
      }
    }
    return changed;
  }

  _applyOne(kind, data) {
    const key = this._key(data);
    if (key === undefined || key === null) return false;
    const version = this._version ? this._version(data) : undefined;
    const known = this._versions.get(key);
    if (this._version && known !== undefined && version !== undefined && version < known) return false;
    if (kind === "delete") {
      this._deleted.add(key);
      if (version !== undefined) this._versions.set(key, version);
      return this._items.delete(key);
    }
    const newer = this._version && version !== undefined && (known === undefined || version > known);
    if (this._deleted.has(key) && !newer) return false; // overtaken by its delete
    if (kind === "create" && this._items.has(key) && !newer) return false; // an update came first
    if (this._filter && !this._filter(data)) {
      // Moved out of view (an update that no longer matches): drop it.
      if (version !== undefined) this._versions.set(key, version);
      return this._items.delete(key);
    }
    this._deleted.delete(key);
    this._items.set(key, data);
    if (version !== undefined) this._versions.set(key, version);
    return true;
  }

  /** A new snapshot with `patch`, its items made anew when the list `changed`; tell listeners. */
  _publish(patch, changed = true) {
    let items = this._snapshot.items;
    if (changed) {
      items = [...this._items.values()];
      if (this._sort) items.sort(this._sort);
      Object.freeze(items);
    }
    this._snapshot = Object.freeze({ ...this._snapshot, ...patch, items });
    for (const listener of [...this._listeners]) {
      try {
        listener(this._snapshot);
      } catch (error) {
        report("a listener threw", error);
      }
    }
  }
}

export default LiveCollection;
