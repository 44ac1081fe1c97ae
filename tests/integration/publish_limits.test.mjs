// Who may publish where, and how fast: publish keys limited to namespaces, and a publish rate per key
// (or per address) answered 429 with Retry-After — on POST /pub and on /ws client publishing alike.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, uniq, openWS } from './lib/herald.mjs';

let herald;
before(async () => {
  herald = await startHerald({
    config: [
      'publish_key = "root-key"',
      '[limits]',
      'publishes_per_second = 3',
      '[namespace.chat]',
      'client_publish = true',
      '[[publish_keys]]',
      'key = "chat-key"',
      'namespaces = ["chat"]',
    ].join('\n'),
  });
});
after(() => herald.stop());

const post = (channel, key) =>
  fetch(`${herald.url}/pub/${channel}`, {
    method: 'POST',
    headers: key ? { Authorization: `Bearer ${key}` } : {},
    body: 'x',
  });

test('a namespaced key publishes only to its namespaces; the main key anywhere', async () => {
  assert.equal((await post(`chat:${uniq()}`, 'chat-key')).status, 201);
  const refused = await post(`news:${uniq()}`, 'chat-key');
  assert.equal(refused.status, 403);
  assert.match((await refused.json()).message, /namespace 'news'/);
  assert.equal((await post(uniq(), 'chat-key')).status, 403); // the default namespace is not listed
  assert.equal((await post(`news:${uniq()}`, 'root-key')).status, 201);
  assert.equal((await post(uniq(), 'wrong')).status, 403);
  assert.equal((await post(uniq())).status, 401);
});

test('past publishes_per_second a key gets 429 with Retry-After; other keys are not affected', async () => {
  const ch = `chat:${uniq()}`;
  const statuses = [];
  let refused;
  for (let i = 0; i < 8 && !refused; i++) {
    const res = await post(ch, 'chat-key');
    statuses.push(res.status);
    if (res.status === 429) refused = res;
    else await res.arrayBuffer();
  }
  assert.ok(refused, `no 429 in ${statuses}`);
  assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  assert.equal((await refused.json()).error, 'rate_limited');
  assert.equal((await post(ch, 'root-key')).status, 201);
});

test('/ws client publishing is limited per address too', async () => {
  const ws = openWS(`${herald.wsUrl}/ws`);
  await ws.opened;
  const ch = `chat:${uniq()}`;
  const codes = [];
  for (let i = 0; i < 8; i++) {
    const reply = await ws.request({ op: 'publish', channel: ch, data: 'hi', ref: i });
    codes.push(reply.op === 'error' ? reply.code : reply.op);
  }
  ws.close();
  assert.ok(codes.includes('published'), `${codes}`);
  assert.ok(codes.includes('rate_limited'), `${codes}`);
});
