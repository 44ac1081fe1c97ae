// Plain HTTP against a herald: publishing, polling, channel info, requests with a chosen Host or local
// address (send), and the waits every test uses (eventually, waitForSubscribers, within).

import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';

export const DEFAULT_WAIT_MS = 5000;


let counter = 0;
/** A channel name no other test uses. */
export function uniq(prefix = 'ch') {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

/** Put a channel name in a URL path; characters outside the channel set are percent-encoded. */
export function chanPath(channel) {
  return channel.replace(/[^A-Za-z0-9_\-.:@$]/g, (c) => encodeURIComponent(c));
}

/** fetch + read the body; `json` is the parsed body when it parses. */
export async function request(url, { method = 'GET', headers = {}, body, signal } = {}) {
  const res = await fetch(url, { method, headers, body, signal });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json, body: json ?? text };
}

/**
 * One HTTP request with full control of its headers (Host included, which fetch will not set) and of the
 * local address it comes from (127.0.0.2, 127.0.0.3, …: other clients on the loopback network, each its
 * own client address to herald). Resolves as `request` does: {status, headers (a Headers), text, json, body}.
 */
export function send(url, { method = 'GET', headers = {}, body, localAddress } = {}) {
  const length = body === undefined ? {} : { 'Content-Length': Buffer.byteLength(body) };
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...length, ...headers }, localAddress, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => {
        let json;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        const fields = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) fields.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        resolve({ status: res.statusCode, headers: fields, text, json, body: json ?? text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * POST /pub/{channel}. `json: true` sends Content-Type application/json (an object body is
 * stringified; a string/Buffer body is sent as is, so malformed JSON can be sent too).
 * Returns {status, body, headers, text}.
 */
export async function publish(url, channel, body, { json = false, event, headers = {}, contentType } = {}) {
  let payload = body;
  if (json && typeof body !== 'string' && !(body instanceof Uint8Array)) payload = JSON.stringify(body);
  const qs = event !== undefined ? `?event=${encodeURIComponent(event)}` : '';
  return request(`${url}/pub/${chanPath(channel)}${qs}`, {
    method: 'POST',
    headers: { 'Content-Type': contentType ?? (json ? 'application/json' : 'text/plain; charset=utf-8'), ...headers },
    body: payload,
  });
}

/** Publish each payload in turn as JSON (a string becomes a JSON string), asserting 201; returns the ids. */
export async function publishMany(url, channel, payloads, opts = {}) {
  const ids = [];
  for (const p of payloads) {
    const r = await publish(url, channel, JSON.stringify(p), { json: true, ...opts });
    if (r.status !== 201) throw new Error(`publish to ${channel} answered ${r.status}: ${r.text}`);
    ids.push(r.body.id);
  }
  return ids;
}

/**
 * GET /sub/{channel} as a poll. Options: since, last, wait, headers, signal, query (extra raw query).
 * Returns {status, cursor (Herald-Cursor header), body, headers, ms (time to answer)}.
 */
export async function poll(url, channel, { since, last, wait, headers = {}, signal, query } = {}) {
  const q = new URLSearchParams();
  if (since !== undefined) q.set('since', since);
  if (last !== undefined) q.set('last', String(last));
  if (wait !== undefined) q.set('wait', String(wait));
  let qs = q.toString();
  if (query) qs = qs ? `${qs}&${query}` : query;
  const t0 = Date.now();
  const r = await request(`${url}/sub/${chanPath(channel)}${qs ? `?${qs}` : ''}`, { headers, signal });
  return { ...r, cursor: r.headers.get('herald-cursor'), ms: Date.now() - t0 };
}

/** GET /channels/{channel} → parsed JSON (throws unless 200). */
export async function channelInfo(url, channel) {
  const r = await request(`${url}/channels/${chanPath(channel)}`);
  if (r.status !== 200) throw new Error(`GET /channels/${channel} answered ${r.status}: ${r.text}`);
  return r.json;
}

/**
 * Re-evaluate `check` (async, returns a truthy value when satisfied) until it holds; this is how
 * tests wait for server-side state they cannot be told about by an event.
 */
export async function eventually(check, { timeoutMs = DEFAULT_WAIT_MS, what = 'condition', everyMs = 10 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(everyMs); // polling cadence for a readiness signal, not a synchronisation sleep
  }
}

/**
 * Wait until GET /channels/{channel} shows the given subscriber counts, e.g. {longpoll: 1}.
 * Returns the last channel info.
 */
export async function waitForSubscribers(url, channel, expected, { timeoutMs = DEFAULT_WAIT_MS } = {}) {
  let info;
  try {
    return await eventually(
      async () => {
        info = await channelInfo(url, channel);
        return Object.entries(expected).every(([k, v]) => info.subscribers?.[k] === v) && info;
      },
      { timeoutMs, what: `subscribers of ${channel} to be ${JSON.stringify(expected)}` },
    );
  } catch (err) {
    err.message += `; last seen ${JSON.stringify(info?.subscribers)}`;
    throw err;
  }
}

/** Reject with "`what` did not happen within `ms`" unless `promise` settles first. */
export function within(promise, ms, what) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}
