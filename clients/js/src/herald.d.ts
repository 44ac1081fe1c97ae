// Types of herald-client (src/herald.js).

/** A message as herald sends it: the envelope of every transport. */
export interface Envelope<T = unknown> {
  channel: string;
  /** The message's cursor: opaque, ordered within its channel. */
  id: string;
  /** Milliseconds since the epoch, when herald accepted it. */
  time: number;
  event?: string;
  /** The published JSON value, or the text as a string. */
  data: T;
}

export type Transport = 'websocket' | 'sse' | 'longpoll' | 'poll';

/** What a subscription is doing; `closed` is final. */
export type SubscriptionStateName = 'connecting' | 'open' | 'reconnecting' | 'downgraded' | 'upgraded' | 'closed';

export interface SubscriptionState {
  state: SubscriptionStateName;
  transport: Transport;
  /** 1 + the consecutive failures of this transport. */
  attempt: number;
  channel?: string;
  /** `downgraded`: the transport given up. */
  from?: Transport;
  /** Why (`closed`: "401 token_expired — …", or "closed" after unsubscribe()). */
  reason?: string;
  /**
   * `closed` by a refusal, or by herald ending it (`disconnected`, `unsubscribed`): herald's HTTP status
   * (HTTP transports) and error code and message.
   */
  status?: number;
  code?: string;
  message?: string;
  /** `reconnecting`: how long before the next attempt. */
  delayMs?: number;
  upgrading?: boolean;
}

/** The shared /ws socket of a client. */
export type ClientStateName = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ClientState {
  state: ClientStateName;
  attempt: number;
  reason?: string;
  /** `idle` after herald ended the socket for good (`disconnected`, or a connection token refused twice). */
  code?: string;
  delayMs?: number;
}

export interface Gap {
  channel?: string;
  /** Where the subscription goes on from, when the server said; null otherwise. */
  cursor: string | null;
}

export interface TokenRequest {
  /** The channel the token is for (subscribe tokens); absent for a connection token. */
  channel?: string;
  /** initial: none yet; expiring: about to expire; refused / expired: the server refused it. */
  reason: 'initial' | 'expiring' | 'expired' | 'refused';
}

export type GetToken = (request: TokenRequest) => string | null | undefined | Promise<string | null | undefined>;

/** Constructors for environments without them (Node 20: the `ws` and `eventsource` packages). */
export interface Environment {
  WebSocket?: unknown;
  EventSource?: unknown;
  fetch?: typeof fetch;
}

export interface TransportOptions extends Environment {
  /** 'auto' (the default) starts at the best transport that works and steps down and back up. */
  transport?: 'auto' | Transport;
  pollIntervalMs?: number;
  /** Long poll ?wait= (seconds). */
  waitSeconds?: number;
  sseOpenTimeoutMs?: number;
  /** auto: after stepping down, try the better transports again this much later (0: never). */
  upgradeAfterMs?: number;
  /** Full-jitter backoff: attempt n waits a random time in [0, min(maxBackoffMs, backoffMs·2^n)). */
  backoffMs?: number;
  maxBackoffMs?: number;
  failuresBeforeDowngrade?: number;
  openTimeoutMs?: number;
  /** A JWT expiring within this is renewed (getToken) before it is used. */
  tokenRefreshMarginMs?: number;
}

export interface ClientOptions extends TransportOptions {
  /** Tokens for private namespaces: asked for when needed, about to expire, or refused. */
  getToken?: GetToken;
  /**
   * 'channel' (the default): a subscribe token per channel, sent in each subscribe (and refreshed on the
   * socket before it expires).
   * 'connection': one connection token for the /ws connection (`?token=`, or an `auth` frame with tokenVia
   * 'frame'), and `?token=` on channels stepped down to /sub; refreshed with a `refresh` frame before it
   * expires, and renewed on a new socket when herald ends it (close code 4001, token_expired).
   */
  tokenScope?: 'channel' | 'connection';
  tokenVia?: 'query' | 'frame';
  onState?: (state: ClientState) => void;
}

export interface SubscribeOptions<T = unknown> extends TransportOptions {
  /** A cursor to resume after; without it (and without `last`) the subscription starts from now. */
  since?: string;
  /** Without `since`: start with the newest N kept messages. */
  last?: number;
  /** Presence: who this is (both or neither). */
  client?: string;
  name?: string;
  /** This channel's own token source, instead of the client's. */
  getToken?: GetToken;
  onMessage?: (message: Envelope<T>) => void;
  onGap?: (gap: Gap) => void;
  onState?: (state: SubscriptionState) => void;
  /** The same as onState (the name web pages used first). */
  onStatus?: (state: SubscriptionState) => void;
}

export interface PublishOptions {
  event?: string;
  timeoutMs?: number;
}

export interface Published {
  id: string;
  via: 'websocket' | 'post';
}

/** A refusal: `code` is herald's (forbidden, rate_limited, too_large, …) or http_<status>. */
export interface HeraldError extends Error {
  code: string;
  status?: number;
  detail?: string;
}

export interface Presence {
  channel: string;
  count: number;
  members: { client: string; name: string }[];
  truncated: boolean;
}

export interface Stats {
  /** Connections opened and requests made. */
  requests: number;
  /** Bytes received, as they travelled (UTF-8). */
  bytes: number;
  /** Messages delivered. */
  messages: number;
}

export interface Subscription<T = unknown> {
  /** The channel (null for a subscribe URL that is not /sub/{channel}). */
  readonly channel: string | null;
  /** The id of the last message delivered (or where the server pinned "now"). */
  readonly cursor: string | null;
  readonly transport: Transport;
  readonly closed: boolean;
  readonly stats: Stats;
  /** Over the WebSocket in use, else POST /pub/{channel}. Rejects with a HeraldError. */
  publish(data: unknown, options?: PublishOptions): Promise<Published>;
  /** GET /channels/{channel}/presence. */
  presence(): Promise<Presence>;
  unsubscribe(): void;
  /** The same as unsubscribe(). */
  close(): void;
}

export interface Client {
  readonly state: ClientStateName;
  readonly subscriptions: Map<string, Subscription>;
  readonly stats: { connections: number; bytes: number; frames: number };
  /** Listen to the shared socket's states; returns a function that stops listening. */
  on(event: 'state', listener: (state: ClientState) => void): () => void;
  subscribe<T = unknown>(channel: string, options?: SubscribeOptions<T>): Subscription<T>;
  /** Unsubscribes everything and closes the socket. */
  close(): void;
}

/** A client whose channel subscriptions share one WebSocket to `${url}/ws`. */
export function connect(url?: string | URL, options?: ClientOptions): Client;

/** One subscribe URL (/sub/{channel}, /login/events, /metrics/feed, …) on a connection of its own. */
export function subscribe<T = unknown>(
  url: string | URL,
  options?: SubscribeOptions<T> & { getToken?: GetToken },
): Subscription<T>;

/** The full-jitter backoff (exported for tests and for callers that pace their own retries). */
export function backoffDelay(
  attempt: number,
  options: { backoffMs: number; maxBackoffMs: number },
  hintMs?: number,
  random?: () => number,
): number;

/** The expiry of a JWT in milliseconds since the epoch, or undefined. */
export function tokenExpiry(token: string | null | undefined): number | undefined;

declare const herald: { connect: typeof connect; subscribe: typeof subscribe };
export default herald;
