// Helpers for the cross-device login tests (docs/login.md): a cookie-keeping HTTP client that behaves
// like a browser (Origin on state-changing calls, the CSRF header once GET /me gave one, cookies sent
// only under their Path), and a listener for /login/events on any of the four transports that turns
// what it hears into {event, data} items in a Collector.

import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { Collector, openSSE, openWS, request, send } from './herald.mjs';

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const TRANSPORTS = ['interval', 'longpoll', 'sse', 'websocket'];
export const INVALID_CODE = { error: 'invalid_code', message: 'This code is not valid or has expired.' };
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
export const FOREIGN_ORIGIN = 'http://evil.example';
/** A key that may approve logins server-to-server: a [[publish_keys]] entry for "_login" (no address is trusted). */
export const LOGIN_KEY = 'login-approval-key';
export const LOGIN_KEY_CONFIG = `[[publish_keys]]\nkey = "${LOGIN_KEY}"\nnamespaces = ["_login"]\n`;
export const ALICE = { name: 'alice', password: 'correct horse battery' };
// Tests talk from 127.0.0.1: a server's per-IP login limits are raised out of the way (the limits
// themselves are tested on servers of their own).
export const NO_LIMITS = [
  'starts_per_minute = 1000',
  'code_attempts_per_minute = 1000',
  'prompts_per_minute = 1000',
  'signins_per_minute = 1000',
].join('\n');

// ---------------------------------------------------------------------------------------------
// Cookies

/** One Set-Cookie line → {name, value, attrs (lower-cased keys; flags are true), line}. */
export function parseSetCookie(line) {
  const [pair, ...rest] = line.split(';');
  const eq = pair.indexOf('=');
  const name = (eq < 0 ? pair : pair.slice(0, eq)).trim();
  const value = eq < 0 ? '' : pair.slice(eq + 1).trim();
  const attrs = {};
  for (const part of rest) {
    const i = part.indexOf('=');
    const key = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
    if (key) attrs[key] = i < 0 ? true : part.slice(i + 1).trim();
  }
  return { name, value, attrs, line };
}

/** True when a Set-Cookie deletes its cookie (empty value, Max-Age <= 0, or Expires in the past). */
export function clearsCookie(c) {
  if (c.value === '' || c.value === '""') return true;
  if (c.attrs['max-age'] !== undefined && Number(c.attrs['max-age']) <= 0) return true;
  if (typeof c.attrs.expires === 'string' && Date.parse(c.attrs.expires) <= Date.now()) return true;
  return false;
}

/** A random string for secrets nobody was given. */
export function madeUpSecret() {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
}

/** A well-formed user code that (almost surely) belongs to no request. */
export function madeUpUserCode() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  const s = [...bytes].map((b) => USER_CODE_ALPHABET[b % USER_CODE_ALPHABET.length]).join('');
  return `${s.slice(0, 4)}-${s.slice(4)}`;
}

// ---------------------------------------------------------------------------------------------
// A browser-like client

export class Client {
  /**
   * `base`: the server URL. `origin`: the Origin sent on non-GET requests (the server's own by
   * default, as a browser on the server's pages would send; null sends none).
   */
  constructor(base, { origin = base, name = 'client' } = {}) {
    this.base = base;
    this.origin = origin;
    this.name = name;
    this.jar = new Map(); // name -> {value, path}
    this.csrf = undefined;
  }

  /** Plant a cookie as if the browser already had it. */
  setCookie(name, value, path = '/') {
    this.jar.set(name, { value, path });
  }

  cookie(name) {
    return this.jar.get(name)?.value;
  }

  /** The Cookie header a browser would send for `path` (undefined when none applies). */
  cookieHeader(path = '/') {
    const pathname = new URL(path, this.base).pathname;
    const parts = [];
    for (const [name, { value, path: p }] of this.jar) {
      const prefix = p.endsWith('/') ? p : `${p}/`;
      if (pathname === p || pathname.startsWith(prefix) || p === '/') parts.push(`${name}=${value}`);
    }
    return parts.length ? parts.join('; ') : undefined;
  }

  /**
   * A request. Options: json (object or raw string), form (object → urlencoded), headers, origin
   * (overrides this.origin; null for none), csrf (false: do not send; a string: send that),
   * cookies (false: send none), signal.
   * Returns {status, headers, text, json, setCookies: [parsed], setCookie(name)}.
   */
  async req(method, path, { json, form, headers = {}, origin, csrf, cookies = true, signal } = {}) {
    const h = {};
    const cookie = cookies ? this.cookieHeader(path) : undefined;
    if (cookie) h.Cookie = cookie;
    if (method !== 'GET' && method !== 'HEAD') {
      const o = origin === undefined ? this.origin : origin;
      if (o) h.Origin = o;
      const token = csrf === undefined ? this.csrf : csrf;
      if (token) h['X-Herald-CSRF'] = token;
    }
    let body;
    if (json !== undefined) {
      body = typeof json === 'string' ? json : JSON.stringify(json);
      h['Content-Type'] = 'application/json';
    } else if (form !== undefined) {
      body = new URLSearchParams(form).toString();
      h['Content-Type'] = 'application/x-www-form-urlencoded';
    }
    Object.assign(h, headers);
    const res = await fetch(new URL(path, this.base), { method, headers: h, body, redirect: 'manual', signal });
    const text = await res.text();
    let parsed;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const setCookies = res.headers.getSetCookie().map(parseSetCookie);
    for (const c of setCookies) {
      if (clearsCookie(c)) this.jar.delete(c.name);
      else this.jar.set(c.name, { value: c.value, path: typeof c.attrs.path === 'string' ? c.attrs.path : '/' });
    }
    return {
      status: res.status,
      headers: res.headers,
      text,
      json: parsed,
      setCookies,
      setCookie: (name) => setCookies.find((c) => c.name === name),
    };
  }

  get(path, opts) {
    return this.req('GET', path, opts);
  }

  post(path, json, opts = {}) {
    return this.req('POST', path, { json, ...opts });
  }
}

/** Describe a response for an assertion message. */
export function show(r) {
  return `${r.status} ${r.text}`.slice(0, 600);
}

// ---------------------------------------------------------------------------------------------
// Steps of the flow

/** Sign `client` in (POST /signin) and fetch its CSRF token (GET /me). Throws unless both succeed. */
export async function signIn(client, name, password) {
  const r = await client.post('/signin', { name, password });
  if (r.status !== 200) throw new Error(`POST /signin as ${name} answered ${show(r)}`);
  const me = await client.get('/me');
  if (me.status !== 200 || typeof me.json?.csrf !== 'string') throw new Error(`GET /me answered ${show(me)}`);
  client.csrf = me.json.csrf;
  return { signin: r, me };
}

/** A signed-in "phone" for `name`. */
export async function phoneFor(base, name, password) {
  const phone = new Client(base, { name: `phone of ${name}` });
  await signIn(phone, name, password);
  return phone;
}

/** A new screen: POST /login/start. Returns {screen, res, start (the JSON), qr (the QR secret)}. */
export async function startScreen(base, opts = {}) {
  const screen = new Client(base, { name: 'screen', ...opts });
  const res = await screen.post('/login/start', undefined);
  if (res.status !== 201) throw new Error(`POST /login/start answered ${show(res)}`);
  return { screen, res, start: res.json, qr: qrSecret(res.json.qr_url) };
}

/** The QR secret in a qr_url (`…/login/approve?c=<secret>`). */
export function qrSecret(qrUrl) {
  const c = new URL(qrUrl).searchParams.get('c');
  if (!c) throw new Error(`no c= in qr_url ${qrUrl}`);
  return c;
}

/** Phone scans and approves with the right number. Returns {scan, decide}. */
export async function scanAndApprove(phone, qr, matchNumber) {
  const scan = await phone.post('/login/scan', { c: qr });
  if (scan.status !== 200) throw new Error(`POST /login/scan answered ${show(scan)}`);
  const decide = await phone.post('/login/decide', { id: scan.json.id, decision: 'approve', number: matchNumber });
  if (decide.status !== 200) throw new Error(`POST /login/decide answered ${show(decide)}`);
  return { scan, decide };
}

/**
 * POST JSON to `path` from `localAddress`, as a client at another address would: 127.0.0.2, 127.0.0.3 …
 * are all loopback on Linux, and herald sees each as its own client address. Sends the server's own
 * Origin, as its pages would. Returns {status, headers (a Headers), text, json}.
 */
export function postFrom(base, localAddress, path, json) {
  return send(new URL(path, base), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: base },
    body: JSON.stringify(json),
    localAddress,
  });
}

/** POST a form (as an OAuth client does: no cookies, no Origin). */
export async function postForm(url, form, headers = {}) {
  const body = form instanceof URLSearchParams ? form : new URLSearchParams(form);
  return request(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: body.toString(),
  });
}

// ---------------------------------------------------------------------------------------------
// Listening on /login/events

/**
 * Listen on `${base}/login/events` over `transport` (interval | longpoll | sse | websocket), authorised
 * by `headers` (a Cookie or an Authorization header). The listener first takes the channel's cursor with
 * one interval poll and resumes after it, so nothing that happens after listen() resolves can be missed
 * whatever the transport's own start-up time.
 * Returns {events: Collector<{event, data, id}>, raw: string[] (every byte of payload heard),
 *  next(event, opts) (the first item with that event name), close()}.
 */
export async function listen(base, transport, headers, { origin = base, pollEveryMs = 100 } = {}) {
  const events = new Collector(`/login/events over ${transport}`);
  const raw = [];
  const ac = new AbortController();
  let closed = false;
  const pushEnvelope = (m) => events.push({ event: m.event, data: m.data, id: m.id });

  const first = await request(`${base}/login/events`, { headers });
  raw.push(first.text);
  if (first.status !== 200 && first.status !== 204) {
    throw new Error(`GET /login/events (${transport}) answered ${first.status}: ${first.text}`);
  }
  let cursor = first.json?.cursor ?? first.headers.get('herald-cursor');
  if (!cursor) throw new Error(`GET /login/events gave no cursor (${first.status}, ${first.text})`);
  for (const m of first.json?.messages ?? []) pushEnvelope(m);

  let close;
  if (transport === 'interval' || transport === 'longpoll') {
    (async () => {
      while (!closed) {
        const q = new URLSearchParams({ since: cursor });
        if (transport === 'longpoll') q.set('wait', '20');
        let r;
        try {
          r = await request(`${base}/login/events?${q}`, { headers, signal: ac.signal });
        } catch (err) {
          if (!closed) events.end(`request failed: ${err}`);
          return;
        }
        raw.push(r.text);
        if (r.status === 200) {
          for (const m of r.json.messages) pushEnvelope(m);
          cursor = r.json.cursor;
        } else if (r.status === 204) {
          cursor = r.headers.get('herald-cursor') ?? cursor;
        } else {
          events.end(`poll answered ${r.status}: ${r.text}`);
          return;
        }
        // The interval poll's cadence (the transport itself), not a synchronisation sleep.
        if (transport === 'interval') await delay(pollEveryMs);
      }
    })();
    close = () => {
      closed = true;
      ac.abort();
      events.end('closed');
    };
  } else if (transport === 'sse') {
    const sse = openSSE(`${base}/login/events?since=${encodeURIComponent(cursor)}`, { headers });
    let copied = 0;
    const pump = () => {
      for (; copied < sse.events.items.length; copied++) {
        const e = sse.events.items[copied];
        raw.push(e.data);
        let data;
        try {
          data = JSON.parse(e.data);
        } catch {
          data = e.data;
        }
        events.push({ event: e.event, data, id: e.id });
      }
      if (sse.events.endReason !== null) events.end(sse.events.endReason);
    };
    sse.events.waiters.add(pump); // called on every push and at the end
    const res = await sse.response;
    if (res.status !== 200) throw new Error(`SSE /login/events answered ${res.status}: ${res.text}`);
    close = () => {
      closed = true;
      sse.close();
    };
  } else if (transport === 'websocket') {
    const wsBase = base.replace(/^http/, 'ws');
    const ws = openWS(`${wsBase}/login/events?since=${encodeURIComponent(cursor)}`, {
      headers: { ...headers, ...(origin ? { Origin: origin } : {}) },
    });
    ws.ws.on('message', (data) => raw.push(data.toString()));
    let copied = 0;
    const pump = () => {
      for (; copied < ws.frames.items.length; copied++) pushEnvelope(ws.frames.items[copied]);
      if (ws.frames.endReason !== null) events.end(ws.frames.endReason);
    };
    ws.frames.waiters.add(pump);
    await ws.opened;
    close = () => {
      closed = true;
      ws.terminate();
    };
  } else {
    throw new Error(`unknown transport ${transport}`);
  }

  return {
    events,
    raw,
    next: (event, opts = {}) => events.waitForItem((e) => e.event === event, { what: `event ${event}`, ...opts }),
    close,
  };
}

/** Listen as the screen `client` (its herald_login cookie). */
export function listenAsScreen(client, transport, opts) {
  const cookie = client.cookieHeader('/login/events');
  return listen(client.base, transport, cookie ? { Cookie: cookie } : {}, opts);
}

// Assertions and clients the login test files share.

export const BOB = { name: 'bob', password: 'hunter2 but longer' };
export const USER_CODE_RE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

export function assertError(r, status, error, what = '') {
  assert.equal(r.status, status, `${what} expected ${status} ${error}, got ${show(r)}`);
  assert.equal(r.json?.error, error, `${what} body: ${r.text}`);
}

/** The documented fields of an error body (every error may also carry a human `message`). */
export function assertJsonHas(r, expected) {
  for (const [k, v] of Object.entries(expected)) {
    assert.deepEqual(r.json?.[k], v, `${k} in ${r.status} ${r.text}`);
  }
  for (const k of Object.keys(r.json ?? {})) {
    assert.ok(k in expected || k === 'message', `unexpected field ${k} in ${r.text}`);
  }
}

/**
 * A 429 with Retry-After, naming the `limit` (its setting) and saying in a sentence what was limited
 * (`says`) and when to retry.
 */
export function assertRetryAfter(r, what, limit, says) {
  assert.equal(r.status, 429, `${what}: expected 429, got ${show(r)}`);
  const ra = r.headers.get('retry-after');
  assert.match(ra ?? '', /^\d+$/, `${what}: Retry-After is whole seconds (got ${ra})`);
  assert.ok(Number(ra) >= 1 && Number(ra) <= 60, `${what}: Retry-After ${ra} within a minute`);
  assert.equal(r.json?.error, 'rate_limited', `${what}: a JSON error body (got ${r.text})`);
  assert.equal(r.json?.limit, limit, `${what}: names its limit (got ${r.text})`);
  assert.match(r.json?.message ?? '', says, `${what}: says what was limited (got ${r.text})`);
  assert.match(r.json.message, new RegExp(`Try again in ${ra} seconds?\\.$`), `${what}: says when to retry`);
}

/** A client that holds only `herald_session=<token>`. */
export function sessionClient(url, token) {
  const c = new Client(url);
  c.setCookie('herald_session', token, '/');
  return c;
}

/** A client that holds only `herald_login=<value>` (a copy of a screen's cookie). */
export function loginCookieClient(url, value) {
  const c = new Client(url);
  c.setCookie('herald_login', value, '/login');
  return c;
}
