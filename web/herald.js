// herald.js — listen to one herald subscribe URL (/sub/{channel}, /login/events) over WebSocket,
// Server-Sent Events, long poll or interval poll, and move between them without losing or repeating
// a message.
//
//   import { subscribe } from '/herald.js';
//   const sub = subscribe('/sub/news', { onMessage: (env) => …, onStatus: (s) => … });
//   sub.transport; sub.cursor; sub.stats; sub.close();
//   await sub.publish({ text: 'hi' });   // /sub/{channel} of a namespace where clients may publish
//
// One cursor is the single source of truth: every connection starts from it (`since=`), and only the
// connection in use may deliver messages or move it. A connection that is given up is marked dead
// first, so whatever it still receives is dropped — the next one asks the server again from the
// cursor, and the server's `since` semantics make the hand-over exact. Cursors stay opaque: they are
// only ever values the server sent.
//
// transport 'auto' tries WebSocket, then SSE, then long poll, then interval poll. A transport steps
// down when it is refused before it opens (WebSocket error, SSE not open within sseOpenTimeoutMs —
// e.g. a buffering proxy) or keeps breaking after it opened; upgradeAfterMs later the best one is
// tried again. Reconnects back off exponentially with jitter. A 4xx other than 429 on the URL (401:
// the login cookie is gone) ends the subscription: onStatus({state: 'closed', reason, status, code,
// message}) — `reason` is "401 unauthorized — <herald's message>", the others its parts, so a page can
// say in its own words what happened and what to do.
//
// onStatus receives {state: 'connecting' | 'open' | 'downgraded' | 'upgraded' | 'closed', transport,
// attempt, from?, reason?}; onGap {channel?, cursor} when the server says messages were missed;
// stats counts requests (every fetch or connection attempt), bytes received and messages delivered.
//
// getToken: an async function that answers a token (a connection token, or a subscribe token for a
// private channel), sent as ?token= on every connection. It is asked before the first connection and
// again whenever herald says the token expired (WebSocket close 4001, SSE `close` event, a 401
// token_expired answer); the subscription then reconnects from its cursor, losing nothing. When herald
// ends it for good (4003 disconnected, 4004 unsubscribed: `reconnect: false`), onStatus says 'closed'.
//
// publish(data, {event}) sends over the subscription's own WebSocket while that is the transport in
// use, and by POST /pub/{channel} otherwise; it resolves to {id, via: 'websocket' | 'post'} or throws
// an Error whose `code` is herald's (rate_limited, forbidden, too_large, ...) and `detail` its message.

const ORDER = ['websocket', 'sse', 'longpoll', 'poll'];

const DEFAULTS = {
  transport: 'auto',
  since: undefined, // a cursor to resume after; without it the subscription starts from now
  last: undefined, // without `since`: start with the newest N kept messages
  pollIntervalMs: 2000,
  waitSeconds: 25, // long poll ?wait=
  sseOpenTimeoutMs: 4000, // an SSE stream that has not opened by then is held back (buffering proxy)
  upgradeAfterMs: 45000, // auto: after a downgrade, try the better transports again this much later
  backoffMs: 1000, // first reconnect delay; doubles per failure, with jitter
  maxBackoffMs: 30000,
  failuresBeforeDowngrade: 3, // auto: a transport that keeps failing after it worked is given up
  onMessage: () => {},
  onStatus: () => {},
  onGap: () => {},
  getToken: undefined, // async () => token; see above
};

// Response and frame sizes are counted in UTF-8 bytes, as they travelled.
const encoder = new TextEncoder();
const utf8Bytes = (text) => encoder.encode(text).length;

// A callback that throws must not break the transport loop; report it and carry on.
function safely(fn, ...args) {
  try {
    fn(...args);
  } catch (err) {
    if (typeof reportError === 'function') reportError(err);
    else setTimeout(() => { throw err; });
  }
}

// A final answer: the URL itself is refused (401 login gone, 403, 404, 400…). 429 only means later.
const isFinal = (status) => status >= 400 && status < 500 && status !== 429;

export function subscribe(url, options = {}) {
  const opt = { ...DEFAULTS, ...options };
  const base = new URL(url, globalThis.location ? location.href : undefined);
  const auto = opt.transport === 'auto';
  if (!auto && !ORDER.includes(opt.transport)) throw new Error(`unknown transport ${opt.transport}`);

  // Transports this browser has at all; auto starts at the best of them.
  const available = ORDER.filter(
    (t) => (t !== 'websocket' || typeof WebSocket === 'function') && (t !== 'sse' || typeof EventSource === 'function'),
  );

  const stats = { requests: 0, bytes: 0, messages: 0 };
  let cursor = opt.since ?? null;
  // auto walks down this list; a forced transport is a list of one.
  const levels = auto ? available : [opt.transport];
  let level = 0;
  let conn = null; // the connection in use: { live, stop }
  let failures = 0; // consecutive failures of the current transport
  let drops = 0; // streams of the current transport that opened and then broke soon after
  let retryTimer = 0;
  let upgradeTimer = 0;
  let closed = false;
  let upgrading = false; // the current attempt is a try at a better transport
  let token = null; // from getToken, until herald says it expired
  let lastExpiry = 0; // when herald last said so (a fresh token that is already expired backs off)

  const current = () => levels[level];
  const status = (state, extra = {}) =>
    safely(opt.onStatus, { state, transport: current(), attempt: failures + 1, ...extra });

  // ---- delivery: only through the live connection ------------------------------------------
  function deliver(c, env) {
    if (!c.live || closed || !env || typeof env.id !== 'string') return;
    cursor = env.id;
    stats.messages++;
    safely(opt.onMessage, env);
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
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
    if (token) u.searchParams.set('token', token);
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

  function connect() {
    if (closed) return;
    stopConn();
    const c = { live: true, stop() {} };
    conn = c;
    if (opt.getToken && !token) {
      // Asked once per token; the connection goes on when it answers (and not if it was given up meanwhile).
      Promise.resolve()
        .then(() => opt.getToken())
        .then(
          (t) => {
            if (!c.live || closed) return;
            token = typeof t === 'string' && t ? t : null;
            if (!token) return finish('getToken gave no token');
            conn = null;
            connect();
          },
          () => retry(c),
        );
      return;
    }
    status('connecting', upgrading ? { upgrading: true } : {});
    const start = { websocket: openWebSocket, sse: openSSE, longpoll: openPoll, poll: openPoll }[current()];
    const streaming = start === openWebSocket || start === openSSE;
    if (!streaming || cursor || opt.last !== undefined) return start(c);
    // A stream started "from now" that broke before its first message would reconnect "from now"
    // again and miss what came in between. One poll first pins "now" to a cursor (Herald-Cursor),
    // and shows a refusal (401 …) that a WebSocket or EventSource would hide.
    probe(c).then((p) => {
      if (p.outcome === 'reachable') start(c);
      else if (p.outcome === 'unreachable') retry(c, p);
    });
  }

  // The connection works (a stream opened, or a poll was answered).
  function opened(c) {
    if (!c.live) return;
    failures = 0;
    c.openedAt = Date.now();
    if (upgrading) {
      upgrading = false;
      status('upgraded');
    }
    status('open');
  }

  // Give up for good and say why (`refusal`: the server's {status, code, message}, when it refused).
  function finish(reason, refusal = {}) {
    if (closed) return;
    stopConn();
    clearTimeout(upgradeTimer);
    if (typeof removeEventListener === 'function') removeEventListener('online', onOnline);
    closed = true;
    status('closed', { reason, ...refusal });
  }

  // herald says the token expired: ask for a fresh one and reconnect from the cursor at once (after a
  // backoff when the last fresh one was refused as expired too).
  function expired(c) {
    if (!c.live || closed) return;
    token = null;
    const again = Date.now() - lastExpiry < 2000;
    lastExpiry = Date.now();
    if (again) return retry(c);
    c.live = false;
    c.stop();
    connect();
  }

  // herald ended the subscription on purpose (`ending`: {code, message, reconnect}).
  function ended(c, ending) {
    if (!c.live || closed) return;
    if (ending.code === 'token_expired' && opt.getToken) return expired(c);
    if (ending.reconnect === false) return finish(`${ending.code} — ${ending.message || ''}`, { code: ending.code });
    retry(c);
  }

  // Reconnect the same transport after a backoff delay (1 s, 2 s, 4 s … with jitter).
  function retry(c, { delayMs } = {}) {
    if (!c.live || closed) return;
    failures++;
    const exp = Math.min(opt.maxBackoffMs, opt.backoffMs * 2 ** (failures - 1));
    const wait = delayMs ?? exp * (0.5 + Math.random() / 2);
    c.live = false;
    c.stop();
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
  // Returns {outcome: 'gone' | 'unreachable' | 'reachable', delayMs (from a 429's Retry-After)}.
  async function probe(c) {
    const r = await pollOnce(c, requestUrl(), 10000);
    if (!c.live) return { outcome: 'gone' };
    if (r.kind === 'expired') {
      expired(c);
      return { outcome: 'gone' };
    }
    if (r.kind === 'final') {
      finish(r.reason, r.refusal);
      return { outcome: 'gone' };
    }
    if (r.kind === 'network' || r.kind === 'later') return { outcome: 'unreachable', delayMs: r.retryAfterMs };
    return { outcome: 'reachable' };
  }

  // A stream failed. Before it opened: ask why (probe), then downgrade (auto) or retry. After it had
  // opened: reconnect, downgrading only when it keeps failing.
  async function streamFailed(c, wasOpen, why) {
    if (!c.live || closed) return;
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
      const res = await fetch(u, { credentials: 'same-origin', cache: 'no-store', signal: ctrl.signal });
      const buf = await res.arrayBuffer();
      stats.bytes += buf.byteLength;
      if (!c.live) return { kind: 'network' };
      const text = new TextDecoder().decode(buf);
      if (res.status === 200 || res.status === 204) {
        const body = res.status === 200 && text ? JSON.parse(text) : null;
        if (body && body.gap) gap(c, { channel: body.channel, cursor: null });
        for (const env of (body && body.messages) || []) deliver(c, env);
        const next = res.headers.get('Herald-Cursor') || (body && body.cursor);
        if (c.live && next) cursor = next;
        return { kind: 'ok', more: Boolean(body && body.more) };
      }
      if (res.status === 401 && opt.getToken && refusalOf(res.status, text).code === 'token_expired') {
        return { kind: 'expired' };
      }
      if (isFinal(res.status)) {
        return { kind: 'final', reason: describeError(res.status, text), refusal: refusalOf(res.status, text) };
      }
      const ra = Number(res.headers.get('Retry-After'));
      return { kind: 'later', retryAfterMs: res.status === 429 && ra > 0 ? ra * 1000 : undefined };
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
        if (r.kind === 'expired') return expired(c);
        if (r.kind === 'final') return finish(r.reason, r.refusal);
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

  // ---- WebSocket -----------------------------------------------------------------------------
  function openWebSocket(c) {
    const u = requestUrl();
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    stats.requests++;
    try {
      ws = new WebSocket(u.href);
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
      // herald's own endings (docs/api.md): 4001 token expired, 4003 disconnected, 4004 unsubscribed.
      if (e.code === 4001) return ended(c, { code: 'token_expired', reconnect: true });
      if (e.code === 4003 || e.code === 4004) {
        return ended(c, { code: e.reason || (e.code === 4003 ? 'disconnected' : 'unsubscribed'), reconnect: false });
      }
      // 1008 slow consumer, 1001 going away, 1006 dropped: all resume from the cursor.
      streamFailed(c, wasOpen, `websocket closed (${e.code})`);
    };
  }

  // ---- Server-Sent Events --------------------------------------------------------------------
  // format=envelope: every event is unnamed and carries the whole envelope (or a gap), so one
  // `message` listener hears everything. We reconnect ourselves from our own cursor rather than let
  // EventSource retry with its Last-Event-ID, so the cursor stays the one source of truth.
  function openSSE(c) {
    const u = requestUrl({ format: 'envelope' });
    stats.requests++;
    const es = new EventSource(u.href);
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
      let env;
      try {
        env = JSON.parse(e.data);
      } catch {
        return;
      }
      if (env && env.gap === true) gap(c, { channel: env.channel, cursor: env.cursor || e.lastEventId });
      else if (env && env.close) {
        es.close();
        ended(c, env.close);
      } else deliver(c, env);
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
  const pending = new Map(); // ref -> {resolve, reject, timer}: publishes sent over the socket
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

  function channelOfUrl() {
    if (!base.pathname.startsWith('/sub/')) throw new Error('publish() needs a /sub/{channel} subscription');
    return decodeURIComponent(base.pathname.slice(5));
  }

  async function publish(data, { event, timeoutMs = 10000 } = {}) {
    const channel = channelOfUrl();
    const ws = conn && conn.live ? conn.ws : null;
    if (ws && ws.readyState === 1) {
      const ref = nextRef++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(ref);
          reject(Object.assign(new Error('no answer to the publish'), { code: 'timeout' }));
        }, timeoutMs);
        pending.set(ref, { resolve, reject, timer });
        ws.send(JSON.stringify({ op: 'publish', channel, data, ...(event ? { event } : {}), ref }));
      });
    }
    const u = new URL(`/pub/${encodeURIComponent(channel)}`, base);
    if (event) u.searchParams.set('event', event);
    const text = typeof data === 'string';
    const res = await fetch(u, {
      method: 'POST',
      headers: { 'Content-Type': text ? 'text/plain; charset=utf-8' : 'application/json' },
      body: text ? data : JSON.stringify(data),
    });
    const body = await res.text();
    if (!res.ok) {
      const refusal = refusalOf(res.status, body);
      throw Object.assign(new Error(describeError(res.status, body)), {
        code: refusal.code || `http_${res.status}`,
        status: res.status,
        detail: refusal.message,
      });
    }
    return { id: JSON.parse(body).id, via: 'post' };
  }

  // ---- start -----------------------------------------------------------------------------------
  // Back online: reconnect now rather than waiting out a backoff that grew while offline.
  const onOnline = () => {
    if (!closed && conn && !conn.live) connect();
  };
  if (typeof addEventListener === 'function') addEventListener('online', onOnline);
  connect();

  return {
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
    close() {
      failPending('closed');
      finish('closed');
    },
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
