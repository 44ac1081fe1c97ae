// Channel admission, one rule for every way in (access/admission.hpp): HTTP routes and WebSocket frames
// refuse the same things for the same reasons. Findings of a security review, each held here.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';

import { chanPath, openWS, poll, request, startHerald, uniq } from './lib/herald.mjs';
import { startScreen } from './lib/login.mjs';

const SECRET = 'the application secret';
const b64 = (text) => Buffer.from(text).toString('base64url');
function jwt(claims) {
  const input = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(claims))}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

describe('private namespaces where clients publish: a token must grant publishing', () => {
  let h;
  before(async () => {
    h = await startHerald({
      config: `token_secret = "${SECRET}"\n[namespace.team]\nprivate = true\nclient_publish = true`,
    });
  });
  after(() => h?.stop());

  const post = (channel, token) =>
    request(`${h.url}/pub/${chanPath(channel)}${token ? `?token=${token}` : ''}`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', Origin: h.url },
      body: 'hello',
    });

  it('POST /pub without a key: no token, a listening token, another channel are refused', async () => {
    const ch = `team:${uniq()}`;
    const none = await post(ch);
    assert.equal(none.status, 401, none.text);
    assert.equal(none.json.error, 'token_required');
    const listenOnly = await post(ch, jwt({ channels: [ch], exp: inAnHour() }));
    assert.equal(listenOnly.status, 403, listenOnly.text);
    const elsewhere = await post(ch, jwt({ channels: [], publish: ['team:other'], exp: inAnHour() }));
    assert.equal(elsewhere.status, 403, elsewhere.text);
    const granted = await post(ch, jwt({ channels: [], publish: ['team:*'], exp: inAnHour() }));
    assert.equal(granted.status, 201, granted.text);
  });

  it('/ws publish frames follow the same rule, even on a socket that listens with a token', async () => {
    const ch = `team:${uniq()}`;
    const ws = openWS(`${h.wsUrl}/ws`, { headers: { Origin: h.url } });
    await ws.opened;
    const sub = await ws.request({ op: 'subscribe', channel: ch, token: jwt({ channels: [ch], exp: inAnHour() }) });
    assert.equal(sub.op, 'subscribed', JSON.stringify(sub));
    const refused = await ws.request({ op: 'publish', channel: ch, data: 'x' });
    assert.equal(refused.op, 'error', JSON.stringify(refused));
    assert.equal(refused.code, 'token_required');
    const ok = await ws.request({
      op: 'publish',
      channel: ch,
      data: 'x',
      token: jwt({ channels: [], publish: [ch], exp: inAnHour() }),
    });
    assert.equal(ok.op, 'published', JSON.stringify(ok));
    await ws.close();
  });

  it('a /sub WebSocket publishes with the token it was opened with only if that token grants it', async () => {
    const ch = `team:${uniq()}`;
    const listener = openWS(`${h.wsUrl}/sub/${chanPath(ch)}?token=${jwt({ channels: [ch], exp: inAnHour() })}`, {
      headers: { Origin: h.url },
    });
    await listener.opened;
    const refused = await listener.request({ op: 'publish', channel: ch, data: 'x' });
    assert.equal(refused.code, 'forbidden', JSON.stringify(refused));
    const writer = openWS(
      `${h.wsUrl}/sub/${chanPath(ch)}?token=${jwt({ channels: [ch], publish: [ch], exp: inAnHour() })}`,
      { headers: { Origin: h.url } },
    );
    await writer.opened;
    const ok = await writer.request({ op: 'publish', channel: ch, data: 'x' });
    assert.equal(ok.op, 'published', JSON.stringify(ok));
    await Promise.all([listener.close(), writer.close()]);
  });
});

describe('presence joins are publishes: budgeted and capped per address', () => {
  const servers = [];
  after(() => Promise.all(servers.map((s) => s.stop())));
  const start = async (limits) => {
    const h = await startHerald({ config: `[namespace.room]\npresence = true\n[limits]\n${limits}` });
    servers.push(h);
    return h;
  };

  it('interval polls with fresh client ids run into the publish budget', async () => {
    const h = await start('client_publishes_per_second = 2\npresence_members_per_address = 0');
    const ch = `room:${uniq()}`;
    // The budget is a bucket of 2 refilled at 2 a second: however slow this machine, no more joins than
    // that get in while the 12 are under way.
    const started = Date.now();
    const statuses = await Promise.all(
      Array.from({ length: 12 }, (_, i) => poll(h.url, ch, { query: `client=c${i}&name=N${i}` }).then((r) => r.status)),
    );
    const allowed = 2 + Math.ceil((2 * (Date.now() - started)) / 1000);
    const list = await request(`${h.url}/channels/${chanPath(ch)}/presence`);
    assert.ok(list.json.count <= allowed, `members: ${list.json.count}, at most ${allowed}`);
    if (allowed < 12) assert.ok(statuses.includes(429), `12 joins at once from one address: ${statuses}`);
    // A member already present costs nothing to renew, though the budget is spent.
    const member = statuses.indexOf(204);
    assert.ok(member >= 0, `one join at least got in: ${statuses}`);
    assert.equal((await poll(h.url, ch, { query: `client=c${member}&name=N${member}` })).status, 204);
  });

  it('one address holds at most presence_members_per_address members, on every transport', async () => {
    const h = await start('client_publishes_per_second = 1000\npresence_members_per_address = 8');
    const ch = `room:${uniq()}`;
    const ws = openWS(`${h.wsUrl}/ws`);
    await ws.opened;
    const answers = [];
    for (let i = 0; i < 10; i++) {
      const r = await ws.request({ op: 'subscribe', channel: `${ch}-${i}`, client: `m${i}`, name: `M${i}` });
      answers.push(r.op === 'error' ? r.code : r.op);
    }
    assert.deepEqual(answers, [...Array(8).fill('subscribed'), 'too_many_members', 'too_many_members']);
    const polled = await poll(h.url, ch, { query: 'client=p1&name=P' });
    assert.equal(polled.status, 429, polled.text);
    assert.equal(polled.json.error, 'too_many_members');
    await ws.close();
  });
});

describe('reading a channel that does not exist costs nothing that outlives the request', () => {
  let h;
  before(async () => {
    h = await startHerald();
  });
  after(() => h?.stop());

  it('the cursor it answers is an empty one, and a later publish resumes from it without a gap', async () => {
    const ch = uniq('unknown');
    const first = await poll(h.url, ch);
    assert.equal(first.status, 204);
    const cursor = first.headers.get('herald-cursor');
    assert.match(cursor, /^00000000\.\d+$/, 'an empty cursor: no history was made');
    const again = await poll(h.url, ch, { since: cursor });
    assert.match(again.headers.get('herald-cursor'), /^00000000\./, 'still none after a second read');
    const info = await request(`${h.url}/channels/${chanPath(ch)}`);
    assert.equal(info.json.last_id, null);
    await request(`${h.url}/pub/${chanPath(ch)}`, { method: 'POST', body: 'first' });
    const resumed = await poll(h.url, ch, { since: cursor });
    assert.equal(resumed.status, 200);
    assert.equal(resumed.json.gap, false);
    assert.deepEqual(
      resumed.json.messages.map((m) => m.data),
      ['first'],
    );
  });
});

describe("herald's own channels answer nothing", () => {
  let h;
  before(async () => {
    h = await startHerald();
  });
  after(() => h?.stop());

  it('GET /channels/_login:<id> and its presence are refused like /sub', async () => {
    const { start } = await startScreen(h.url);
    for (const path of [`/channels/_login:${start.id}`, `/channels/_login:${start.id}/presence`, `/sub/_login:${start.id}`]) {
      const r = await request(`${h.url}${path}`);
      assert.equal(r.status, 403, `${path}: ${r.text}`);
      assert.equal(r.json.error, 'forbidden');
    }
  });
});
