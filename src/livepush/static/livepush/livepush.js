// livepush.js: the django-livepush browser client. A dependency-free ES module; the API is
// described in livepush.d.ts and the wire protocol in docs/reference/protocol.md.

/** Close codes the server uses (docs/reference/protocol.md, "Close codes"). */
export const CloseCode = Object.freeze({
  NORMAL: 1000, MESSAGE_TOO_BIG: 1009, SERVER_ERROR: 4000, UNAUTHENTICATED: 4001,
  HEARTBEAT_TIMEOUT: 4002, TOKEN_EXPIRED: 4003, MESSAGE_TOO_BIG_APP: 4009,
  SERVICE_RESTART: 1012, SERVICE_RESTART_APP: 4012,
  RATE_LIMITED: 4008, BACKLOG_OVERFLOW: 4010, TOO_MANY_CONNECTIONS: 4011,
});

// A server restarting (1012, or 4012 from daphne) or going away (1001): come back after a random
// delay within restartJitter, so a restart does not bring every client back at the same moment.
const GOING_AWAY = 1001;
const RESTART_CODES = new Set([GOING_AWAY, CloseCode.SERVICE_RESTART, CloseCode.SERVICE_RESTART_APP]);

// The seed client's values (websocket-implementation-guide.md) and the server's heartbeat defaults.
const DEFAULTS = {
  token: null, tokenTransport: "subprotocol", queryParam: "accessToken",
  initialDelay: 1000, multiplier: 1.5, maxDelay: 30000, maxAttempts: 20, jitter: 0.5,
  maxQueueSize: 100, maxQueueAge: 60000, onDrop: null,
  heartbeatInterval: 30000, heartbeatTimeout: 10000, autoConnect: true,
  refreshAhead: 60000, // token lifetime: ms before exp to refresh (at most 20% of what is left)
  restartJitter: 5000,
  // Recovery: present the last position per stream on reconnect; keep positions across reloads
  // in sessionStorage under this key (null: in memory only); called with the streams to refetch.
  recover: true, persistPositions: null, onResync: null,
};

const SUBPROTOCOL = "livepush";
const TOKEN_PREFIX = "livepush.token.";
const OPEN = 1; // WebSocket.OPEN, spelt out so that test doubles need not define it
const RESUME_PARAM = "resume"; // livepush.protocol.RESUME_QUERY_PARAM

function defaultUrl() {
  if (typeof location === "undefined") {
    throw new Error("LivePush: no `url` option and no `location` to derive one from");
  }
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/`;
}

function report(what, error) {
  console.error(`LivePush: ${what}`, error);
}

// --- token lifetime -------------------------------------------------------------------------

/** The `exp` claim (seconds) of a JWT, read without verification; null when there is none. */
function tokenExp(token) {
  if (typeof token !== "string") return null;
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const exp = JSON.parse(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4))).exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------

export class LivePush {
  constructor(options = {}) {
    const opts = { ...DEFAULTS };
    for (const [key, value] of Object.entries(options)) if (value !== undefined) opts[key] = value;
    this._opts = opts;
    this._url = opts.url ?? defaultUrl();
    this._WebSocket = opts.WebSocket ?? globalThis.WebSocket;
    this._random = opts.random ?? Math.random;
    this._handlers = new Map(); // type -> Set of handlers
    this._allHandlers = new Set();
    this._listeners = new Set();
    this._queue = []; // {message, at}
    this._ws = null; // the current socket; handlers of older sockets are detached
    this._gen = 0; // bumped by every dial and close(), so a late async token is ignored
    this._attempt = 0;
    this._authRetry = false; // true while the socket in use was opened to retry a 4001
    this._gaveUp = false; // "failed" after maxAttempts: the page waking up retries
    this._reconnectTimer = null;
    this._watchdog = null;
    // Token lifetime: the socket's token, the exp the server holds, the refresh timer and failures.
    this._token = null;
    this._exp = null;
    this._refreshTimer = null;
    this._refreshFailures = 0;
    this._refreshed = null; // {previous: exp} after a REFRESH_TOKEN, until a refusal or the next
    this._listening = false;
    // Recovery: stream -> [offset, epoch] of the last push handled (or where RECOVERY put it).
    this._positions = this._loadPositions();
    this._wasOpen = false; // ever open: a later connect is a reconnect
    this._resuming = false; // the current connect presented positions
    this._connectRecovery = false; // the next RECOVERY frame is the current connect's own
    this._info = Object.freeze({ status: "closed", code: null, reason: "", attempt: 0, recovered: null });
    this._onWake = (event) => {
      if (event.type === "visibilitychange" && document.visibilityState !== "visible") return;
      // Retry now after giving up, or instead of waiting out the backoff.
      if (this._gaveUp || this._reconnectTimer !== null) this.connect();
    };
    if (opts.autoConnect) this.connect();
  }

  get status() { return this._info.status; }

  /** Immutable; replaced on every change (so React's useSyncExternalStore can compare it). */
  get statusInfo() { return this._info; }

  get queued() { return this._queue.length; }

  /** Call `listener(statusInfo)` now and on every change; returns the unsubscribe function.
   * Called at once, so a listener added after the constructor started dialling still sees
   * "connecting". */
  onStatus(listener) {
    this._listeners.add(listener);
    try {
      listener(this._info);
    } catch (error) {
      report("a status listener threw", error);
    }
    return () => this._listeners.delete(listener);
  }

  connect() {
    // Already connecting or connected: nothing to do.
    if (this._ws && this._ws.readyState <= OPEN) return;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    this._attempt = 0;
    this._authRetry = false;
    this._gaveUp = false;
    this._listen(true);
    this._dial();
  }

  close(code, reason) {
    this._gen++;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    this._listen(false);
    this._gaveUp = false;
    const ws = this._ws;
    this._detach();
    if (ws) {
      try {
        if (reason === undefined) ws.close(code ?? CloseCode.NORMAL);
        else ws.close(code ?? CloseCode.NORMAL, reason);
      } catch (error) {
        report("close() failed", error);
      }
    }
    this._setInfo({ status: "closed", code: code ?? CloseCode.NORMAL, reason: reason ?? "" });
  }

  send(type, data) {
    const message = data === undefined ? { type } : { type, data };
    const ws = this._ws;
    if (ws && this._info.status === "open" && ws.readyState === OPEN) {
      ws.send(JSON.stringify(message));
      return;
    }
    this._dropExpired();
    this._queue.push({ message, at: Date.now() });
    while (this._queue.length > this._opts.maxQueueSize) {
      this._drop(this._queue.shift().message, "overflow");
    }
  }

  bind(type, handler) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(handler);
  }

  unbind(type, handler) {
    const set = this._handlers.get(type);
    if (!set) return;
    set.delete(handler);
    if (set.size === 0) this._handlers.delete(type);
  }

  bindAll(handler) { this._allHandlers.add(handler); }

  unbindAll(handler) { this._allHandlers.delete(handler); }

  // --- connecting ---------------------------------------------------------------------------

  /** Ask the token provider (again: the last token may have expired), then open a socket. */
  _dial(info = {}) {
    const gen = ++this._gen;
    const status = this._attempt === 0 ? "connecting" : "reconnecting";
    this._setInfo({ ...info, status, attempt: this._attempt });
    if (gen !== this._gen) return; // a status listener called close() or connect()
    const provider = this._opts.token;
    let token;
    try {
      token = typeof provider === "function" ? provider() : provider;
    } catch (error) {
      this._dialFailed(error);
      return;
    }
    const open = (value) => {
      // A provider that gives no token (the user is not logged in: its fetch got a 401) stops
      // here: a connection without a token would only be refused. connect() tries again.
      if (typeof provider === "function" && (value === null || value === undefined || value === "")) {
        this._setInfo({ status: "failed", code: null, reason: "no_token: the token provider returned none" });
        return;
      }
      this._openSocket(value);
    };
    if (token && typeof token.then === "function") {
      token.then(
        (value) => gen === this._gen && open(value),
        (error) => gen === this._gen && this._dialFailed(error),
      );
    } else {
      // A sync provider opens the socket synchronously: no needless turn of the event loop.
      open(token);
    }
  }

  _openSocket(token) {
    const { tokenTransport, queryParam } = this._opts;
    let url = this._url;
    this._refusal = ""; // why the server refused this connect (its ERROR before a 4001)
    // Whether this connect resumes; the first RECOVERY frame after it is the connect's own.
    this._resuming = this._opts.recover && Object.keys(this._positions).length > 0;
    this._wasOpenBefore = this._wasOpen === true;
    this._connectRecovery = true;
    if (this._resuming) {
      const sep = url.includes("?") ? "&" : "?";
      url += `${sep}${RESUME_PARAM}=${encodeURIComponent(JSON.stringify(this._positions))}`;
    }
    const protocols = [SUBPROTOCOL];
    if (token) {
      if (tokenTransport === "query") {
        const sep = url.includes("?") ? "&" : "?";
        url += `${sep}${encodeURIComponent(queryParam)}=${encodeURIComponent(token)}`;
      } else {
        // Offer both: browsers fail a handshake where the server selects none of the offered.
        protocols.push(TOKEN_PREFIX + token);
      }
    }
    let ws;
    this._token = token; // token lifetime: its exp schedules the refresh once open
    try {
      ws = new this._WebSocket(url, protocols);
    } catch (error) {
      this._dialFailed(error);
      return;
    }
    this._ws = ws;
    ws.onopen = () => ws === this._ws && this._handleOpen(ws);
    ws.onmessage = (event) => ws === this._ws && this._handleMessage(ws, event);
    ws.onclose = (event) => ws === this._ws && this._handleClose(event);
    ws.onerror = () => {}; // a close event follows every error; it decides what to do
    // Armed from the start, so a handshake that hangs is abandoned like a silent server.
    this._armWatchdog();
  }

  _dialFailed(error) {
    report("could not connect", error);
    this._retry({ code: null, reason: String(error?.message ?? error) });
  }

  _handleOpen(ws) {
    this._flush(ws); // before "open" is announced, so a listener's send() stays behind the queue
    this._exp = tokenExp(this._token);
    this._refreshFailures = 0;
    this._refreshed = null;
    this._scheduleRefresh(); // before "open" too, so a listener calling close() cancels it
    this._setInfo({ status: "open" });
    this._wasOpen = true;
  }

  _handleMessage(ws, event) {
    this._armWatchdog(); // any frame proves the server alive
    // The server accepts, then closes at once, a connection it refuses (4000, 4001), so "open"
    // proves nothing; a frame from the server does. Only then do the attempt counts start over.
    if (this._attempt !== 0 || this._authRetry) {
      this._attempt = 0;
      this._authRetry = false;
      this._setInfo({ attempt: 0 });
    }
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (error) {
      report("ignored a frame that is not JSON", error);
      return;
    }
    if (!frame || typeof frame.type !== "string") {
      report("ignored a frame without a string type", frame);
      return;
    }
    if (frame.type === "PING") {
      ws.send('{"type":"PONG"}'); // at once: the server closes with 4002 without a PONG
      return;
    }
    if (frame.type === "ERROR" && frame.data?.code === "token_refused") this._refreshRefused(frame.data);
    if (frame.type === "ERROR" && frame.data?.code === "unauthenticated") this._refusal = String(frame.data.reason ?? "");
    if (frame.type === "PRESENCE_DIFF") {
      this._presenceDiff(frame.data);
      return;
    }
    if (frame.pos && !this._advance(frame.pos)) return; // a push this client had already
    const data = frame.type === "RECOVERY" ? this._recovery(frame.data) : frame.data;
    this._dispatch(frame.type, data, true);
  }

  // --- recovery -----------------------------------------------------------------------------

  /** Record a push's position; false for a duplicate (at or below the last one of its epoch). */
  _advance(pos) {
    const { stream, offset, epoch } = pos;
    if (typeof stream !== "string" || typeof offset !== "number") return true;
    const last = this._positions[stream];
    if (last && last[1] === epoch && offset <= last[0]) return false;
    this._positions[stream] = [offset, epoch];
    this._savePositions();
    return true;
  }

  /**
   * RECOVERY: where each stream stands now; the streams in `resync` lost pushes: refetch.
   * Returns the data the handlers get: a reconnect that presented no positions (`recover:
   * false`, or none kept) recovered nothing, so every stream is in its `resync`.
   */
  _recovery(data) {
    const streams = data?.streams ?? {};
    const connect = this._connectRecovery;
    this._connectRecovery = false;
    // The connect's RECOVERY names every stream of the connection: keep those only (streams of
    // groups left, or of another user's session, would grow the resume parameter forever).
    const next = connect ? {} : this._positions;
    for (const [stream, pos] of Object.entries(streams)) {
      if (typeof pos?.offset !== "number") continue;
      const last = this._positions[stream];
      // Within an epoch, only forward: a resync released late must not replay what was handled.
      if (!connect && last && last[1] === pos.epoch && last[0] > pos.offset) continue;
      next[stream] = [pos.offset, pos.epoch];
    }
    this._positions = next;
    this._savePositions();
    let resync = Array.isArray(data?.resync) ? data.resync : [];
    if (connect && !this._resuming && this._wasOpenBefore) resync = [...new Set([...resync, ...Object.keys(streams)])];
    if (data?.recovered !== undefined) this._setInfo({ recovered: resync.length === 0 });
    if (resync.length > 0 && typeof this._opts.onResync === "function") {
      try {
        this._opts.onResync(resync);
      } catch (error) {
        report("onResync threw", error);
      }
    }
    return resync === data?.resync ? data : { ...data, recovered: resync.length === 0, resync };
  }

  _loadPositions() {
    const key = this._opts.persistPositions;
    if (!key || typeof sessionStorage === "undefined") return {};
    try {
      const saved = JSON.parse(sessionStorage.getItem(key) ?? "{}");
      return saved && typeof saved === "object" ? saved : {};
    } catch {
      return {};
    }
  }

  _savePositions() {
    const key = this._opts.persistPositions;
    if (!key || typeof sessionStorage === "undefined") return;
    try {
      sessionStorage.setItem(key, JSON.stringify(this._positions));
    } catch (error) {
      report("could not keep the stream positions", error);
    }
  }

  _dispatch(type, data, all) {
    const typed = this._handlers.get(type) ?? [];
    for (const handler of all ? [...typed, ...this._allHandlers] : [...typed]) {
      try {
        handler(data, type);
      } catch (error) {
        report(`a handler for ${type} threw`, error);
      }
    }
  }

  /**
   * A PRESENCE_DIFF (one window of presence changes) goes to its own handlers, then is expanded
   * into one USER_PRESENCE_DISCONNECTED per leave and one USER_PRESENCE_CONNECTED per join, in
   * that order, for the typed and bindAll handlers: what the server sent one by one before.
   */
  _presenceDiff(data) {
    this._dispatch("PRESENCE_DIFF", data, false);
    const { joins, leaves } = data ?? {};
    for (const user_id of Array.isArray(leaves) ? leaves : []) {
      this._dispatch("USER_PRESENCE_DISCONNECTED", { user_id }, true);
    }
    for (const user_id of Array.isArray(joins) ? joins : []) {
      this._dispatch("USER_PRESENCE_CONNECTED", { user_id }, true);
    }
  }

  _handleClose(event) {
    this._detach();
    const code = typeof event.code === "number" ? event.code : null;
    // A 4001's reason (expired_token, invalid_signature, ...) comes in its close frame (uvicorn)
    // and in the ERROR frame before it (every server).
    const reason = event.reason || (code === CloseCode.UNAUTHENTICATED ? this._refusal : "") || "";
    if (code === CloseCode.UNAUTHENTICATED) {
      if (this._authRetry || reason === "missing_token") {
        // The fresh token was refused too (or there was none to refresh): retrying again would
        // loop. The app must log the user in again, then call connect().
        this._authRetry = false;
        this._setInfo({ status: "failed", code, reason: `${reason || "unauthenticated"}: the server refused the token` });
        return;
      }
      // The token probably expired: ask for a fresh one once, and retry without waiting.
      this._authRetry = true;
      this._attempt += 1;
      this._dial({ code, reason });
      return;
    }
    if (code === CloseCode.TOKEN_EXPIRED && !this._authRetry) {
      // Token lifetime: the token expired before a refresh replaced it. Reconnect at once with a
      // fresh one; if that socket's token expires too before the server sent anything, back off.
      this._authRetry = true;
      this._attempt += 1;
      this._dial({ code, reason });
      return;
    }
    this._authRetry = false;
    if (RESTART_CODES.has(code)) {
      this._restart({ code, reason });
      return;
    }
    this._retry({ code, reason });
  }

  /** The server is restarting: reconnect after a random delay in [0, restartJitter) ms. It is
   * not a failed attempt, so the backoff and maxAttempts are not used up. */
  _restart(info) {
    const delay = this._opts.restartJitter * this._random();
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      this._dial();
    }, delay);
    this._setInfo({ ...info, status: "reconnecting" });
  }

  /** Watchdog: the server PINGs every heartbeatInterval, so silence for longer means dead. */
  _armWatchdog() {
    clearTimeout(this._watchdog);
    const { heartbeatInterval, heartbeatTimeout } = this._opts;
    this._watchdog = setTimeout(() => {
      const ws = this._ws;
      this._detach(); // a dead peer may take minutes to deliver the close event: don't wait
      try {
        ws.close(CloseCode.NORMAL); // browsers may not close with 4000+ codes
      } catch (error) {
        report("close() failed", error);
      }
      this._authRetry = false;
      const ms = heartbeatInterval + heartbeatTimeout;
      this._retry({ code: null, reason: `heartbeat timeout: no frame from the server for ${ms} ms` });
    }, heartbeatInterval + heartbeatTimeout);
  }

  /** Schedule the next attempt with exponential backoff and jitter, or give up. */
  _retry(info) {
    const { initialDelay, multiplier, maxDelay, maxAttempts, jitter } = this._opts;
    if (this._attempt >= maxAttempts) {
      this._gaveUp = true; // the page becoming visible or going online tries again
      const last = info.reason ? ` (last: ${info.reason})` : "";
      this._setInfo({ ...info, status: "failed", reason: `gave up after ${this._attempt} reconnect attempts${last}` });
      return;
    }
    const n = ++this._attempt;
    const delay = Math.min(initialDelay * multiplier ** (n - 1), maxDelay);
    // Jitter spreads out the clients a server restart disconnected all at once.
    const actual = delay * (1 - jitter * this._random());
    // Scheduled before the listeners hear of it, so that one calling close() cancels it.
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      this._dial();
    }, actual);
    this._setInfo({ ...info, status: "reconnecting", attempt: n });
  }

  /** Forget the current socket: detach its handlers, stop its watchdog and token refresh. */
  _detach() {
    const ws = this._ws;
    if (ws) ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this._ws = null;
    clearTimeout(this._watchdog);
    this._watchdog = null;
    clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
  }

  // --- token lifetime -------------------------------------------------------------------------

  /** Ask the provider for a new token ahead of this._exp: min(refreshAhead, 20% of what is left). */
  _scheduleRefresh() {
    clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
    const { refreshAhead, token } = this._opts;
    // A fixed token cannot be renewed; a token without a readable exp needs no renewal.
    if (refreshAhead == null || refreshAhead === false || typeof token !== "function" || this._exp === null) return;
    const left = this._exp * 1000 - Date.now();
    const delay = Math.max(0, left - Math.max(0, Math.min(refreshAhead, left * 0.2)));
    this._refreshTimer = setTimeout(() => this._refresh(), delay);
  }

  _refresh() {
    this._refreshTimer = null;
    const ws = this._ws;
    if (!ws || this._info.status !== "open") return;
    const gen = this._gen;
    let token;
    try {
      token = this._opts.token();
    } catch (error) {
      this._refreshFailed(error);
      return;
    }
    const current = () => gen === this._gen && ws === this._ws;
    if (token && typeof token.then === "function") {
      token.then((value) => current() && this._sendRefresh(ws, value), (error) => current() && this._refreshFailed(error));
    } else {
      this._sendRefresh(ws, token);
    }
  }

  _sendRefresh(ws, token) {
    const exp = tokenExp(token);
    if (!token || (exp !== null && exp <= this._exp)) {
      // A provider that caches tokens may hand back the current one: asking again at once would spin.
      this._refreshFailed(new Error("the token provider returned no newer token"));
      return;
    }
    if (ws.readyState !== OPEN) return;
    ws.send(JSON.stringify({ type: "REFRESH_TOKEN", data: { token } }));
    // The server answers only a refusal ("token_refused"), which puts the old exp back.
    this._refreshed = { previous: this._exp };
    this._exp = exp;
    this._refreshFailures = 0;
    this._scheduleRefresh();
  }

  _refreshRefused(data) {
    if (this._refreshed) this._exp = this._refreshed.previous;
    this._refreshed = null;
    this._refreshFailed(new Error(data.detail || "token_refused"));
  }

  /** Try again with the reconnect backoff while the token lasts; after it, 4003 reconnects. */
  _refreshFailed(error) {
    report("could not refresh the token", error);
    clearTimeout(this._refreshTimer);
    this._refreshTimer = null;
    const { initialDelay, multiplier, maxDelay } = this._opts;
    const n = ++this._refreshFailures;
    const delay = Math.min(initialDelay * multiplier ** (n - 1), maxDelay);
    if (this._exp === null || Date.now() + delay >= this._exp * 1000) return;
    this._refreshTimer = setTimeout(() => this._refresh(), delay);
  }

  _listen(on) {
    if (on === this._listening) return;
    this._listening = on;
    const method = on ? "addEventListener" : "removeEventListener";
    if (typeof document !== "undefined" && document[method]) document[method]("visibilitychange", this._onWake);
    if (typeof window !== "undefined" && window[method]) window[method]("online", this._onWake);
  }

  // --- queue and status ---------------------------------------------------------------------

  _flush(ws) {
    this._dropExpired();
    while (this._queue.length && this._ws === ws) ws.send(JSON.stringify(this._queue.shift().message));
  }

  _dropExpired() {
    const oldest = Date.now() - this._opts.maxQueueAge;
    while (this._queue.length && this._queue[0].at < oldest) {
      this._drop(this._queue.shift().message, "expired");
    }
  }

  _drop(message, reason) {
    if (!this._opts.onDrop) return;
    try {
      this._opts.onDrop(message, reason);
    } catch (error) {
      report("onDrop threw", error);
    }
  }

  _setInfo(patch) {
    const next = { ...this._info, ...patch };
    if (Object.keys(next).every((key) => next[key] === this._info[key])) return;
    this._info = Object.freeze(next);
    for (const listener of [...this._listeners]) {
      try {
        listener(next);
      } catch (error) {
        report("a status listener threw", error);
      }
    }
  }
}

export default LivePush;
