// herald-client — listen to herald channels over WebSocket, Server-Sent Events, long poll or interval
// poll, and move between them without losing or repeating a message. One file, no dependencies: the
// npm package and the demo pages (web/herald.js, a copy made by `npm run sync-web`) are the same code.
//
//   import { connect } from 'herald-client';
//   const client = connect('https://push.example.com', { getToken });
//   const sub = client.subscribe('news', { onMessage: (env) => …, onGap, onState });
//   await sub.publish({ text: 'hi' }, { event: 'say' });
//   await sub.presence();  sub.unsubscribe();  client.close();
//
//   import { subscribe } from 'herald-client';   // one subscribe URL (/login/events, /metrics/feed, …)
//   const s = subscribe('/login/events', { onMessage, onStatus });
//
// One cursor per subscription is the single source of truth: every connection starts from it, and only
// the connection in use may deliver messages or move it. A connection that is given up is marked dead
// first, so whatever it still receives is dropped — the next one asks the server again from the cursor,
// and the server's `since` semantics make the hand-over exact. Cursors stay opaque: they are only ever
// values the server sent.
//
// A client's channel subscriptions share one WebSocket (`/ws`): each subscribes with its own cursor, and
// after the socket drops, it reconnects (full-jitter backoff) and resubscribes every channel from its
// cursor. transport 'auto' steps a subscription down, by itself, when WebSocket does not get through
// (upgrade refused, a proxy that breaks it): to SSE, then long poll, then interval poll; upgradeAfterMs
// later it tries the best one again. A 4xx other than 429 (401: token or login gone, 403, 404) ends the
// subscription: onState({state: 'closed', reason, status, code, message}).
//
// herald ends a connection or a subscription on its own for three reasons (docs/api.md), each with a
// `code` and whether to come back: token_expired (come back with a fresh token: getToken is asked and the
// subscription resumes from its cursor, at once), disconnected and unsubscribed (`reconnect: false`: the
// subscription is closed with that code). On /ws that is a {"op":"close",…} frame and close code 4001,
// 4003 or 4004 for the socket, or {"op":"unsubscribed","code":…} for one channel; on /sub a WebSocket
// close code, an SSE {"close":{…}} line, or a long poll's 401 / 403 answer.

const ORDER = ['websocket', 'sse', 'longpoll', 'poll'];

const DEFAULTS = {
  transport: 'auto',
  since: undefined, // a cursor to resume after; without it the subscription starts from now
  last: undefined, // without `since`: start with the newest N kept messages
  pollIntervalMs: 2000,
  waitSeconds: 25, // long poll ?wait=
  sseOpenTimeoutMs: 4000, // an SSE stream that has not opened by then is held back (buffering proxy)
  upgradeAfterMs: 45000, // auto: after a downgrade, try the better transports again this much later
  backoffMs: 1000, // the backoff's base: attempt n waits a random time in [0, min(max, base·2^n))
  maxBackoffMs: 30000,
  failuresBeforeDowngrade: 3, // auto: a transport that keeps failing after it worked is given up
  openTimeoutMs: 10000, // a WebSocket, or a /ws subscribe, not answered by then has failed
  tokenRefreshMarginMs: 30000, // a JWT that expires within this is renewed before it is used
};

// Refusals a token from getToken may cure (identity_required: a namespace that takes only connection tokens).
const TOKEN_CODES = new Set(['token_required', 'bad_token', 'token_expired', 'identity_required']);

// herald's WebSocket close codes for its own endings (docs/api.md), with what they mean.
const ENDINGS = {
  4001: { code: 'token_expired', reconnect: true },
  4003: { code: 'disconnected', reconnect: false },
  4004: { code: 'unsubscribed', reconnect: false },
};

// An ending said by a close code: herald's code is the close reason, `message` what it said.
function endingOf(e, said) {
  const known = ENDINGS[e.code];
  if (!known) return null;
  return { ...known, ...(said || {}), code: (said && said.code) || e.reason || known.code };
}

// A fresh token that is declared expired again this soon is not asked for at once again (backoff).
const EXPIRED_AGAIN_MS = 2000;

// When to refresh a token before it expires (ms from now): tokenRefreshMarginMs ahead, or half its
// remaining life for a token shorter than that, so a short-lived token is not asked for in a loop.
function refreshIn(exp, now, marginMs) {
  const left = exp - now;
  return Math.max(0, left - Math.min(marginMs, left / 2));
}

// Response and frame sizes are counted in UTF-8 bytes, as they travelled.
const encoder = new TextEncoder();
const utf8Bytes = (text) => encoder.encode(text).length;

// A callback that throws must not break the transport loop; report it and carry on.
function safely(fn, ...args) {
  if (typeof fn !== 'function') return;
  try {
    fn(...args);
  } catch (err) {
    if (typeof reportError === 'function') reportError(err);
    else setTimeout(() => {
      throw err;
    });
  }
}

// A final answer: the URL itself is refused (401 token or login gone, 403, 404, 400…). 429 only means later.
const isFinal = (status) => status >= 400 && status < 500 && status !== 429;

// Full jitter: a random wait in [0, min(max, base·2^attempt)), but never less than the server asked.
export function backoffDelay(attempt, { backoffMs, maxBackoffMs }, hintMs, random = Math.random) {
  const cap = Math.min(maxBackoffMs, backoffMs * 2 ** Math.max(0, attempt));
  const wait = Math.floor(random() * cap);
  return hintMs > 0 ? Math.max(hintMs, wait) : wait;
}

// The expiry (ms since the epoch) of a JWT, or undefined when the token is not one or has no `exp`.
export function tokenExpiry(token) {
  if (typeof token !== 'string') return undefined;
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const json = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/')));
    return typeof json.exp === 'number' ? json.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

// What this environment offers (or the options inject): Node 20 has fetch but neither WebSocket nor
// EventSource, so a Node program passes e.g. the `ws` and `eventsource` packages' classes.
function environment(options) {
  const g = globalThis;
  const fetchFn = options.fetch ?? (typeof g.fetch === 'function' ? g.fetch.bind(g) : undefined);
  return {
    WebSocket: options.WebSocket ?? (typeof g.WebSocket === 'function' ? g.WebSocket : undefined),
    EventSource: options.EventSource ?? (typeof g.EventSource === 'function' ? g.EventSource : undefined),
    fetch: fetchFn,
    now: () => Date.now(),
  };
}

function baseUrl(url) {
  const loc = globalThis.location ? globalThis.location.href : undefined;
  return new URL(url, loc);
}

function refusalError(status, text) {
  const refusal = refusalOf(status, text);
  return Object.assign(new Error(describeError(status, text)), {
    code: refusal.code || `http_${status}`,
    status,
    detail: refusal.message,
  });
}

// ==== the client: one /ws connection for every channel subscription ==============================

/**
 * connect(url, options) → a client whose subscriptions share one WebSocket to `${url}/ws`.
 * `url` is herald's base (a path prefix is kept); in a browser it may be relative ('/').
 */
export function connect(url = '/', options = {}) {
  const opt = { ...DEFAULTS, ...options };
  const env = environment(opt);
  const base = baseUrl(url);
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  if (opt.transport !== 'auto' && !ORDER.includes(opt.transport)) throw new Error(`unknown transport ${opt.transport}`);
  const listeners = new Map(); // event -> Set(fn)
  const emit = (event, value) => {
    for (const fn of [...(listeners.get(event) || [])]) safely(fn, value);
  };
  const tokens = opt.getToken ? tokenSource(opt, env, null) : null;
  const connectionScope = opt.tokenScope === 'connection';
  const mux = new Mux(env, opt, base, {
    state: (s) => {
      state = s.state;
      safely(opt.onState, s);
      emit('state', s);
    },
    connectionToken: connectionScope ? tokens : null,
  });
  let state = 'idle';
  const subs = new Map(); // channel -> subscription
  let closed = false;

  const client = {
    get state() {
      return state;
    },
    /** Every subscription of this client, by channel. */
    get subscriptions() {
      return new Map(subs);
    },
    get stats() {
      return { ...mux.stats };
    },
    on(event, fn) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(fn);
      return () => listeners.get(event).delete(fn);
    },
    subscribe(channel, subOptions = {}) {
      if (closed) throw new Error('this client is closed');
      if (typeof channel !== 'string' || !channel) throw new Error('subscribe(channel): a channel name');
      if (subs.has(channel)) throw new Error(`already subscribed to ${channel} (one subscription per channel)`);
      const subUrl = new URL(`sub/${encodeURIComponent(channel)}`, base);
      for (const key of ['client', 'name']) {
        if (subOptions[key] !== undefined) subUrl.searchParams.set(key, String(subOptions[key]));
      }
      const { onState, onStatus } = subOptions;
      const o = {
        ...opt,
        onState: undefined,
        onStatus: undefined,
        ...subOptions,
        onState: (s) => {
          safely(onState, s);
          safely(onStatus, s);
        },
      };
      // A channel's own getToken (a subscribe token per channel) wins over the client's.
      const channelTokens = subOptions.getToken
        ? tokenSource(o, env, channel)
        : connectionScope || !opt.getToken
          ? null
          : tokenSource(opt, env, channel);
      const sub = createSubscription(env, o, {
        url: subUrl,
        base,
        channel,
        mux,
        tokens: channelTokens,
        // A channel stepped down to /sub presents the connection's token there (?token=).
        connectionTokens: connectionScope ? tokens : null,
        onEnd: () => {
          if (subs.get(channel) === sub) subs.delete(channel);
        },
      });
      subs.set(channel, sub);
      return sub;
    },
    close() {
      if (closed) return;
      closed = true;
      for (const sub of [...subs.values()]) sub.unsubscribe();
      mux.close();
    },
  };
  return client;
}

// The token of a channel (subscribe tokens) or of the connection: asked of getToken when there is none
// yet, when it is about to expire, and when the server refused it.
function tokenSource(opt, env, channel) {
  let token = null;
  let pending = null;
  let dropped = null; // why the token was given up (invalidate): the next ask says so
  const fresh = () => {
    const exp = tokenExpiry(token);
    return token && (exp === undefined || exp - env.now() > opt.tokenRefreshMarginMs);
  };
  return {
    get current() {
      return token;
    },
    get expiresAt() {
      return tokenExpiry(token);
    },
    // The token to use now (renewed first when missing, expiring, or `renew`).
    async get(reason = 'initial') {
      if (reason === 'initial' && fresh()) return token;
      if (reason === 'initial' && dropped) reason = dropped;
      dropped = null;
      if (!pending) {
        const ask = (async () => {
          const t = await opt.getToken({ channel: channel ?? undefined, reason });
          token = t == null ? null : String(t);
          return token;
        })();
        // Cleared once settled: a getToken that throws at once must not leave its failure here for good.
        pending = ask;
        const settled = () => {
          if (pending === ask) pending = null;
        };
        ask.then(settled, settled);
      }
      return pending;
    },
    // herald said the token ended (`expired`) or refused it: the next get() asks getToken for a new one.
    invalidate(reason) {
      token = null;
      dropped = reason;
    },
  };
}

// The /ws socket, shared by a client's subscriptions. Each attaches a handle; the socket opens when the
// first one does and closes when the last one leaves. After a drop it reconnects by itself and
// resubscribes every handle from its cursor; a socket that cannot be opened at all fails its handles, and
// each subscription decides (probe, then step down or retry).
class Mux {
  constructor(env, opt, base, hooks) {
    this.env = env;
    this.opt = opt;
    this.base = base;
    this.hooks = hooks;
    this.handles = new Set();
    this.ws = null;
    this.state = 'idle';
    this.wasOpen = false; // the current socket opened
    this.ready = false; // open, and identified when its token goes in an auth frame: subscribes may go
    this.authRef = null; // the auth frame waiting for `authenticated`
    this.authRefused = null; // herald's error frame for it (the socket closes next)
    this.authRetried = false; // a refused connection token was renewed once
    this.ending = null; // herald's {"op":"close",…} frame, before its close code
    this.lastExpiry = 0; // when herald last said the connection token expired
    this.attempt = 0; // consecutive reconnects that failed
    this.drops = 0; // sockets that opened and then broke soon after
    this.timer = 0;
    this.refreshTimer = 0;
    this.nextRef = 1;
    this.pending = new Map(); // ref -> {kind: 'subscribe', handle} | {kind: 'publish', resolve, reject, timer}
    this.stats = { connections: 0, bytes: 0, frames: 0 };
    this.closed = false;
  }

  setState(state, extra = {}) {
    if (this.state === state && !extra.force) return;
    this.state = state;
    this.hooks.state({ state, attempt: this.attempt, ...extra });
  }

  get isOpen() {
    return this.ws !== null && this.wasOpen && this.ws.readyState === 1;
  }

  attach(handle) {
    this.handles.add(handle);
    if (this.ready) this.subscribeHandle(handle);
    else if (!this.ws && !this.timer) this.open();
    return () => this.detach(handle);
  }

  detach(handle) {
    if (!this.handles.delete(handle)) return;
    if (handle.ref) this.pending.delete(handle.ref);
    if (this.isOpen && handle.sent) this.send({ op: 'unsubscribe', channel: handle.channel });
    if (this.handles.size === 0) this.idle();
  }

  // No subscription needs the socket: close it (and stop any reconnect).
  idle() {
    clearTimeout(this.timer);
    clearTimeout(this.refreshTimer);
    this.timer = 0;
    this.drop(1000);
    this.attempt = 0;
    this.drops = 0;
    this.setState(this.closed ? 'closed' : 'idle');
  }

  close() {
    this.closed = true;
    for (const h of [...this.handles]) this.detach(h);
    this.idle();
  }

  drop(code) {
    const ws = this.ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this.ws = null;
    this.ready = false;
    this.failPublishes('websocket given up');
    try {
      ws.close(code);
    } catch {}
  }

  async open() {
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.closed || this.handles.size === 0 || this.ws) return;
    const u = new URL('ws', this.base);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    const conn = this.hooks.connectionToken;
    let authToken = null; // tokenVia 'frame': sent as the first frame
    if (conn) {
      try {
        const token = await conn.get('initial');
        if (token && this.opt.tokenVia === 'frame') authToken = token;
        else if (token) u.searchParams.set('token', token);
      } catch (err) {
        return this.failAll(false, `getToken failed: ${err && err.message}`);
      }
      if (this.closed || this.handles.size === 0 || this.ws) return;
    }
    this.setState(this.attempt > 0 || this.wasOpenOnce ? 'reconnecting' : 'connecting', { force: true });
    this.wasOpen = false;
    this.stats.connections++;
    let ws;
    try {
      ws = new this.env.WebSocket(u.href);
    } catch (err) {
      return this.failAll(false, `websocket refused (${err && err.message})`);
    }
    this.ws = ws;
    const openTimer = setTimeout(() => {
      if (this.ws === ws && !this.wasOpen) this.onClose(ws, { code: 1006, reason: 'open timed out' });
    }, this.opt.openTimeoutMs);
    ws.onopen = () => {
      clearTimeout(openTimer);
      this.wasOpen = true;
      this.wasOpenOnce = true;
      this.openedAt = this.env.now();
      this.attempt = 0;
      this.setState('open', { force: true });
      if (authToken) {
        // The socket is the token's user once herald says `authenticated`; the subscribes wait for it.
        this.authRef = `a${this.nextRef++}`;
        this.send({ op: 'auth', token: authToken, ref: this.authRef });
        return;
      }
      this.authenticated();
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      const size = utf8Bytes(e.data);
      this.stats.bytes += size;
      this.stats.frames++;
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return;
      }
      if (frame && typeof frame === 'object') this.route(frame, size);
    };
    ws.onclose = (e) => {
      clearTimeout(openTimer);
      this.onClose(ws, e);
    };
    ws.onerror = () => {};
  }

  // Open (and identified): every channel subscribes, from its cursor.
  authenticated() {
    this.ready = true;
    this.authRetried = false;
    this.scheduleRefresh();
    for (const h of this.handles) this.subscribeHandle(h);
  }

  // The connection token, renewed on the open socket before it expires: {"op":"refresh","token":…}.
  // (A refused refresh is an error frame; the old token then ends, 4001, and the socket comes back.)
  async refresh() {
    const conn = this.hooks.connectionToken;
    if (!conn) return;
    try {
      const token = await conn.get('expiring');
      if (token && this.ready) this.send({ op: 'refresh', token });
    } catch {}
    if (this.ready) this.scheduleRefresh();
  }

  scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    const conn = this.hooks.connectionToken;
    const exp = conn && conn.expiresAt;
    // A token about to end is left to end: herald says so (4001) and the socket comes back with a new one.
    if (!exp || exp - this.env.now() <= 1000) return;
    this.refreshTimer = setTimeout(
      () => {
        if (this.ready) this.refresh();
      },
      Math.min(refreshIn(exp, this.env.now(), this.opt.tokenRefreshMarginMs), 2 ** 31 - 1),
    );
  }

  // A subscribe token, renewed on the open socket: {"op":"refresh","channel":…,"token":…}.
  refreshChannel(h, token) {
    if (this.ready && this.handles.has(h) && h.sent) this.send({ op: 'refresh', channel: h.channel, token });
  }

  subscribeHandle(h) {
    const ref = `s${this.nextRef++}`;
    if (h.ref) this.pending.delete(h.ref);
    h.ref = ref;
    h.sent = false;
    this.pending.set(ref, { kind: 'subscribe', handle: h });
    Promise.resolve(h.frame()).then(
      (fields) => {
        if (!this.handles.has(h) || h.ref !== ref || !this.ready) return;
        h.sent = true;
        h.sending();
        this.send({ op: 'subscribe', channel: h.channel, ...fields, ref });
      },
      (err) => {
        this.pending.delete(ref);
        if (this.handles.has(h)) h.failed(false, `getToken failed: ${err && err.message}`);
      },
    );
  }

  send(frame) {
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  route(frame, size) {
    const op = frame.op;
    if (op === 'message' || op === 'gap' || op === 'subscribed') {
      for (const h of this.handles) {
        if (h.channel !== frame.channel) continue;
        h.bytes(size);
        if (op === 'message') {
          const { op: _op, ...env } = frame;
          h.message(env);
        } else if (op === 'gap') {
          h.gap(frame);
        } else if (frame.ref === h.ref) {
          this.pending.delete(h.ref);
          h.subscribed(frame);
        }
      }
      return;
    }
    if (op === 'close') {
      // herald ends the socket (its token expired, or a disconnect); the close code follows.
      this.ending = frame;
      return;
    }
    if (op === 'unsubscribed' && typeof frame.code === 'string') {
      // herald ended one channel (its subscribe token expired, or an unsubscribe through its server API);
      // the answer to our own unsubscribe has no code.
      for (const h of [...this.handles]) if (h.channel === frame.channel) h.ended(frame);
      return;
    }
    if (this.authRef !== null && frame.ref === this.authRef) {
      this.authRef = null;
      if (op === 'authenticated') return this.authenticated();
      this.authRefused = frame; // herald closes the socket next (1008; 1013 at the user's connection limit)
      return;
    }
    const p = frame.ref !== undefined ? this.pending.get(frame.ref) : undefined;
    if (!p) return; // unsubscribed, or an answer nobody waits for
    this.pending.delete(frame.ref);
    if (p.kind === 'subscribe') {
      if (op === 'error' && this.handles.has(p.handle)) p.handle.refused(frame);
      return;
    }
    clearTimeout(p.timer);
    if (op === 'published') p.resolve({ id: frame.id, via: 'websocket' });
    else p.reject(Object.assign(new Error(frame.message || frame.code), { code: frame.code, detail: frame.message }));
  }

  publish(channel, data, event, token, timeoutMs) {
    const ref = `p${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(Object.assign(new Error('no answer to the publish'), { code: 'timeout' }));
      }, timeoutMs);
      this.pending.set(ref, { kind: 'publish', resolve, reject, timer });
      const frame = { op: 'publish', channel, data, ...(event ? { event } : {}), ...(token ? { token } : {}), ref };
      if (!this.send(frame)) {
        clearTimeout(timer);
        this.pending.delete(ref);
        reject(Object.assign(new Error('websocket not open'), { code: 'disconnected' }));
      }
    });
  }

  failPublishes(why) {
    for (const [ref, p] of this.pending) {
      if (p.kind !== 'publish') continue;
      clearTimeout(p.timer);
      p.reject(Object.assign(new Error(why), { code: 'disconnected' }));
      this.pending.delete(ref);
    }
  }

  // Every handle is given up: each subscription probes, then steps down or retries by itself.
  failAll(wasOpen, why, extra = {}) {
    const handles = [...this.handles];
    this.handles.clear();
    this.pending.clear();
    this.drop(1000);
    clearTimeout(this.refreshTimer);
    clearTimeout(this.timer);
    this.timer = 0;
    this.wasOpenOnce = false;
    this.attempt = 0;
    this.drops = 0;
    this.setState('idle', { reason: why });
    for (const h of handles) h.failed(wasOpen, why, extra);
  }

  onClose(ws, e) {
    if (this.ws !== ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this.ws = null;
    try {
      ws.close();
    } catch {}
    clearTimeout(this.refreshTimer);
    this.ready = false;
    const why = `websocket closed (${e.code}${e.reason ? ` ${e.reason}` : ''})`;
    this.failPublishes(why);
    const said = this.ending;
    const authRefused = this.authRefused;
    this.ending = this.authRefused = this.authRef = null;
    if (this.closed || this.handles.size === 0) return this.idle();
    const ending = this.wasOpen ? endingOf(e, said) : null;
    if (ending) return this.ended(ending, why);
    if (authRefused && TOKEN_CODES.has(authRefused.code) && this.hooks.connectionToken) {
      // The auth frame's token refused: a new one, once; refused again, the subscriptions end with it.
      if (this.authRetried) return this.ended({ ...authRefused, reconnect: false }, why);
      this.authRetried = true;
      this.hooks.connectionToken.invalidate('refused');
      return this.resume(why, true);
    }
    // Never opened: an upgrade refused (or nothing there). A socket that has worked before is tried
    // again a few times first; one that never has is handed back to the subscriptions at once, which
    // ask the server why and step down.
    if (!this.wasOpen && !(this.wasOpenOnce && this.attempt < this.opt.failuresBeforeDowngrade)) {
      return this.failAll(false, why);
    }
    if (!this.wasOpen) return this.reconnect(why, 0);
    // It had opened: 1008 slow consumer, 1001 going away, 1006 dropped, 1013 try later — all resume
    // from their cursors on a new socket. One that keeps breaking soon after opening is given up.
    if (this.env.now() - this.openedAt > 60000) this.drops = 0;
    if (this.opt.transport === 'auto' && ++this.drops >= this.opt.failuresBeforeDowngrade) {
      return this.failAll(true, why, { downgrade: true });
    }
    this.resume(why, false, e.code === 1013 ? 1000 : 0); // 1013 try again later: not at once
  }

  // herald ended the socket on purpose (docs/api.md). token_expired: a new connection token, and every
  // channel resumes from its cursor on a new socket, at once (not a failure; after a backoff only when a
  // fresh token was declared expired moments ago). reconnect false (disconnected): every subscription
  // ends with herald's code.
  ended(ending, why) {
    if (ending.reconnect === false) {
      const handles = [...this.handles];
      this.handles.clear();
      this.pending.clear();
      this.wasOpenOnce = false;
      this.attempt = 0;
      this.drops = 0;
      this.setState('idle', { reason: why, code: ending.code });
      for (const h of handles) h.ended(ending);
      return;
    }
    const conn = this.hooks.connectionToken;
    if (ending.code === 'token_expired' && conn) conn.invalidate('expired');
    const again = this.env.now() - this.lastExpiry < EXPIRED_AGAIN_MS;
    this.lastExpiry = this.env.now();
    this.resume(why, !again);
  }

  // A new socket for every channel, each resubscribed from its cursor.
  resume(why, now, hint = 0) {
    for (const h of this.handles) {
      h.sent = false;
      h.interrupted(why);
    }
    this.reconnect(why, hint, now);
  }

  reconnect(why, hint, now = false) {
    const delay = now ? 0 : backoffDelay(this.attempt++, this.opt, hint);
    this.setState('reconnecting', { reason: why, delayMs: delay, force: true });
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.open();
    }, delay);
  }
}

// ==== one URL, without a client ======================================================================

/**
 * subscribe(url, options) → a subscription to one subscribe URL (/sub/{channel}, /login/events,
 * /metrics/feed, …) with a connection of its own on whichever transport works.
 */
export function subscribe(url, options = {}) {
  const opt = { ...DEFAULTS, ...options };
  const env = environment(opt);
  const u = baseUrl(url);
  const channel = u.pathname.includes('/sub/') ? decodeURIComponent(u.pathname.split('/sub/').pop()) : null;
  const tokens = opt.getToken ? tokenSource(opt, env, channel) : null;
  const onState = opt.onState;
  const onStatus = opt.onStatus;
  const o = {
    ...opt,
    onState: (s) => {
      safely(onState, s);
      safely(onStatus, s);
    },
  };
  return createSubscription(env, o, { url: u, base: new URL('/', u), channel, mux: null, tokens });
}

// ==== one subscription: its cursor, its transport, stepping down and back up =========================

function createSubscription(env, opt, spec) {
  const auto = opt.transport === 'auto';
  if (!auto && !ORDER.includes(opt.transport)) throw new Error(`unknown transport ${opt.transport}`);
  // Transports this environment has at all; auto starts at the best of them.
  const available = ORDER.filter(
    (t) => (t !== 'websocket' || typeof env.WebSocket === 'function') && (t !== 'sse' || typeof env.EventSource === 'function'),
  );
  if (!env.fetch && !env.WebSocket) throw new Error('herald-client needs fetch or WebSocket (pass them in the options)');
  const base = spec.url;
  const channel = spec.channel;
  const tokens = spec.tokens; // the channel's own (subscribe tokens): in /ws subscribe frames and ?token=
  const urlTokens = tokens || spec.connectionTokens || null; // what goes as ?token= on /sub and presence

  const stats = { requests: 0, bytes: 0, messages: 0 };
  let cursor = opt.since ?? null;
  const levels = auto ? available : [opt.transport];
  let level = 0;
  let conn = null; // the connection in use: { live, stop }
  let failures = 0; // consecutive failures of the current transport
  let drops = 0; // streams of the current transport that opened and then broke soon after
  let retryTimer = 0;
  let upgradeTimer = 0;
  let closed = false;
  let upgrading = false; // the current attempt is a try at a better transport
  let tokenRetried = false; // a refused token was renewed once for this attempt
  let lastExpiry = 0; // when herald last said this subscription's token expired

  const current = () => levels[level];
  const status = (state, extra = {}) =>
    safely(opt.onState, { state, transport: current(), attempt: failures + 1, ...(channel ? { channel } : {}), ...extra });

  // ---- delivery: only through the live connection ------------------------------------------
  function deliver(c, env_) {
    if (!c.live || closed || !env_ || typeof env_.id !== 'string') return;
    cursor = env_.id;
    stats.messages++;
    safely(opt.onMessage, env_);
  }

  function gap(c, info) {
    if (!c.live || closed) return;
    if (typeof info.cursor === 'string' && info.cursor) cursor = info.cursor;
    safely(opt.onGap, info);
  }

  // The subscribe URL for one request, from the cursor (or `last` before there is one).
  function requestUrl(params = {}) {
    const u = new URL(base);
    if (cursor) u.searchParams.set('since', cursor);
    else if (opt.last !== undefined) u.searchParams.set('last', String(opt.last));
    if (urlTokens && urlTokens.current) u.searchParams.set('token', urlTokens.current);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
    return u;
  }

  // ---- lifecycle -----------------------------------------------------------------------------
  function stopConn() {
    clearTimeout(retryTimer);
    if (conn) {
      conn.live = false;
      conn.stop();
      conn = null;
    }
  }

  function connect(renewToken) {
    if (closed) return;
    stopConn();
    const c = { live: true, stop() {} };
    conn = c;
    status('connecting', upgrading ? { upgrading: true } : {});
    const start = { websocket: spec.mux ? openMux : openWebSocket, sse: openSSE, longpoll: openPoll, poll: openPoll }[
      current()
    ];
    const begin = () => {
      if (!c.live) return;
      const streaming = start === openWebSocket || start === openSSE;
      if (!streaming || cursor || opt.last !== undefined) return start(c);
      // A stream started "from now" that broke before its first message would reconnect "from now"
      // again and miss what came in between. One poll first pins "now" to a cursor (Herald-Cursor),
      // and shows a refusal (401 …) that a WebSocket or EventSource would hide. (/ws needs none: its
      // `subscribed` frame carries the cursor.)
      probe(c).then((p) => {
        if (p.outcome === 'reachable') start(c);
        else if (p.outcome === 'unreachable') retry(c, p);
      });
    };
    // The mux asks for the token itself, as it sends the subscribe frame.
    if (!urlTokens || start === openMux) return begin();
    urlTokens
      .get(renewToken ? 'refused' : 'initial')
      .then(begin, (err) => retry(c, { why: `getToken failed: ${err && err.message}` }));
  }

  // The connection works (a stream opened, or a poll was answered).
  function opened(c) {
    if (!c.live) return;
    failures = 0;
    tokenRetried = false;
    c.openedAt = Date.now();
    if (upgrading) {
      upgrading = false;
      status('upgraded');
    }
    status('open');
  }

  // Refused for good: a refused token is renewed once (getToken) before the subscription gives up.
  function refused(c, reason, refusal = {}) {
    if (!c.live || closed) return;
    if (urlTokens && TOKEN_CODES.has(refusal.code) && !tokenRetried) {
      tokenRetried = true;
      c.live = false;
      c.stop();
      return connect(true);
    }
    finish(reason, refusal);
  }

  // Give up for good and say why (`refusal`: the server's {status, code, message}, when it refused).
  function finish(reason, refusal = {}) {
    if (closed) return;
    stopConn();
    clearTimeout(upgradeTimer);
    if (typeof removeEventListener === 'function') removeEventListener('online', onOnline);
    closed = true;
    failPending(reason);
    status('closed', { reason, ...refusal });
    if (spec.onEnd) spec.onEnd();
  }

  // herald ended the connection on purpose (`ending`: {code, message, reconnect}; docs/api.md).
  function ended(c, ending) {
    if (!c.live || closed) return;
    if (ending.code === 'token_expired' && ending.reconnect !== false) return expired(c);
    if (ending.reconnect === false) {
      const message = String(ending.message || '');
      return finish(`${ending.code}${message ? ` — ${message}` : ''}`, { code: ending.code, message });
    }
    retry(c);
  }

  // The token expired: a fresh one (getToken), and the same transport again from the cursor, at once —
  // after a backoff when the last fresh one was declared expired moments ago.
  function expired(c) {
    if (!c.live || closed) return;
    if (!urlTokens) return retry(c); // nothing to renew it with: herald will say why (401) and it ends
    urlTokens.invalidate('expired');
    const again = Date.now() - lastExpiry < EXPIRED_AGAIN_MS;
    lastExpiry = Date.now();
    if (again) return retry(c);
    c.live = false;
    c.stop();
    connect();
  }

  // Reconnect the same transport after a full-jitter backoff (or what the server asked for).
  function retry(c, { delayMs } = {}) {
    if (!c.live || closed) return;
    const wait = backoffDelay(failures, opt, delayMs);
    failures++;
    c.live = false;
    c.stop();
    status('reconnecting', { delayMs: wait });
    retryTimer = setTimeout(connect, wait);
  }

  // auto: this transport does not work here; the next one down is tried at once.
  function downgrade(c, why) {
    if (!c.live || closed) return;
    if (!auto || level >= levels.length - 1) return retry(c);
    const from = current();
    c.live = false;
    c.stop();
    level++;
    failures = drops = 0;
    upgrading = false;
    status('downgraded', { from, reason: why });
    scheduleUpgrade();
    connect();
  }

  // auto: after a while on a lesser transport, try the best one again. Stopping the current
  // connection first keeps one connection at a time; the cursor makes the pause lossless.
  function scheduleUpgrade() {
    clearTimeout(upgradeTimer);
    if (!auto || !(opt.upgradeAfterMs > 0)) return;
    upgradeTimer = setTimeout(() => {
      if (closed || level === 0) return;
      level = 0;
      failures = drops = 0;
      upgrading = true;
      connect();
    }, opt.upgradeAfterMs);
  }

  // A WebSocket or EventSource that failed before opening hides the HTTP status. One plain poll of
  // the same URL shows it: a final 4xx ends the subscription; any answer means the server is there
  // but this transport is not getting through; no answer means the network is down.
  // Messages the probe returns are genuine and are delivered.
  // Returns {outcome: 'gone' | 'unreachable' | 'reachable', delayMs (from Retry-After)}.
  async function probe(c) {
    if (!env.fetch) return { outcome: 'reachable' };
    const r = await pollOnce(c, requestUrl(), 10000);
    if (!c.live) return { outcome: 'gone' };
    if (r.kind === 'final') {
      refused(c, r.reason, r.refusal);
      return { outcome: 'gone' };
    }
    if (r.kind === 'network' || r.kind === 'later') return { outcome: 'unreachable', delayMs: r.retryAfterMs };
    return { outcome: 'reachable' };
  }

  // A stream failed. Before it opened: ask why (probe), then downgrade (auto) or retry. After it had
  // opened: reconnect, downgrading only when it keeps failing.
  async function streamFailed(c, wasOpen, why, { downgrade: giveUp = false } = {}) {
    if (!c.live || closed) return;
    if (giveUp) return downgrade(c, why);
    if (!wasOpen) {
      const p = await probe(c);
      if (p.outcome === 'gone' || !c.live) return;
      if (p.outcome === 'reachable' && auto) return downgrade(c, why);
      return retry(c, p);
    }
    // A stream that had stayed up for a minute was working: start counting afresh.
    if (Date.now() - c.openedAt > 60000) drops = 0;
    if (auto && ++drops >= opt.failuresBeforeDowngrade) return downgrade(c, why);
    retry(c);
  }

  // ---- interval poll and long poll ---------------------------------------------------------
  // One GET; delivers what it brings and moves the cursor to Herald-Cursor.
  // Returns {kind: 'ok', more} | {kind: 'final', reason} | {kind: 'later', retryAfterMs} | {kind: 'network'}.
  async function pollOnce(c, u, timeoutMs) {
    const ctrl = new AbortController();
    const stopBefore = c.stop;
    c.stop = () => {
      ctrl.abort();
      stopBefore();
    };
    const guard = setTimeout(() => ctrl.abort(), timeoutMs);
    stats.requests++;
    try {
      const res = await env.fetch(u, { credentials: 'same-origin', cache: 'no-store', signal: ctrl.signal });
      const buf = await res.arrayBuffer();
      stats.bytes += buf.byteLength;
      if (!c.live) return { kind: 'network' };
      const text = new TextDecoder().decode(buf);
      if (res.status === 200 || res.status === 204) {
        const body = res.status === 200 && text ? JSON.parse(text) : null;
        if (body && body.gap) gap(c, { channel: body.channel, cursor: null });
        for (const e of (body && body.messages) || []) deliver(c, e);
        const next = res.headers.get('Herald-Cursor') || (body && body.cursor);
        if (c.live && next) cursor = next;
        return { kind: 'ok', more: Boolean(body && body.more) };
      }
      if (isFinal(res.status)) {
        return { kind: 'final', reason: describeError(res.status, text), refusal: refusalOf(res.status, text) };
      }
      // 429 and 503 say when to come back.
      const ra = Number(res.headers.get('Retry-After'));
      return { kind: 'later', retryAfterMs: ra > 0 ? ra * 1000 : undefined };
    } catch {
      return { kind: 'network' };
    } finally {
      clearTimeout(guard);
      c.stop = stopBefore;
    }
  }

  function openPoll(c) {
    const longpoll = current() === 'longpoll';
    let timer = 0;
    const stopBefore = c.stop;
    c.stop = () => {
      clearTimeout(timer);
      stopBefore();
    };
    let first = true;
    (async function loop() {
      while (c.live) {
        // A long poll's first request does not wait: it answers at once, so the connection is
        // known to work (and the cursor pinned) before the held requests begin.
        const hold = longpoll && !first;
        const u = requestUrl(hold ? { wait: opt.waitSeconds } : {});
        const r = await pollOnce(c, u, hold ? (opt.waitSeconds + 15) * 1000 : 15000);
        if (!c.live) return;
        if (r.kind === 'final') return refused(c, r.reason, r.refusal);
        if (r.kind === 'later') return retry(c, { delayMs: r.retryAfterMs });
        if (r.kind === 'network') {
          if (auto && longpoll && failures + 1 >= opt.failuresBeforeDowngrade) return downgrade(c, 'long poll failing');
          return retry(c);
        }
        if (first) {
          first = false;
          opened(c);
        }
        if (!longpoll && !r.more && c.live) {
          await new Promise((resolve) => (timer = setTimeout(resolve, opt.pollIntervalMs)));
        }
      }
    })();
  }

  // ---- WebSocket: the client's shared /ws socket ------------------------------------------
  function openMux(c) {
    const mux = spec.mux;
    const subscribeTimer = () => {
      clearTimeout(c.subscribeTimer);
      c.subscribeTimer = setTimeout(() => {
        if (c.live && !c.subscribed) streamFailed(c, false, 'no answer to subscribe');
      }, opt.openTimeoutMs + 5000);
    };
    // A subscribe token is refreshed on the socket before it expires, so the subscription never ends.
    const scheduleTokenRefresh = () => {
      clearTimeout(c.refreshTimer);
      const exp = tokens && tokens.expiresAt;
      if (!exp || exp - env.now() <= 1000) return; // about to end: herald says so, and it resubscribes
      c.refreshTimer = setTimeout(
        async () => {
          if (!c.live || !c.subscribed) return;
          try {
            const t = await tokens.get('expiring');
            if (t && c.live && c.subscribed) mux.refreshChannel(handle, t);
          } catch {}
          if (c.live && c.subscribed) scheduleTokenRefresh();
        },
        Math.min(refreshIn(exp, env.now(), opt.tokenRefreshMarginMs), 2 ** 31 - 1),
      );
    };
    const stopTimers = () => {
      clearTimeout(c.subscribeTimer);
      clearTimeout(c.refreshTimer);
    };
    const handle = {
      channel,
      sent: false,
      ref: null,
      // The subscribe frame's fields: from the cursor (or `last`), with the token and presence.
      async frame() {
        const fields = {};
        if (cursor) fields.since = cursor;
        else if (opt.last !== undefined) fields.last = opt.last;
        if (opt.client !== undefined) fields.client = String(opt.client);
        if (opt.name !== undefined) fields.name = String(opt.name);
        if (tokens) {
          const t = await tokens.get(c.renewToken ? 'refused' : 'initial');
          c.renewToken = false;
          if (t) fields.token = t;
        }
        return fields;
      },
      bytes(n) {
        if (c.live) stats.bytes += n;
      },
      subscribed(frame) {
        if (!c.live) return;
        c.subscribed = true;
        clearTimeout(c.subscribeTimer);
        // From now: the frame's cursor pins "now", so a resubscribe misses nothing in between.
        if (!cursor && !(opt.last > 0) && typeof frame.cursor === 'string' && frame.cursor) cursor = frame.cursor;
        if (frame.gap) gap(c, { channel, cursor: null });
        opened(c);
        scheduleTokenRefresh();
      },
      message: (e) => deliver(c, e),
      gap: (frame) => gap(c, { channel, cursor: frame.cursor }),
      // The subscribe frame is on its way: no answer in time, and this subscription gives up on /ws.
      sending: subscribeTimer,
      // The shared socket dropped; the mux reconnects and resubscribes from the cursor.
      interrupted(why) {
        if (!c.live) return;
        c.subscribed = false;
        stopTimers();
        status('reconnecting', { reason: why });
      },
      // herald ended this channel ({"op":"unsubscribed","code":…}) or, for good, the whole socket.
      ended(frame) {
        stopTimers();
        if (!c.live) return;
        c.subscribed = false;
        handle.sent = false; // herald has dropped it already: nothing to unsubscribe
        if (frame.code === 'token_expired' && frame.reconnect !== false && tokens && mux.handles.has(handle)) {
          // Its subscribe token ended: a fresh one, and subscribe again on the same socket, from the cursor.
          tokens.invalidate('expired');
          status('reconnecting', { reason: 'token_expired' });
          if (mux.ready) mux.subscribeHandle(handle);
          return;
        }
        detach();
        ended(c, frame);
      },
      refused(frame) {
        stopTimers();
        const refusal = { code: frame.code, message: String(frame.message || '') };
        const reason = `${frame.code}${frame.message ? ` — ${frame.message}` : ''}`;
        if (tokens && TOKEN_CODES.has(frame.code) && !tokenRetried) {
          // A new token, and subscribe again on the same socket (or the next, if it closed on us).
          tokenRetried = true;
          c.renewToken = true;
          if (mux.ready) mux.subscribeHandle(handle);
          return;
        }
        detach();
        refused(c, reason, refusal);
      },
      failed(wasOpen, why, extra) {
        stopTimers();
        streamFailed(c, wasOpen, why, extra);
      },
    };
    const detach = mux.attach(handle);
    c.mux = mux;
    c.stop = () => {
      stopTimers();
      detach();
    };
  }

  // ---- WebSocket: a socket of its own on the subscribe URL ----------------------------------
  function openWebSocket(c) {
    const u = requestUrl();
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    stats.requests++;
    try {
      ws = new env.WebSocket(u.href);
    } catch {
      return streamFailed(c, false, 'websocket refused');
    }
    let wasOpen = false;
    c.stop = () => {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      c.ws = null;
      failPending('websocket given up');
      try {
        ws.close(1000);
      } catch {}
    };
    ws.onopen = () => {
      wasOpen = true;
      c.ws = ws;
      opened(c);
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      stats.bytes += utf8Bytes(e.data);
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return;
      }
      if (frame && typeof frame.op === 'string') answered(frame); // the answer to a publish; never a message
      else if (frame && frame.gap === true) gap(c, { channel: frame.channel, cursor: frame.cursor });
      else deliver(c, frame);
    };
    ws.onclose = (e) => {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      c.ws = null;
      failPending(`websocket closed (${e.code})`);
      // herald's own endings: 4001 token expired, 4003 disconnected, 4004 unsubscribed (the reason: its code).
      const ending = wasOpen ? endingOf(e) : null;
      if (ending) return ended(c, ending);
      // 1008 slow consumer, 1001 going away, 1006 dropped: all resume from the cursor; 1013: later.
      if (wasOpen && e.code === 1013) return retry(c, { delayMs: 1000 });
      streamFailed(c, wasOpen, `websocket closed (${e.code})`);
    };
    ws.onerror = () => {};
  }

  // ---- Server-Sent Events --------------------------------------------------------------------
  // format=envelope: every event is unnamed and carries the whole envelope (or a gap), so one
  // `message` listener hears everything. We reconnect ourselves from our own cursor rather than let
  // EventSource retry with its Last-Event-ID, so the cursor stays the one source of truth.
  function openSSE(c) {
    const u = requestUrl({ format: 'envelope' });
    stats.requests++;
    const es = new env.EventSource(u.href);
    let wasOpen = false;
    const openTimer = setTimeout(() => {
      if (!wasOpen) fail('sse did not open in time');
    }, opt.sseOpenTimeoutMs);
    c.stop = () => {
      clearTimeout(openTimer);
      es.onopen = es.onmessage = es.onerror = null;
      es.removeEventListener('gap', onGapEvent);
      es.close();
    };
    const fail = (why) => {
      clearTimeout(openTimer);
      es.close();
      streamFailed(c, wasOpen, why);
    };
    es.onopen = () => {
      wasOpen = true;
      clearTimeout(openTimer);
      opened(c);
    };
    es.onmessage = (e) => {
      stats.bytes += utf8Bytes(e.data);
      let envelope;
      try {
        envelope = JSON.parse(e.data);
      } catch {
        return;
      }
      if (envelope && envelope.gap === true) gap(c, { channel: envelope.channel, cursor: envelope.cursor || e.lastEventId });
      else if (envelope && envelope.close && typeof envelope.close === 'object') {
        // herald ends the stream on purpose ({"close":{code, message, reconnect}}), then closes it.
        clearTimeout(openTimer);
        es.close();
        ended(c, envelope.close);
      } else deliver(c, envelope);
    };
    // Without format=envelope a gap would come as a named event; harmless to listen for it too.
    function onGapEvent(e) {
      stats.bytes += utf8Bytes(e.data || '');
      gap(c, { cursor: e.lastEventId || null });
    }
    es.addEventListener('gap', onGapEvent);
    es.onerror = () => fail(wasOpen ? 'sse stream ended' : 'sse refused');
  }

  // ---- publishing -----------------------------------------------------------------------------
  const pending = new Map(); // ref -> {resolve, reject, timer}: publishes sent over the own socket
  let nextRef = 1;

  function answered(frame) {
    const p = pending.get(frame.ref);
    if (!p) return;
    pending.delete(frame.ref);
    clearTimeout(p.timer);
    if (frame.op === 'published') p.resolve({ id: frame.id, via: 'websocket' });
    else p.reject(Object.assign(new Error(frame.message || frame.code), { code: frame.code, detail: frame.message }));
  }

  function failPending(why) {
    for (const [ref, p] of pending) {
      clearTimeout(p.timer);
      p.reject(Object.assign(new Error(why), { code: 'disconnected' }));
      pending.delete(ref);
    }
  }

  function channelName() {
    if (!channel) throw new Error('publish() and presence() need a /sub/{channel} subscription');
    return channel;
  }

  // Over the WebSocket in use (the shared /ws or the subscription's own), else POST /pub/{channel}.
  async function publish(data, { event, timeoutMs = 10000 } = {}) {
    const ch = channelName();
    const token = tokens ? tokens.current : null;
    if (conn && conn.live && conn.mux && conn.mux.isOpen) {
      return conn.mux.publish(ch, data, event, token, timeoutMs);
    }
    const ws = conn && conn.live ? conn.ws : null;
    if (ws && ws.readyState === 1) {
      const ref = nextRef++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(ref);
          reject(Object.assign(new Error('no answer to the publish'), { code: 'timeout' }));
        }, timeoutMs);
        pending.set(ref, { resolve, reject, timer });
        ws.send(JSON.stringify({ op: 'publish', channel: ch, data, ...(event ? { event } : {}), ref }));
      });
    }
    const u = new URL(`pub/${encodeURIComponent(ch)}`, rootOf());
    if (event) u.searchParams.set('event', event);
    if (token) u.searchParams.set('token', token);
    const text = typeof data === 'string';
    const res = await env.fetch(u, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': text ? 'text/plain; charset=utf-8' : 'application/json' },
      body: text ? data : JSON.stringify(data),
    });
    const body = await res.text();
    if (!res.ok) throw refusalError(res.status, body);
    return { id: JSON.parse(body).id, via: 'post' };
  }

  // herald's base: the client's, or the part of a /sub/{channel} URL before /sub/.
  function rootOf() {
    if (spec.mux) return spec.base;
    const u = new URL(base);
    u.pathname = u.pathname.slice(0, u.pathname.lastIndexOf('/sub/') + 1);
    u.search = '';
    return u;
  }

  // GET /channels/{channel}/presence: who is listening on the channel now.
  async function presence() {
    const u = new URL(`channels/${encodeURIComponent(channelName())}/presence`, rootOf());
    if (urlTokens) {
      const t = await urlTokens.get('initial');
      if (t) u.searchParams.set('token', t);
    }
    const res = await env.fetch(u, { credentials: 'same-origin', cache: 'no-store' });
    const body = await res.text();
    if (!res.ok) throw refusalError(res.status, body);
    return JSON.parse(body);
  }

  // ---- start -----------------------------------------------------------------------------------
  // Back online: reconnect now rather than waiting out a backoff that grew while offline.
  const onOnline = () => {
    if (!closed && conn && !conn.live) connect();
  };
  if (typeof addEventListener === 'function') addEventListener('online', onOnline);
  connect();

  const end = () => {
    failPending('closed');
    finish('closed');
  };
  return {
    get channel() {
      return channel;
    },
    get cursor() {
      return cursor;
    },
    get transport() {
      return current();
    },
    get closed() {
      return closed;
    },
    stats,
    publish,
    presence,
    unsubscribe: end,
    close: end,
  };
}

// {status, code, message} of an error answer (code and message when herald sent its JSON).
function refusalOf(status, text) {
  try {
    const j = JSON.parse(text);
    if (j && typeof j.error === 'string') return { status, code: j.error, message: String(j.message || '') };
  } catch {}
  return { status };
}

// "401 unauthorized — message" from an error answer (JSON when herald sent it).
function describeError(status, text) {
  try {
    const j = JSON.parse(text);
    if (j && typeof j.error === 'string') return `${status} ${j.error}${j.message ? ` — ${j.message}` : ''}`;
  } catch {}
  return `${status}`;
}

export default { connect, subscribe };
