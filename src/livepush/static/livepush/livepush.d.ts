// Types of livepush.js, the django-livepush browser client. Generated message types
// (`manage.py livepush_typescript`) plug in through the `M` type parameter: a map from message
// type name to payload type, so `bind()` is typed per message type.

/** Connection status. */
export type Status = "connecting" | "open" | "reconnecting" | "closed" | "failed";

/** A token, or a function (sync or async) called before every connect and reconnect. */
export type TokenProvider = string | null | (() => string | null | Promise<string | null>);

export interface LivePushOptions {
  /** Default: ws:// or wss:// (from the page's scheme) on the current origin at /ws/. */
  url?: string;
  /** Called before every connect and reconnect, so an expired token is replaced, and ahead of
   *  the token's expiry on an open connection (see `refreshAhead`). */
  token?: TokenProvider;
  /** "subprotocol" (default: `livepush` and `livepush.token.<JWT>`) or "query" (`?accessToken=`). */
  tokenTransport?: "subprotocol" | "query";
  /** Query parameter name for the "query" transport. Default "accessToken". */
  queryParam?: string;
  /** Reconnect backoff: first delay in ms (1000), multiplier (1.5), cap in ms (30000). */
  initialDelay?: number;
  multiplier?: number;
  maxDelay?: number;
  /** Reconnect attempts before status "failed" (20). */
  maxAttempts?: number;
  /** Jitter as a fraction of each delay: the delay is drawn from [d*(1-jitter), d]. Default 0.5. */
  jitter?: number;
  /** Outgoing queue while disconnected: at most this many messages (100) ... */
  maxQueueSize?: number;
  /** ... none older than this many ms (60000). */
  maxQueueAge?: number;
  /** Called with each message dropped from the queue (oldest first, or too old). */
  onDrop?: (message: OutgoingMessage, reason: "overflow" | "expired") => void;
  /** Server heartbeat: interval and timeout in ms (30000, 10000); silence for their sum => reconnect. */
  heartbeatInterval?: number;
  heartbeatTimeout?: number;
  /**
   * Token lifetime: with a token provider function and a token whose `exp` is readable, call the
   * provider again this many ms before `exp` (at most 20% of the lifetime left; default 60000)
   * and send the new token in a `REFRESH_TOKEN` frame, so the server does not close with 4003.
   * A failure or refusal is retried with the reconnect backoff while the token lasts. `null`
   * turns refreshing off (the client then reconnects after each 4003).
   */
  refreshAhead?: number | null;
  /**
   * After a close with 1012 or 4012 (the server is restarting) or 1001 (going away): reconnect
   * after a random delay drawn uniformly from [0, restartJitter) ms, so clients spread their
   * reconnects over the window. Not counted as a failed attempt. Default 5000.
   */
  restartJitter?: number;
  /**
   * Recovery (the server's `LIVEPUSH["RECOVERY"]`): remember the position of the last push of each
   * stream and present them on every reconnect, so the server replays what was missed; pushes
   * this client had already are dropped. Default true (harmless when the server has recovery off).
   */
  recover?: boolean;
  /** A sessionStorage key to keep the positions under, so a page reload recovers too (null). */
  persistPositions?: string | null;
  /**
   * Called with the streams (e.g. `["user_5"]`) whose missed pushes the server no longer has:
   * refetch what they carry. Also called while connected when a stream's history was lost.
   */
  onResync?: ((streams: string[]) => void) | null;
  /** Connect at construction (true). Until connect(), the status is "closed". */
  autoConnect?: boolean;
  /** For tests: the WebSocket constructor and a random source. */
  WebSocket?: typeof WebSocket;
  random?: () => number;
}

export interface OutgoingMessage {
  type: string;
  data?: unknown;
}

export interface StatusInfo {
  status: Status;
  /** Last close code and reason, when there was a close. For a 4001, the server's reason
   * (`expired_token`, `invalid_signature`, ...); `no_token: ...` when the token provider gave
   * none, and nothing was dialled. */
  code: number | null;
  reason: string;
  /**
   * Reconnect attempts made since the connection last proved healthy: the first frame from the
   * server after an open resets it (the server accepts, then closes at once, a connection it
   * refuses, so an open alone proves nothing).
   */
  attempt: number;
  /**
   * Recovery: whether the last connect recovered every stream (false: `onResync` was called),
   * null before the server said (or with recovery off on the server).
   */
  recovered: boolean | null;
}

/** A push's place in its stream, the `pos` of a push frame (recovery). */
export interface StreamPosition {
  stream: string;
  offset: number;
  epoch: string;
}

export type Handler<T = unknown> = (data: T, type: string) => void;

/**
 * The data of a PRESENCE_DIFF frame: the users who came online and went offline during one
 * presence window on the server (each user in at most one list). The client also calls the
 * USER_PRESENCE_DISCONNECTED handlers once per leave, then USER_PRESENCE_CONNECTED once per join,
 * with `{ user_id }`.
 */
export interface PresenceDiff {
  joins: (number | string)[];
  leaves: (number | string)[];
}

/** Close codes the server uses (docs/reference/protocol.md). */
export declare const CloseCode: {
  readonly NORMAL: 1000;
  readonly MESSAGE_TOO_BIG: 1009;
  readonly SERVER_ERROR: 4000;
  readonly UNAUTHENTICATED: 4001;
  readonly HEARTBEAT_TIMEOUT: 4002;
  readonly TOKEN_EXPIRED: 4003;
  readonly MESSAGE_TOO_BIG_APP: 4009;
  readonly SERVICE_RESTART: 1012;
  readonly SERVICE_RESTART_APP: 4012;
  readonly RATE_LIMITED: 4008;
  readonly BACKLOG_OVERFLOW: 4010;
  readonly TOO_MANY_CONNECTIONS: 4011;
};

export declare class LivePush<M extends Record<string, unknown> = Record<string, unknown>> {
  constructor(options?: LivePushOptions);
  /** Connect (or reconnect now, resetting the attempt count); nothing while connecting or open. */
  connect(): void;
  /** Close and stop reconnecting; status "closed". */
  close(code?: number, reason?: string): void;
  /** Send now when open, else queue. */
  send<K extends keyof M & string>(type: K, data?: M[K]): void;
  /**
   * A handler for one message type. A PRESENCE_DIFF frame calls the PRESENCE_DIFF handlers with
   * its data, then the USER_PRESENCE_DISCONNECTED and USER_PRESENCE_CONNECTED handlers once per
   * user (see PresenceDiff).
   */
  bind<K extends keyof M & string>(type: K, handler: Handler<M[K]>): void;
  unbind<K extends keyof M & string>(type: K, handler: Handler<M[K]>): void;
  /**
   * A handler for every message type. For a PRESENCE_DIFF frame it is called once per user with
   * the USER_PRESENCE_DISCONNECTED / USER_PRESENCE_CONNECTED events, not with the diff itself.
   */
  bindAll(handler: Handler): void;
  unbindAll(handler: Handler): void;
  readonly status: Status;
  readonly statusInfo: StatusInfo;
  /** Called at once with the current statusInfo, then on every change of any of its fields;
   * returns the unsubscribe function. */
  onStatus(listener: (info: StatusInfo) => void): () => void;
  /** Messages waiting in the outgoing queue. */
  readonly queued: number;
}

export default LivePush;
