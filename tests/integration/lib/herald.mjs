// Helpers for the herald integration tests: start the real binary on a free loopback port, publish,
// and subscribe with real clients (fetch, the `eventsource` package, the `ws` package).
//
// Synchronisation is event-driven: every wait resolves on something observed (a frame, an event, a
// response, a subscriber count in GET /channels/{ch}); timeouts exist only to turn a hang into a
// readable failure.

import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../../..');
export const heraldBin = path.resolve(process.env.HERALD_BIN ?? path.join(repoRoot, 'build/herald'));
export const webRoot = path.resolve(process.env.HERALD_WEB_ROOT ?? path.join(repoRoot, 'web'));

const DEFAULT_WAIT_MS = 5000;

// ---------------------------------------------------------------------------------------------
// Process

const live = new Set();
// Clients opened through this module, so that stopping a herald also closes what a failed test left
// open (an EventSource would otherwise retry forever and keep the test process alive).
const openClients = new Set();
function track(url, close) {
  const entry = { url, close };
  openClients.add(entry);
  return () => openClients.delete(entry);
}
/** Close every client still open against `port` (all ports when omitted). */
export function closeClients(port) {
  for (const c of [...openClients]) {
    if (port === undefined || new URL(c.url).port === String(port)) {
      openClients.delete(c);
      c.close();
    }
  }
}
// A crashed test must not leave herald processes behind.
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/**
 * Start `herald serve --listen 127.0.0.1:0 --config <tmp>` (or `port`) and wait for its "listening on" line.
 * `config` is TOML appended after `web_root` (so it may open tables but must not set web_root).
 * The login database lives in the run's own temporary directory; `login` is TOML added to the
 * `[login]` table (so `config` must not open `[login]` itself), and `users` ([{name, password}]) are
 * created with `herald users add` before the server starts. `root` replaces the web root (web/).
 * In the Redis pass each herald gets key prefix of its own in Redis (from its directory, so a restart in
 * the same `dir` finds its accounts and sessions again) unless `redisPrefix` names one: nodes of one
 * deployment share theirs (startBalanced).
 */
export async function startHerald({
  config = '',
  login = '',
  users = [],
  args = [],
  readyTimeoutMs = 10000,
  dir: keepDir,
  redisPrefix,
  waitForBroker: waitForBrokerToo = true, // on Redis: resolve once it is connected
  root = webRoot,
  port: listenPort = 0, // a fixed port: a restarted herald comes back where its clients knew it
} = {}) {
  if (!existsSync(heraldBin)) {
    throw new Error(`herald binary not found at ${heraldBin} (build it, or set HERALD_BIN)`);
  }
  // A caller-given directory outlives the process (a restart test reopens the same database).
  const dir = keepDir ?? (await mkdtemp(path.join(tmpdir(), 'herald-it-')));
  const configFile = path.join(dir, 'herald.toml');
  // A JSON string literal is a valid TOML basic string for any path.
  const database = path.join(dir, 'herald.db');
  let broker = '';
  let redisTable = '';
  // HERALD_TEST_BROKER=redis runs the same tests with every herald on one Redis of this test process,
  // HERALD_TEST_BROKER=redis-cluster on one Redis Cluster of it (unless the test chose its broker itself).
  if (onRedisPass() && !/^broker\s*=/m.test(config)) {
    const redis = await sharedRedis();
    broker = 'broker = "redis"\n';
    const where = redis.seeds ? `cluster = ${JSON.stringify(redis.seeds)}\n` : `url = "${redis.url}"\n`;
    redisTable = `[redis]\n${where}key_prefix = "${redisPrefix ?? `${path.basename(dir)}:`}"\n`;
  }
  // Tests publish from loopback without a key unless they say otherwise (the setting is off by default).
  const trust = /^(loopback_publish|publish_key)\s*=/m.test(config) ? '' : 'loopback_publish = true\n';
  await writeFile(
    configFile,
    `web_root = ${JSON.stringify(root)}\n${broker}${trust}${config}\n` +
      `[login]\ndatabase = ${JSON.stringify(database)}\n${login}\n${redisTable}`,
  );
  for (const { name, password } of users) {
    execFileSync(heraldBin, ['users', 'add', name, '--password', password, '--config', configFile], { stdio: 'pipe' });
  }

  const proc = spawn(heraldBin, ['serve', '--listen', `127.0.0.1:${listenPort}`, '--config', configFile, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);

  const logLines = [];
  let scheme = 'http'; // https when the config has [tls]
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      if (!keepDir) rm(dir, { recursive: true, force: true }).catch(() => {});
      resolve({ code, signal, at: Date.now() });
    });
  });

  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`herald did not print "listening on" within ${readyTimeoutMs} ms\n${logLines.join('\n')}`));
    }, readyTimeoutMs);
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`herald exited (code ${code}, signal ${signal}) before listening\n${logLines.join('\n')}`));
    });
    // Both streams are drained for the whole life of the process, or a chatty herald would block
    // on a full pipe.
    for (const stream of [proc.stdout, proc.stderr]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        if (process.env.HERALD_LOG) process.stderr.write(chunk);
        const lines = (partial + chunk).split('\n');
        partial = lines.pop();
        for (const line of lines) {
          logLines.push(line);
          if (logLines.length > 500) logLines.shift();
          const m = /listening on (https?):\/\/127\.0\.0\.1:(\d+)/.exec(line);
          if (m) {
            clearTimeout(timer);
            scheme = m[1];
            resolve(Number(m[2]));
          }
        }
      });
    }
  });

  const port = await ready;
  const url = `${scheme}://127.0.0.1:${port}`;
  const onRedis = broker !== '' || /^broker\s*=\s*"redis"/m.test(config);
  if (onRedis && waitForBrokerToo) {
    try {
      await waitForBroker(url);
    } catch (err) {
      proc.kill('SIGKILL'); // a herald left running would keep the test process alive: fail, don't hang
      throw err;
    }
  }
  return {
    url,
    wsUrl: `${scheme === 'https' ? 'wss' : 'ws'}://127.0.0.1:${port}`,
    port,
    proc,
    exited,
    dir,
    configFile,
    database,
    logs: () => logLines.join('\n'),
    /** Send `signal` (SIGTERM) and await exit; SIGKILL after `killAfterMs` so a hang cannot wedge the suite. */
    async stop({ signal = 'SIGTERM', killAfterMs = 10000 } = {}) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const guard = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
        const result = await exited;
        clearTimeout(guard);
        closeClients(port);
        return result;
      }
      closeClients(port);
      return exited;
    },
  };
}

/**
 * Wait until a herald on Redis has connected to it: it listens at once, but answers 503
 * broker_unavailable until then.
 */
export async function waitForBroker(url, { timeoutMs = 10000 } = {}) {
  await eventually(async () => (await request(`${url}/channels/herald-ready`)).status === 200, {
    timeoutMs,
    what: `${url} to reach its broker`,
  });
}

/**
 * The herald a test talks to as its clients would. One node; in the Redis pass (HERALD_TEST_BROKER=redis),
 * two nodes on one Redis behind a balancer that sends every request and every WebSocket to a node picked
 * at random (lib/balancer.mjs; the seed is printed): what one node does, two must do the same, with no
 * stickiness. Takes startHerald's options (`users` are added through the first node only: the accounts
 * are Redis's). Returns what startHerald does (url, wsUrl, port, stop(), logs()) plus `nodes` and `balancer`
 * in the Redis pass.
 */
export async function startBalanced(options = {}) {
  if (!onRedisPass() || /^broker\s*=/m.test(options.config ?? '')) {
    return startHerald(options);
  }
  const dirs = options.dir ? [options.dir, path.join(options.dir, 'second-node')] : [undefined, undefined];
  if (dirs[1]) await mkdir(dirs[1], { recursive: true });
  const redisPrefix = `${options.dir ? path.basename(options.dir) : uniq('pair')}:`;
  const { port, ...each } = options; // a fixed port is the balancer's: where the clients reach "the" herald
  const first = await startHerald({ ...each, dir: dirs[0], redisPrefix });
  let second;
  try {
    second = await startHerald({ ...each, users: [], dir: dirs[1], redisPrefix });
  } catch (err) {
    await first.stop();
    throw err;
  }
  const { startBalancer } = await import('./balancer.mjs');
  const balancer = await startBalancer([first, second], { port });
  return {
    url: balancer.url,
    wsUrl: balancer.wsUrl,
    port: balancer.port,
    nodes: [first, second],
    balancer,
    logs: () => `${first.logs()}\n--- second node ---\n${second.logs()}`,
    async stop() {
      await Promise.all([first.stop(), second.stop()]);
      closeClients(balancer.port);
      await balancer.stop();
    },
  };
}

/** The suite runs with herald on Redis: one Redis (HERALD_TEST_BROKER=redis) or a cluster (redis-cluster). */
export function onRedisPass() {
  return ['redis', 'redis-cluster'].includes(process.env.HERALD_TEST_BROKER);
}

let redisOfThisProcess;
function sharedRedis() {
  redisOfThisProcess ??=
    process.env.HERALD_TEST_BROKER === 'redis-cluster'
      ? import('./redis_cluster.mjs').then(({ startRedisCluster }) => startRedisCluster())
      : import('./redis.mjs').then(({ startRedis }) => startRedis());
  return redisOfThisProcess;
}

// ---------------------------------------------------------------------------------------------
// Small utilities

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

// ---------------------------------------------------------------------------------------------
// Collector: an append-only list with promises that resolve when it reaches a state.

export class Collector {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.endReason = null;
    this.waiters = new Set();
  }

  push(item) {
    this.items.push(item);
    for (const w of [...this.waiters]) w();
  }

  end(reason = 'ended') {
    if (this.endReason !== null) return;
    this.endReason = reason;
    for (const w of [...this.waiters]) w();
  }

  /** Resolve with fn(items) once it returns something other than undefined/false. */
  waitUntil(fn, { timeoutMs = DEFAULT_WAIT_MS, what = 'condition' } = {}) {
    return new Promise((resolve, reject) => {
      const describe = () =>
        `${this.name}: ${what} not met; have ${this.items.length} item(s): ` +
        JSON.stringify(this.items.slice(-5)).slice(0, 1200);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter = () => {
        let r;
        try {
          r = fn(this.items);
        } catch (err) {
          finish();
          reject(err);
          return;
        }
        if (r !== undefined && r !== false) {
          finish();
          resolve(r);
        } else if (this.endReason !== null) {
          finish();
          reject(new Error(`${describe()} (stream ended: ${this.endReason})`));
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${describe()} (timeout ${timeoutMs} ms)`));
      }, timeoutMs);
      this.waiters.add(waiter);
      waiter();
    });
  }

  /** Resolve with the first n items once there are n. */
  waitFor(n, opts = {}) {
    return this.waitUntil((items) => (items.length >= n ? items.slice(0, n) : undefined), {
      what: `${n} item(s)`,
      ...opts,
    });
  }

  /** Resolve with the first item at index >= from satisfying pred. */
  waitForItem(pred, { from = 0, ...opts } = {}) {
    return this.waitUntil((items) => items.slice(from).find(pred), { what: 'matching item', ...opts });
  }
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events, read raw with fetch so the wire format and the end of the stream are visible.

/**
 * Open GET {url} with Accept: text/event-stream. Returns
 * {response: Promise<{status, headers, json?}>, events: Collector<{event,id,data,dataLines}>,
 *  comments: Collector<string>, lines: string[], retry, ended: Promise<{clean, error?}>, close()}.
 */
export function openSSE(url, { headers = {} } = {}) {
  const ac = new AbortController();
  const events = new Collector(`sse ${url}`);
  const comments = new Collector(`sse comments ${url}`);
  const sse = { events, comments, lines: [], retry: undefined, closedByUs: false };
  let endResolve;
  sse.ended = new Promise((r) => (endResolve = r));
  const finish = (result) => {
    events.end(result.clean ? 'stream ended' : `stream failed: ${result.error}`);
    comments.end('stream ended');
    endResolve(result);
  };

  let block = { event: undefined, id: undefined, data: [] };
  const onLine = (line) => {
    sse.lines.push(line);
    if (line === '') {
      if (block.data.length > 0 || block.event !== undefined) {
        events.push({ event: block.event ?? 'message', id: block.id, data: block.data.join('\n'), dataLines: block.data });
      }
      block = { event: undefined, id: undefined, data: [] };
      return;
    }
    if (line.startsWith(':')) {
      comments.push(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') block.data.push(value);
    else if (field === 'event') block.event = value;
    else if (field === 'id') block.id = value;
    else if (field === 'retry') sse.retry = Number(value);
  };

  sse.response = fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: ac.signal }).then(
    async (res) => {
      const ctype = res.headers.get('content-type') ?? '';
      if (res.status !== 200 || !ctype.startsWith('text/event-stream')) {
        const text = await res.text().catch(() => '');
        let json;
        try {
          json = JSON.parse(text);
        } catch {}
        finish({ clean: true, status: res.status });
        return { status: res.status, headers: res.headers, text, json };
      }
      (async () => {
        const decoder = new TextDecoder();
        let buf = '';
        try {
          for await (const chunk of res.body) {
            buf += decoder.decode(chunk, { stream: true });
            for (;;) {
              const n = buf.search(/[\r\n]/);
              if (n < 0 || (buf[n] === '\r' && n === buf.length - 1)) break; // maybe a split \r\n
              const skip = buf[n] === '\r' && buf[n + 1] === '\n' ? 2 : 1;
              const line = buf.slice(0, n);
              buf = buf.slice(n + skip);
              onLine(line);
            }
          }
          finish({ clean: true });
        } catch (err) {
          finish({ clean: false, aborted: sse.closedByUs, error: String(err?.cause ?? err) });
        }
      })();
      return { status: res.status, headers: res.headers };
    },
    (err) => {
      finish({ clean: false, aborted: sse.closedByUs, error: String(err?.cause ?? err) });
      throw err;
    },
  );
  sse.response.catch(() => {});
  const untrack = track(url, () => {
    sse.closedByUs = true;
    ac.abort();
  });
  sse.ended.then(untrack);
  sse.close = () => {
    sse.closedByUs = true;
    ac.abort();
    return sse.ended;
  };
  return sse;
}

/**
 * The `eventsource` package (what a Node or browser app would use). `lastEventId` is sent as the
 * Last-Event-ID header on the first request (the package sends its own on reconnects). `types` are
 * named events to collect besides `message`. Collects {type, id, data}.
 */
export function openEventSource(url, { lastEventId, types = [] } = {}) {
  const fetchImpl = (input, init) =>
    fetch(input, {
      ...init,
      headers: {
        ...(lastEventId !== undefined ? { 'Last-Event-ID': lastEventId } : {}),
        ...init.headers, // the package's own Last-Event-ID (on reconnect) wins
      },
    });
  const es = new EventSource(url, { fetch: fetchImpl });
  const events = new Collector(`eventsource ${url}`);
  const errors = new Collector(`eventsource errors ${url}`);
  const onEvent = (ev) => events.push({ type: ev.type, id: ev.lastEventId, data: ev.data });
  es.addEventListener('message', onEvent);
  for (const t of types) es.addEventListener(t, onEvent);
  es.addEventListener('error', (ev) => errors.push({ code: ev.code, message: ev.message, readyState: es.readyState }));
  // Settles on the first `open` or `error`, whichever comes first.
  const opened = new Promise((resolve, reject) => {
    es.addEventListener('open', resolve, { once: true });
    es.addEventListener('error', (e) => reject(new Error(`EventSource failed: ${e.code} ${e.message}`)), { once: true });
  });
  opened.catch(() => {});
  const untrack = track(url, () => es.close());
  return {
    es,
    events,
    errors,
    opened,
    close() {
      untrack();
      es.close();
      events.end('closed');
    },
  };
}

// ---------------------------------------------------------------------------------------------
// WebSocket

/**
 * Open a WebSocket. Frames are parsed as JSON (a frame that is not JSON is kept as {_raw}).
 * Returns {ws, frames: Collector, opened: Promise (rejects with .status/.body on a non-101 answer),
 *  closed: Promise<{code, reason}>, send(obj), request(obj), close(), terminate()}.
 */
export function openWS(url, { headers = {} } = {}) {
  const ws = new WebSocket(url, { headers });
  const frames = new Collector(`ws ${url}`);
  const client = { ws, frames };
  ws.on('error', () => {}); // failures surface through `opened` / `closed`
  client.opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let json;
        try {
          json = JSON.parse(text);
        } catch {}
        req.destroy();
        reject(Object.assign(new Error(`WebSocket upgrade answered ${res.statusCode}: ${text}`), { status: res.statusCode, body: json ?? text }));
      });
    });
  });
  client.opened.catch(() => {});
  const untrack = track(url, () => ws.terminate());
  client.closed = new Promise((resolve) => {
    ws.once('close', (code, reason) => {
      untrack();
      frames.end(`closed with code ${code}`);
      resolve({ code, reason: reason.toString() });
    });
  });
  ws.on('message', (data, isBinary) => {
    const text = data.toString();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      frame = { _raw: text };
    }
    if (isBinary) frame = { _binary: true, ...frame };
    frames.push(frame);
  });
  client.send = (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  let refs = 0;
  /** Send a /ws op with a fresh `ref` and resolve with the reply carrying that ref. */
  client.request = (obj, opts) => {
    const ref = obj.ref ?? `r${++refs}`;
    const from = frames.items.length;
    client.send({ ...obj, ref });
    return frames.waitForItem((f) => f.ref === ref, { from, what: `reply to ${JSON.stringify(obj)}`, ...opts });
  };
  /** The next frame (received after this call) satisfying pred. */
  client.next = (pred = () => true, opts) => frames.waitForItem(pred, { from: frames.items.length, ...opts });
  client.close = (code = 1000) => {
    ws.close(code);
    return client.closed;
  };
  client.terminate = () => {
    ws.terminate();
    return client.closed;
  };
  return client;
}

/** Only the `op: "message"` frames of a /ws client for one channel. */
export function wsMessages(frames, channel) {
  return frames.filter((f) => f.op === 'message' && f.channel === channel);
}
