// Idempotent publish and POST /api/broadcast. In the Redis pass (HERALD_TEST_BROKER=redis, or redis-cluster
// on a Redis Cluster) every test runs on two nodes of one Redis: retries are spread over both, and subscribers listen on both, on every
// transport. A subscriber "hears once" when, after a closing message published last, it has heard exactly
// the message and the closing one: a second copy would have come before the closing message.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chanPath,
  channelInfo,
  onRedisPass,
  openSSE,
  openWS,
  poll,
  publish,
  request,
  startHerald,
  uniq,
  waitForSubscribers,
} from './lib/herald.mjs';

const onRedis = onRedisPass();
const CONFIG = [
  '[namespace.chat]',
  'client_publish = true',
  '[limits]',
  'client_publishes_per_second = 0',
  'broadcast_max_channels = 5',
].join('\n');

// One node, or two on one Redis sharing their keys.
async function startNodes(config = CONFIG) {
  if (!onRedis) return [await startHerald({ config })];
  const redisPrefix = `${uniq('idem')}:`;
  const first = await startHerald({ config, redisPrefix });
  return [first, await startHerald({ config, redisPrefix })];
}

const END = { end: true };
const isEnd = (data) => data?.end === true;

// A subscriber of `ch` on `node` on every transport. heard() resolves, once each has heard the closing
// message, with the ids each heard: {sse, websocket, ws, longpoll, poll}.
async function listenEverywhere(node, ch) {
  const sse = openSSE(`${node.url}/sub/${chanPath(ch)}`);
  const single = openWS(`${node.wsUrl}/sub/${chanPath(ch)}`);
  const multi = openWS(`${node.wsUrl}/ws`);
  await multi.opened;
  assert.equal((await multi.request({ op: 'subscribe', channel: ch })).op, 'subscribed');
  await single.opened;
  assert.equal((await sse.response).status, 200);
  const { cursor: start } = await poll(node.url, ch);
  const longIds = [];
  const longPolled = (async () => {
    for (let since = start; ; ) {
      const r = await poll(node.url, ch, { since, wait: 30 });
      assert.equal(r.status, 200, r.text);
      for (const m of r.json.messages) longIds.push(m.id);
      since = r.cursor;
      if (r.json.messages.some((m) => isEnd(m.data))) return longIds;
    }
  })();
  longPolled.catch(() => {}); // a failure is reported by heard(), not as an unhandled rejection
  await waitForSubscribers(node.url, ch, { sse: 1, websocket: 2, longpoll: 1 });
  const until = (collector, pick) =>
    collector.waitUntil((items) => {
      const mine = items.filter(pick);
      return mine.some((m) => isEnd(m.data)) && mine.map((m) => m.id);
    });
  return {
    async heard() {
      const result = {
        sse: await sse.events.waitUntil((events) => {
          const ends = events.some((e) => isEnd(JSON.parse(e.data)));
          return ends && events.map((e) => e.id);
        }),
        websocket: await until(single.frames, (f) => f.id !== undefined),
        ws: await until(multi.frames, (f) => f.op === 'message' && f.channel === ch),
        longpoll: await longPolled,
        poll: (await poll(node.url, ch, { since: start })).json.messages.map((m) => m.id),
      };
      await Promise.all([sse.close(), single.close(), multi.close()]);
      return result;
    },
  };
}

function assertHeardOnce(heard, ids, where) {
  for (const [transport, got] of Object.entries(heard)) {
    assert.deepEqual(got, ids, `${where}, ${transport}: heard ${JSON.stringify(got)}`);
  }
}

const publishKeyed = (url, ch, body, key) =>
  publish(url, ch, JSON.stringify(body), { json: true, headers: { 'Idempotency-Key': key } });

async function closeWith(nodes, ch) {
  const r = await publish(nodes[0].url, ch, JSON.stringify(END), { json: true });
  assert.equal(r.status, 201, r.text);
  return r.body.id;
}

describe(`idempotent publish (${onRedis ? 'two nodes on Redis' : 'one node'})`, () => {
  let nodes;
  before(async () => {
    nodes = await startNodes();
  });
  after(async () => {
    await Promise.all(nodes?.map((n) => n.stop()) ?? []);
  });

  it('a repeated Idempotency-Key answers the first id with 200 and publishes nothing', async () => {
    const ch = uniq('pub');
    const first = await publishKeyed(nodes[0].url, ch, { order: 1 }, 'order-1');
    assert.equal(first.status, 201, first.text);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    for (const node of nodes) {
      const again = await publishKeyed(node.url, ch, { order: 1 }, 'order-1');
      assert.equal(again.status, 200, again.text);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.equal(again.body.id, first.body.id);
      assert.equal(again.body.channel, ch);
    }
    assert.equal((await channelInfo(nodes.at(-1).url, ch)).history, 1);
    const other = await publishKeyed(nodes.at(-1).url, ch, { order: 2 }, 'order-2');
    assert.equal(other.status, 201);
    assert.notEqual(other.body.id, first.body.id);
    const elsewhere = await publishKeyed(nodes[0].url, uniq('pub'), { order: 1 }, 'order-1');
    assert.equal(elsewhere.status, 201, 'keys are per channel');
    assert.equal((await channelInfo(nodes[0].url, ch)).history, 2);
  });

  it('refuses a malformed key with 400 and publishes nothing', async () => {
    const ch = uniq('badkey');
    for (const key of ['has space', 'k'.repeat(129), 'caf\u00e9']) {
      const r = await publish(nodes[0].url, ch, 'x', { headers: { 'Idempotency-Key': key } });
      assert.equal(r.status, 400, `${JSON.stringify(key)}: ${r.text}`);
      assert.equal(r.body.error, 'bad_idempotency_key');
    }
    const empty = await request(`${nodes[0].url}/pub/${ch}`, { method: 'POST', headers: { 'Idempotency-Key': '' }, body: 'x' });
    assert.equal(empty.status, 400, empty.text);
    assert.equal((await channelInfo(nodes[0].url, ch)).last_id, null);
  });

  it('20 concurrent retries of one key publish exactly once; every transport on every node hears it once', async () => {
    const ch = uniq('race');
    const listeners = await Promise.all(nodes.map((node) => listenEverywhere(node, ch)));
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => publishKeyed(nodes[i % nodes.length].url, ch, { pay: 'once' }, 'charge-7')),
    );
    const created = answers.filter((r) => r.status === 201);
    assert.equal(created.length, 1, JSON.stringify(answers.map((r) => r.status)));
    const id = created[0].body.id;
    for (const r of answers.filter((a) => a.status !== 201)) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('idempotent-replayed'), 'true');
      assert.equal(r.body.id, id);
    }
    const end = await closeWith(nodes, ch);
    for (const [i, listener] of listeners.entries()) assertHeardOnce(await listener.heard(), [id, end], `node ${i}`);
  });

  it('/ws publish frames with one idempotency_key publish once; the acks say replayed', async () => {
    const ch = `chat:${uniq('ws')}`;
    const listeners = await Promise.all(nodes.map((node) => listenEverywhere(node, ch)));
    const sockets = nodes.map((node) => openWS(`${node.wsUrl}/ws`));
    await Promise.all(sockets.map((s) => s.opened));
    const acks = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        sockets[i % sockets.length].request({ op: 'publish', channel: ch, data: { say: 'hi' }, idempotency_key: 'msg-1' }),
      ),
    );
    assert.ok(acks.every((a) => a.op === 'published'), JSON.stringify(acks));
    const fresh = acks.filter((a) => a.replayed === undefined);
    assert.equal(fresh.length, 1, JSON.stringify(acks));
    const id = fresh[0].id;
    assert.ok(acks.every((a) => a.id === id && a.channel === ch && (a === fresh[0] || a.replayed === true)));
    const bad = await sockets[0].request({ op: 'publish', channel: ch, data: 'x', idempotency_key: 'no spaces' });
    assert.deepEqual([bad.op, bad.code], ['error', 'bad_idempotency_key']);
    const end = await closeWith(nodes, ch);
    for (const [i, listener] of listeners.entries()) assertHeardOnce(await listener.heard(), [id, end], `node ${i}`);
    await Promise.all(sockets.map((s) => s.close()));
  });
});

const broadcast = (url, body, headers = {}) =>
  request(`${url}/api/broadcast`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe(`POST /api/broadcast (${onRedis ? 'two nodes on Redis' : 'one node'})`, () => {
  let nodes;
  before(async () => {
    nodes = await startNodes();
  });
  after(async () => {
    await Promise.all(nodes?.map((n) => n.stop()) ?? []);
  });

  it('publishes one message on each channel, heard once on every transport; a keyed repeat replays', async () => {
    const channels = [uniq('bc'), uniq('bc'), `chat:${uniq('bc')}`];
    const listeners = await Promise.all(
      channels.flatMap((ch) => nodes.map(async (node, i) => ({ ch, i, listener: await listenEverywhere(node, ch) }))),
    );
    const body = { channels, data: { news: 'all' }, event: 'note', idempotency_key: 'bc-1' };
    const r = await broadcast(nodes[0].url, body);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.body.ids).sort(), [...channels].sort());
    assert.equal(r.body.replayed, undefined);
    const again = await broadcast(nodes.at(-1).url, body);
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.body.ids, r.body.ids);
    assert.deepEqual([...again.body.replayed].sort(), [...channels].sort());
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    const ends = await broadcast(nodes[0].url, { channels, data: END });
    assert.equal(ends.status, 200, ends.text);
    for (const { ch, i, listener } of listeners) {
      assertHeardOnce(await listener.heard(), [r.body.ids[ch], ends.body.ids[ch]], `${ch} on node ${i}`);
    }
    const last = await poll(nodes.at(-1).url, channels[0], { last: 2 });
    assert.deepEqual(
      last.json.messages.map((m) => [m.event, m.data]),
      [
        ['note', { news: 'all' }],
        [undefined, END],
      ],
    );
  });

  it('a text datum is published as text', async () => {
    const ch = uniq('bctext');
    const r = await broadcast(nodes[0].url, { channels: [ch], data: 'plain words' });
    assert.equal(r.status, 200, r.text);
    const read = await poll(nodes[0].url, ch, { last: 1 });
    assert.equal(read.json.messages[0].data, 'plain words');
  });

  it('refuses bad input with 400 and a JSON error, publishing nothing', async () => {
    const ch = uniq('bcbad');
    const cases = [
      [{ channels: [], data: 1 }, 'bad_request'],
      [{ channels: ch, data: 1 }, 'bad_request'],
      [{ channels: [1, 2, 3, 4, 5, 6].map((n) => `${ch}-${n}`), data: 1 }, 'bad_request'],
      [{ channels: [ch, 'no spaces please'], data: 1 }, 'bad_channel'],
      [{ channels: [ch, 7], data: 1 }, 'bad_channel'],
      [{ channels: [ch, ch], data: 1 }, 'bad_request'],
      [{ channels: [ch] }, 'bad_request'],
      [{ channels: [ch], data: 1, colour: 'red' }, 'bad_request'],
      [{ channels: [ch], data: 1, event: 'gap' }, 'bad_event'],
      [{ channels: [ch], data: 1, idempotency_key: 'a b' }, 'bad_idempotency_key'],
      ['{"channels":', 'bad_json'],
      ['[1,2]', 'bad_json'],
      [`{"channels":["${ch}"],"data":{"n":1e400}}`, 'bad_json'], // would reach subscribers as Infinity
    ];
    for (const [body, code] of cases) {
      const r = await broadcast(nodes[0].url, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.body.error, code, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(typeof r.body.message, 'string');
    }
    assert.equal((await channelInfo(nodes[0].url, ch)).last_id, null);
    const get = await request(`${nodes[0].url}/api/broadcast`);
    assert.equal(get.status, 405);
  });
});

describe('POST /api/broadcast with publish keys', () => {
  let nodes;
  before(async () => {
    nodes = await startNodes(
      ['publish_key = "all-secret"', '[[publish_keys]]', 'key = "news-secret"', 'namespaces = ["news"]'].join('\n'),
    );
  });
  after(async () => {
    await Promise.all(nodes?.map((n) => n.stop()) ?? []);
  });

  it('admits each channel as a publish to it: refusals are reported per channel', async () => {
    const news = `news:${uniq('k')}`;
    const sport = `sport:${uniq('k')}`;
    const partial = await broadcast(nodes[0].url, { channels: [news, sport], data: 1 }, { Authorization: 'Bearer news-secret' });
    assert.equal(partial.status, 403, partial.text);
    assert.equal(partial.body.error, 'forbidden');
    assert.match(partial.body.message, /1 of 2 channels were not published/);
    assert.deepEqual(Object.keys(partial.body.ids), [news]);
    assert.equal(partial.body.errors[sport].error, 'forbidden');
    assert.equal((await channelInfo(nodes.at(-1).url, news)).last_id, partial.body.ids[news]);
    assert.equal((await channelInfo(nodes.at(-1).url, sport)).last_id, null);

    const anonymous = await broadcast(nodes[0].url, { channels: [news, sport], data: 2 });
    assert.equal(anonymous.status, 401, anonymous.text);
    assert.deepEqual(anonymous.body.ids, {});
    assert.deepEqual(Object.keys(anonymous.body.errors).sort(), [news, sport].sort());
    assert.equal((await channelInfo(nodes[0].url, news)).history, 1);

    const internal = await broadcast(nodes[0].url, { channels: [news, '_login:x'], data: 3 }, { Authorization: 'Bearer all-secret' });
    assert.equal(internal.status, 403, internal.text);
    assert.deepEqual(Object.keys(internal.body.ids), [news]);

    const whole = await broadcast(nodes[0].url, { channels: [news, sport], data: 4 }, { Authorization: 'Bearer all-secret' });
    assert.equal(whole.status, 200, whole.text);
    assert.deepEqual(Object.keys(whole.body.ids).sort(), [news, sport].sort());
    assert.equal(whole.body.errors, undefined);
  });
});
