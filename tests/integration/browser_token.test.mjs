// web/herald.js with short-lived tokens in a real browser (Chromium): `getToken()` is asked for a token
// before the first connection and again each time herald says it expired; the subscription reconnects
// from its cursor, so across several expiries every message arrives once, in order, on every transport.
// A user disconnected through the server API is told so and does not come back.
//
// Every wait is on something the page reports; the timeouts only turn a hang into a readable failure.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { publish, request, startHerald, uniq } from './lib/herald.mjs';
import { launchBrowser, openDevice } from './lib/browser.mjs';

const SECRET = 'shared with the application';
const KEY = 'a publish key';
const WAIT = { timeout: 15000 };

const b64 = (text) => Buffer.from(text).toString('base64url');
function jwt(claims) {
  const input = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(claims))}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

let browser;
let h;
before(async () => {
  [browser, h] = await Promise.all([
    launchBrowser(),
    startHerald({
      config: `token_secret = ${JSON.stringify(SECRET)}\npublish_key = ${JSON.stringify(KEY)}\n[namespace.team]\nidentified = true\n`,
    }),
  ]);
});
after(async () => {
  await browser?.close();
  await h?.stop();
});

const pub = (ch, body) => publish(h.url, ch, body, { headers: { Authorization: `Bearer ${KEY}` } });

// Opens a page that subscribes to `ch` over `transport` with getToken() answering the test's tokens
// (each valid for `seconds`); the page keeps what it hears in window.heard, its statuses in window.states.
async function subscribed(ch, transport, seconds) {
  const device = await openDevice(browser, h.url, { name: transport });
  const { page } = device;
  let asked = 0;
  await page.exposeFunction('mintToken', () => {
    asked += 1;
    return jwt({ sub: 'kim', exp: Math.ceil(Date.now() / 1000) + seconds });
  });
  await page.goto('/index.html');
  await page.evaluate(
    async ({ ch, transport }) => {
      const { subscribe } = await import('/herald.js');
      window.heard = [];
      window.states = [];
      window.sub = subscribe(`/sub/${ch}`, {
        transport,
        pollIntervalMs: 200,
        backoffMs: 100,
        getToken: () => window.mintToken(),
        onMessage: (env) => window.heard.push(env.id),
        onStatus: (s) => window.states.push({ state: s.state, reason: s.reason, code: s.code }),
      });
    },
    { ch, transport },
  );
  await page.waitForFunction(() => window.states.some((s) => s.state === 'open'), null, WAIT);
  return { device, page, asked: () => asked };
}

for (const transport of ['websocket', 'sse', 'longpoll', 'poll']) {
  it(`${transport}: getToken() keeps the subscription through token expiries, losing and repeating nothing`, async () => {
    const ch = `team:${uniq(transport)}`;
    const { device, page, asked } = await subscribed(ch, transport, 2);
    try {
      const ids = [];
      // Published until the page has had to ask for a third token (two expiries), 15 s at most.
      const until = Date.now() + 15000;
      while (asked() < 3 || ids.length < 3) {
        assert.ok(Date.now() < until, `getToken() asked only ${asked()} times in 15 s`);
        const r = await pub(ch, `m${ids.length}`);
        assert.equal(r.status, 201, r.text);
        ids.push(r.json.id);
        // Paced by the page hearing each message, not by a clock.
        await page.waitForFunction((id) => window.heard.includes(id), r.json.id, WAIT);
      }
      assert.deepEqual(await page.evaluate(() => window.heard), ids, 'every message once, in order');
      const states = await page.evaluate(() => window.states);
      assert.ok(!states.some((s) => s.state === 'closed'), JSON.stringify(states));
      // (Chromium logs each 401 token_expired answer a poll reads; nothing else may go wrong.)
      assert.deepEqual(
        device.errors.filter((e) => !e.includes('status of 401')),
        [],
      );
    } finally {
      await device.close();
    }
  });
}

it('a user disconnected through the server API is told so, and herald.js does not come back', async () => {
  const ch = `team:${uniq('bye')}`;
  const { device, page, asked } = await subscribed(ch, 'websocket', 60);
  try {
    const r = await request(`${h.url}/api/disconnect`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'kim' }),
    });
    assert.equal(r.status, 200, r.text);
    await page.waitForFunction(() => window.states.some((s) => s.state === 'closed'), null, WAIT);
    const closed = (await page.evaluate(() => window.states)).find((s) => s.state === 'closed');
    assert.equal(closed.code, 'disconnected');
    assert.equal(asked(), 1);
  } finally {
    await device.close();
  }
});
