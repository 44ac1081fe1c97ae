// POST /pub/{channel}: the 201 answer, and every publish-side error of docs/api.md with its status
// and JSON body.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chanPath, poll, publish, request, startHerald, uniq } from './lib/herald.mjs';

/** Every error is JSON {error, message}; check the status and the code together. */
function assertError(res, status, code) {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  assert.equal(res.json?.error, code, `body: ${res.text}`);
  assert.equal(typeof res.json.message, 'string');
  assert.ok(res.json.message.length > 0, 'message is a human sentence');
}

describe('publish without a publish key (loopback)', () => {
  let h;
  before(async () => {
    h = await startHerald();
  });
  after(() => h?.stop());

  it('answers 201 with channel, id and subscribers', async () => {
    const ch = uniq('news');
    const r = await publish(h.url, ch, 'hello');
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.channel, ch);
    assert.equal(typeof r.json.id, 'string');
    assert.ok(r.json.id.length > 0);
    assert.equal(r.json.subscribers, 0);
  });

  it('accepts the whole channel alphabet, a namespace, and exactly 128 characters', async () => {
    for (const ch of ['Az09_-.:@', 'chat:lobby', 'x'.repeat(128), 'a:b:c']) {
      const r = await publish(h.url, ch, 'x');
      assert.equal(r.status, 201, `${ch}: ${r.text}`);
      assert.equal(r.json.channel, ch);
    }
  });

  it('gives strictly different ids to successive messages', async () => {
    const ch = uniq('ids');
    const a = await publish(h.url, ch, '1');
    const b = await publish(h.url, ch, '2');
    assert.notEqual(a.json.id, b.json.id);
  });

  it('keeps an event name given as ?event=', async () => {
    const ch = uniq('ev');
    const first = await poll(h.url, ch);
    const r = await publish(h.url, ch, { a: 1 }, { json: true, event: 'update' });
    assert.equal(r.status, 201, r.text);
    const p = await poll(h.url, ch, { since: first.cursor });
    assert.equal(p.json.messages[0].event, 'update');
  });

  it('rejects a channel name that is too long (129 characters): 400 bad_channel', async () => {
    assertError(await publish(h.url, 'x'.repeat(129), 'x'), 400, 'bad_channel');
  });

  it('rejects a channel name with a character outside the set: 400 bad_channel', async () => {
    assertError(await publish(h.url, 'a b', 'x'), 400, 'bad_channel'); // sent as a%20b
    assertError(await publish(h.url, 'a$b', 'x'), 400, 'bad_channel');
    assertError(await publish(h.url, 'caf\u00e9', 'x'), 400, 'bad_channel');
  });

  it('rejects an empty channel name: 400 bad_channel', async () => {
    assertError(await request(`${h.url}/pub/`, { method: 'POST', body: 'x' }), 400, 'bad_channel');
  });

  it('rejects a bad event name: 400 bad_event', async () => {
    const ch = uniq('ev');
    assertError(await publish(h.url, ch, 'x', { event: 'a b' }), 400, 'bad_event');
    assertError(await publish(h.url, ch, 'x', { event: 'e'.repeat(129) }), 400, 'bad_event');
  });

  it('rejects a JSON body that does not parse: 400 bad_json', async () => {
    assertError(await publish(h.url, uniq('j'), '{"a":', { json: true }), 400, 'bad_json');
    assertError(await publish(h.url, uniq('j'), '', { json: true }), 400, 'bad_json');
  });

  it('rejects JSON with a number too large for a double (it would reach subscribers as Infinity): 400 bad_json', async () => {
    const ch = uniq('inf');
    const r = await publish(h.url, ch, '{"n":[1.5e39999,2]}', { json: true });
    assertError(r, 400, 'bad_json');
    assert.match(r.json.message, /too large/);
    assert.equal((await poll(h.url, ch, { last: 10 })).status, 204, 'nothing was published');
  });

  it('rejects a body that is not UTF-8: 400 bad_utf8', async () => {
    assertError(await publish(h.url, uniq('u'), Buffer.from([0x61, 0xff, 0xfe])), 400, 'bad_utf8');
  });

  it('accepts max_payload_bytes (65536) and rejects one byte more: 413 too_large', async () => {
    const ch = uniq('big');
    assert.equal((await publish(h.url, ch, 'a'.repeat(65536))).status, 201);
    assertError(await publish(h.url, ch, 'a'.repeat(65537)), 413, 'too_large');
  });

  it('answers GET /pub/{channel} with 405 method_not_allowed', async () => {
    assertError(await request(`${h.url}/pub/${chanPath(uniq('x'))}`), 405, 'method_not_allowed');
  });

  it('answers an unknown route with 404 not_found', async () => {
    assertError(await request(`${h.url}/no/such/route-${Date.now()}`), 404, 'not_found');
  });
});

describe('publish with publish_key set', () => {
  let h;
  before(async () => {
    h = await startHerald({ config: 'publish_key = "s3cret"' });
  });
  after(() => h?.stop());

  it('answers 401 unauthorized without Authorization: Bearer', async () => {
    assertError(await publish(h.url, uniq('k'), 'x'), 401, 'unauthorized');
  });

  it('answers 403 forbidden with the wrong key', async () => {
    assertError(await publish(h.url, uniq('k'), 'x', { headers: { Authorization: 'Bearer nope' } }), 403, 'forbidden');
  });

  it('answers 201 with the right key, even from loopback', async () => {
    const r = await publish(h.url, uniq('k'), 'x', { headers: { Authorization: 'Bearer s3cret' } });
    assert.equal(r.status, 201, r.text);
  });
});
