// GET /metrics (docs/metrics.md): the counters move by exactly what clients did — publishes, deliveries
// on each transport, bytes, long polls answered / timed out / abandoned, interval polls, a slow
// consumer's drop, a login request — the text passes `promtool check metrics`, and who may read it
// follows [metrics]. Also the dashboard feed (/metrics/feed) on a transport of its own.
//
// A counter moves on the server a moment around the bytes a client sees, so every check re-reads
// /metrics until it holds (with a deadline), never sleeps.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import {
  chanPath,
  eventually,
  openSSE,
  openWS,
  poll,
  publish,
  request,
  startHerald,
  uniq,
  waitForSubscribers,
} from './lib/herald.mjs';
import { startScreen, show } from './lib/login.mjs';

// The heartbeat would add bytes to the SSE stream whose bytes are counted exactly.
const CONFIG = '[limits]\nsse_heartbeat_seconds = 600\n';

/** GET /metrics → Map of `name{labels}` → number (and the raw text). */
async function scrape(url, headers = {}) {
  const r = await request(`${url}/metrics`, { headers });
  assert.equal(r.status, 200, `GET /metrics answered ${r.status}: ${r.text}`);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const values = new Map();
  for (const line of r.text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  values.text = r.text;
  return values;
}

/**
 * Re-read /metrics until every `expected` key has moved by exactly its value since `base`; on timeout
 * the failure lists what did move.
 */
async function expectMoved(url, base, expected, what) {
  let last;
  const deltas = () => Object.fromEntries(Object.keys(expected).map((k) => [k, (last.get(k) ?? NaN) - (base.get(k) ?? 0)]));
  try {
    await eventually(
      async () => {
        last = await scrape(url);
        return Object.entries(expected).every(([k, v]) => last.get(k) - (base.get(k) ?? 0) === v);
      },
      { what },
    );
  } catch (err) {
    err.message += `; moved ${JSON.stringify(deltas())}, wanted ${JSON.stringify(expected)}`;
    throw err;
  }
  return last;
}

const sse = (block) => Buffer.byteLength(block);

describe('the counters move by exactly what happened', () => {
  let h;
  before(async () => {
    h = await startHerald({ config: CONFIG });
  });
  after(() => h?.stop());

  it('publishes, deliveries and bytes on each transport, a long poll answered, connections', async () => {
    const channel = uniq('metrics');
    const ws = openWS(`${h.wsUrl}/sub/${chanPath(channel)}`);
    let wsBytes = 0;
    // Frames on the wire: each message's payload and its 2-, 4- or 10-byte header (RFC 6455 §5.2).
    ws.ws.on('message', (data) => (wsBytes += data.length + (data.length < 126 ? 2 : data.length < 65536 ? 4 : 10)));
    await ws.opened;
    const sseBefore = (await scrape(h.url)).get('herald_sent_bytes_total{transport="sse"}');
    const stream = openSSE(`${h.url}/sub/${chanPath(channel)}`);
    assert.equal((await stream.response).status, 200);
    const held = poll(h.url, channel, { wait: 30 });
    await waitForSubscribers(h.url, channel, { websocket: 1, sse: 1, longpoll: 1 });
    // The stream's head goes out in one write with its first (empty) page of history: wait until that
    // write is counted, so that what follows counts only messages.
    await eventually(async () => (await scrape(h.url)).get('herald_sent_bytes_total{transport="sse"}') > sseBefore, {
      what: 'the SSE head to be counted',
    });

    const base = await scrape(h.url);
    assert.equal(base.get('herald_connections{transport="websocket"}'), 1);
    assert.equal(base.get('herald_connections{transport="sse"}'), 1);
    assert.equal(base.get('herald_connections{transport="longpoll"}'), 1);
    assert.equal(base.get('herald_long_polls_held'), 1);
    assert.equal(base.get('herald_subscriptions{transport="sse"}'), 1);
    assert.ok(base.get('herald_channels') >= 1);

    const payloads = ['one', 'two', 'three', 'four', 'five'];
    const ids = [];
    for (const p of payloads) {
      const r = await publish(h.url, channel, p);
      assert.equal(r.status, 201, r.text);
      ids.push(r.body.id);
    }
    const frames = await ws.frames.waitFor(5);
    await stream.events.waitFor(5);
    const answered = await held;
    assert.equal(answered.status, 200);
    assert.equal(answered.body.messages.length, 1); // the long poll took the first message and left

    const sseBytes = ids.reduce((n, id, i) => n + sse(`id: ${id}\ndata: ${payloads[i]}\n\n`), 0);
    assert.equal(frames.length, 5);
    const after = await expectMoved(
      h.url,
      base,
      {
        herald_messages_published_total: 5,
        'herald_messages_delivered_total{transport="websocket"}': 5,
        'herald_messages_delivered_total{transport="sse"}': 5,
        'herald_messages_delivered_total{transport="longpoll"}': 1,
        'herald_long_polls_total{outcome="answered"}': 1,
        'herald_long_polls_total{outcome="timed_out"}': 0,
        'herald_delivery_latency_seconds_count': 11,
        'herald_sent_bytes_total{transport="websocket"}': wsBytes,
        'herald_sent_bytes_total{transport="sse"}': sseBytes,
        'herald_messages_dropped_total{reason="slow_consumer"}': 0,
        'herald_connections{transport="longpoll"}': -1,
      },
      'the counters after 5 publishes',
    );
    assert.ok(after.get('herald_sent_bytes_total{transport="http"}') > base.get('herald_sent_bytes_total{transport="http"}'));
    assert.equal(after.get('herald_delivery_latency_seconds_bucket{le="+Inf"}'), after.get('herald_delivery_latency_seconds_count'));

    ws.ws.close();
    await ws.closed;
    await stream.close();
    await expectMoved(
      h.url,
      base,
      { 'herald_connections{transport="websocket"}': -1, 'herald_connections{transport="sse"}': -1, 'herald_subscriptions{transport="sse"}': -1 },
      'the connections to close',
    );
  });

  it('a long poll that times out, one the client abandons, and an interval poll', async () => {
    const channel = uniq('metrics-poll');
    const base = await scrape(h.url);
    const quiet = await poll(h.url, channel, { wait: 1 }); // the shortest wait: a real timeout
    assert.equal(quiet.status, 204);
    assert.equal((await poll(h.url, channel)).status, 204);
    await expectMoved(
      h.url,
      base,
      { 'herald_long_polls_total{outcome="timed_out"}': 1, herald_interval_polls_total: 1 },
      'a timed-out long poll and an interval poll',
    );

    const ac = new AbortController();
    const gone = poll(h.url, channel, { wait: 30, signal: ac.signal }).catch(() => 'aborted');
    await waitForSubscribers(h.url, channel, { longpoll: 1 });
    ac.abort();
    assert.equal(await gone, 'aborted');
    await expectMoved(
      h.url,
      base,
      { 'herald_long_polls_total{outcome="abandoned"}': 1, 'herald_long_polls_total{outcome="answered"}': 0 },
      'the abandoned long poll',
    );
  });

  it('a login request started and cancelled', async () => {
    const base = await scrape(h.url);
    const { screen } = await startScreen(h.url);
    const cancel = await screen.post('/login/cancel');
    assert.equal(cancel.status, 200, show(cancel));
    await expectMoved(
      h.url,
      base,
      {
        'herald_login_requests_started_total{flow="qr"}': 1,
        'herald_login_requests_total{outcome="cancelled"}': 1,
        'herald_login_requests_total{outcome="approved"}': 0,
        herald_messages_published_total: 1, // the screen's "cancelled" event
      },
      'the login counters',
    );
  });

  it('the broker is up, and says which it is', async () => {
    const m = await scrape(h.url);
    const broker = ['redis', 'redis-cluster'].includes(process.env.HERALD_TEST_BROKER) ? 'redis' : 'memory';
    assert.equal(m.get(`herald_broker_up{broker="${broker}"}`), 1);
  });

  it('passes promtool check metrics', async () => {
    // Traffic first, so that every family has samples.
    const channel = uniq('promtool');
    const ws = openWS(`${h.wsUrl}/sub/${chanPath(channel)}`);
    await ws.opened;
    await waitForSubscribers(h.url, channel, { websocket: 1 });
    assert.equal((await publish(h.url, channel, 'x')).status, 201);
    await ws.frames.waitFor(1);
    const { text } = await scrape(h.url);
    const checked = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.ok(!checked.error, `promtool could not run (scripts/install-deps installs Debian's prometheus): ${checked.error}`);
    assert.equal(checked.status, 0, `promtool check metrics failed:\n${checked.stdout}${checked.stderr}`);
    assert.equal(checked.stdout.trim(), '', checked.stdout);
    ws.ws.close();
  });
});

describe('a slow consumer is counted as a drop', () => {
  let h;
  before(async () => {
    h = await startHerald({ config: '[limits]\nwrite_queue_bytes = 262144\n' });
  });
  after(() => h?.stop());

  it('one drop for the message that did not fit; the connection is then gone', async () => {
    const channel = uniq('metrics-slow');
    const socket = net.connect(h.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /sub/${chanPath(channel)} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
    await waitForSubscribers(h.url, channel, { sse: 1 });
    socket.pause(); // stops reading: the kernel buffers fill, then herald's write queue
    const base = await scrape(h.url);
    const dropped = waitForSubscribers(h.url, channel, { sse: 0 }, { timeoutMs: 30000 });
    let settled = false;
    dropped.then(() => (settled = true), () => (settled = true));
    for (let n = 0; n < 2000 && !settled; n++) {
      assert.equal((await publish(h.url, channel, 'x'.repeat(60000))).status, 201);
    }
    await dropped;
    await expectMoved(
      h.url,
      base,
      { 'herald_messages_dropped_total{reason="slow_consumer"}': 1, 'herald_connections{transport="sse"}': -1 },
      'the slow consumer drop',
    );
    socket.destroy();
  });
});

describe('who may read /metrics and the feed', () => {
  const KEY = 'metrics-test-key';
  let open;
  let keyed;
  let off;
  before(async () => {
    [open, keyed, off] = await Promise.all([
      startHerald({ config: '[metrics]\npublic = true\n' }),
      startHerald({ config: `publish_key = "${KEY}"\n` }),
      startHerald({ config: '[metrics]\nenabled = false\n' }),
    ]);
  });
  after(() => Promise.all([open, keyed, off].map((h) => h?.stop())));

  const proxied = { 'X-Forwarded-For': '203.0.113.9' };

  it('this machine may; through a proxy it needs the publish key; public opens it to all', async () => {
    assert.equal((await request(`${keyed.url}/metrics`)).status, 200);
    const refused = await request(`${keyed.url}/metrics`, { headers: proxied });
    assert.equal(refused.status, 401, refused.text);
    assert.equal(refused.json.error, 'unauthorized');
    const wrong = await request(`${keyed.url}/metrics`, { headers: { ...proxied, Authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 403, wrong.text);
    const right = await request(`${keyed.url}/metrics`, { headers: { ...proxied, Authorization: `Bearer ${KEY}` } });
    assert.equal(right.status, 200, right.text);
    assert.equal((await request(`${keyed.url}/metrics/feed`, { headers: proxied })).status, 401);
    assert.equal((await request(`${open.url}/metrics`, { headers: proxied })).status, 200);
  });

  it('GET only; turned off it is not there; the feed channel cannot be named on /sub', async () => {
    const post = await request(`${open.url}/metrics`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET');
    assert.equal((await request(`${off.url}/metrics`)).status, 404);
    assert.equal((await request(`${off.url}/metrics/feed`)).status, 404);
    assert.equal((await poll(open.url, '_metrics:x')).status, 403);
  });

  it('the feed sends a snapshot every second on any transport; it sees its own SSE connection', async () => {
    const feed = openSSE(`${open.url}/metrics/feed`);
    assert.equal((await feed.response).status, 200);
    const snapshot = await feed.events.waitForItem((e) => JSON.parse(e.data).connections.sse >= 1, {
      timeoutMs: 5000,
    });
    const s = JSON.parse(snapshot.data);
    for (const key of ['time', 'interval_s', 'connections', 'subscriptions', 'per_s', 'totals', 'latency_ms', 'busiest', 'broker']) {
      assert.ok(key in s, `snapshot has ${key}: ${snapshot.data}`);
    }
    assert.ok(s.busiest.length <= 10);
    await feed.close();

    // Its history: a page that opens draws the last minute at once.
    const polled = await eventually(async () => {
      const r = await request(`${open.url}/metrics/feed?last=2`);
      assert.equal(r.status, 200, r.text);
      return r.json.messages.length === 2 && r;
    }, { what: 'two snapshots in the feed history' });
    assert.equal(typeof polled.json.messages[0].data.per_s.delivered, 'number');
  });
});
