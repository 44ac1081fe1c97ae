// QR login under abuse (docs/login.md, docs/security.md): the rate limits on starts, codes, prompts and
// sign-ins, each a 429 that names its limit and says when to retry, counted per client address; and
// server-to-server approval, which needs a key covering _login and never trusts an address.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request, startBalanced } from './lib/herald.mjs';
import {
  Client,
  assertError,
  assertRetryAfter,
  listenAsScreen,
  madeUpSecret,
  madeUpUserCode,
  phoneFor,
  postFrom,
  show,
  startScreen,
  ALICE,
  LOGIN_KEY,
  LOGIN_KEY_CONFIG,
  NO_LIMITS,
} from './lib/login.mjs';

describe('QR login: rate limits', () => {
  const servers = [];
  after(() => Promise.all(servers.map((s) => s.stop())));
  const start = async (login) => {
    const s = await startBalanced({ users: [ALICE], login });
    servers.push(s);
    return s;
  };

  it('starts and sign-ins per IP answer 429 with Retry-After', async () => {
    const h = await start('starts_per_minute = 3\nsignins_per_minute = 3');
    for (let i = 0; i < 3; i++) {
      const r = await new Client(h.url).post('/login/start');
      assert.equal(r.status, 201, `start ${i + 1}: ${show(r)}`);
    }
    const fourth = await new Client(h.url).post('/login/start');
    assertRetryAfter(fourth, 'the fourth start in a minute', 'starts_per_minute',
      /^Too many sign-ins were started from this address: at most 3 a minute/);
    assert.equal(fourth.setCookie('herald_login'), undefined);

    for (let i = 0; i < 3; i++) {
      const r = await new Client(h.url).post('/signin', { name: 'alice', password: `guess ${i}` });
      assert.equal(r.status, 401, `sign-in ${i + 1}: ${show(r)}`);
    }
    const right = await new Client(h.url).post('/signin', ALICE);
    assertRetryAfter(right, 'the fourth sign-in in a minute, even with the right password', 'signins_per_minute',
      /^Too many sign-in attempts from this address: at most 3 a minute/);
    assert.equal(right.setCookie('herald_session'), undefined);
  });

  it('code attempts per account answer 429 with Retry-After', async () => {
    const h = await start('code_attempts_per_minute = 3');
    const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
    for (let i = 0; i < 3; i++) {
      const r = await phone.post(i % 2 ? '/login/device' : '/login/scan', i % 2 ? { user_code: madeUpUserCode() } : { c: madeUpSecret() });
      assert.equal(r.status, 404, `attempt ${i + 1}: ${show(r)}`);
    }
    const fourth = await phone.post('/login/scan', { c: madeUpSecret() });
    assertRetryAfter(fourth, 'the fourth code attempt in a minute', 'code_attempts_per_minute',
      /^Too many codes were tried: at most 3 a minute for each account and each address/);
  });

  it('approval prompts per account answer 429 with Retry-After', async () => {
    const h = await start('prompts_per_minute = 2');
    const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
    for (let i = 0; i < 2; i++) {
      const { qr } = await startScreen(h.url);
      const r = await phone.post('/login/scan', { c: qr });
      assert.equal(r.status, 200, `scan ${i + 1}: ${show(r)}`);
    }
    const { screen, qr } = await startScreen(h.url);
    const third = await phone.post('/login/scan', { c: qr });
    assertRetryAfter(third, 'the third prompt in a minute', 'prompts_per_minute',
      /^This account was asked to approve too many sign-ins: at most 2 a minute/);
    assert.doesNotMatch(third.json.message, /attempt/i, 'no attempt was wrong: it says so by not blaming one');
    assert.equal((await screen.get('/login/status')).json?.state, 'pending', 'the refused scan bound nothing');
  });

  // Guesses are bounded by code_attempts_per_minute; prompts_per_minute counts only prompts (good codes).
  it('wrong codes count as code attempts, not prompts: a good code still prompts after them', async () => {
    const h = await start('code_attempts_per_minute = 6\nprompts_per_minute = 2');
    const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
    for (let i = 0; i < 5; i++) {
      const r = await phone.post(i % 2 ? '/login/device' : '/login/scan', i % 2 ? { user_code: madeUpUserCode() } : { c: madeUpSecret() });
      assert.equal(r.status, 404, `wrong code ${i + 1} of 5 (code_attempts_per_minute = 6): ${show(r)}`);
    }
    const { qr } = await startScreen(h.url);
    const good = await phone.post('/login/scan', { c: qr });
    assert.equal(good.status, 200, `a good code, the 6th attempt and the 1st prompt: ${show(good)}`);
    const seventh = await phone.post('/login/scan', { c: madeUpSecret() });
    assertRetryAfter(seventh, 'the 7th code attempt', 'code_attempts_per_minute', /^Too many codes were tried/);
  });

  // Strangers guessing alice's password from other addresses must not lock alice out; one address guessing
  // is still refused. 127.0.0.2 … are loopback addresses of their own.
  it('wrong passwords for alice from other addresses only slow her own sign-in; one address is refused', async () => {
    const h = await start('signins_per_minute = 3');
    const strangers = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
    const guesses = await Promise.all(
      strangers.flatMap((address) =>
        [1, 2, 3].map((i) => postFrom(h.url, address, '/signin', { name: 'alice', password: `guess ${i}` }))),
    );
    for (const g of guesses) assert.equal(g.status, 401, `every guess is checked (slowed, not refused): ${show(g)}`);

    const began = Date.now();
    const own = await postFrom(h.url, '127.0.0.9', '/signin', ALICE);
    const took = Date.now() - began;
    assert.equal(own.status, 200, `alice from a fresh address after 12 wrong guesses elsewhere: ${show(own)}`);
    assert.deepEqual(own.json, { user: 'alice' });
    assert.ok(took >= 4000, `the name's budget is spent, so the check waited (${took} ms)`);
    assert.ok(took < 9000, `… but at most 5 s (${took} ms)`);

    // However long the slowed checks took (the address's budget refills one a 20 s), a burst from one address
    // is refused: each attempt takes from the budget before its check waits.
    const burst = await Promise.all(
      [1, 2, 3, 4].map((i) => postFrom(h.url, '127.0.0.2', '/signin', { name: 'alice', password: `burst ${i}` })),
    );
    const refused = burst.find((r) => r.status === 429);
    assert.ok(refused, `a burst of 4 from one address: ${burst.map((r) => r.status)}`);
    assertRetryAfter(refused, 'sign-ins past the address budget', 'signins_per_minute',
      /^Too many sign-in attempts from this address: at most 3 a minute/);
  });

  // The per-name slowdown is per name: guesses on bob's name from everywhere leave alice's sign-in as fast as ever.
  it('guesses on one name do not slow the sign-in of another', async () => {
    const h = await start('signins_per_minute = 3');
    const strangers = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
    const guesses = await Promise.all(
      strangers.flatMap((address) =>
        [1, 2, 3].map((i) => postFrom(h.url, address, '/signin', { name: 'bob', password: `guess ${i}` }))),
    );
    for (const g of guesses) assert.equal(g.status, 401, show(g));
    const began = Date.now();
    const own = await postFrom(h.url, '127.0.0.9', '/signin', ALICE);
    const took = Date.now() - began;
    assert.equal(own.status, 200, show(own));
    assert.ok(took < 3000, `alice's name has its whole budget: no wait (${took} ms; a slowed check waits 4-5 s)`);
  });
});

describe('server-to-server approval needs a key for _login, never an address', () => {
  const servers = [];
  after(() => Promise.all(servers.map((s) => s.stop())));
  const approveWith = (h, start, headers) =>
    request(`${h.url}/api/login/approve`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify({ user: 'ext-42', user_code: start.user_code }),
    });

  it('with no key configured, nobody approves, even from loopback', async () => {
    const h = await startBalanced({ login: NO_LIMITS });
    servers.push(h);
    const { screen, start } = await startScreen(h.url);
    assertError(await approveWith(h, start, {}), 401, 'unauthorized', 'no key configured, loopback caller');
    assertError(await approveWith(h, start, { Authorization: 'Bearer anything' }), 401, 'unauthorized', 'any bearer');
    assert.equal((await screen.get('/login/status')).json?.state, 'pending', 'nothing was approved');
  });

  it('a key for every namespace ("*") is not a key for the login', async () => {
    const h = await startBalanced({
      config: '[[publish_keys]]\nkey = "any-ns"\nnamespaces = ["*"]\n' + LOGIN_KEY_CONFIG,
      login: NO_LIMITS,
    });
    servers.push(h);
    const { start } = await startScreen(h.url);
    assertError(await approveWith(h, start, { Authorization: 'Bearer any-ns' }), 403, 'forbidden', '"*" key');
    const ok = await approveWith(h, start, { Authorization: `Bearer ${LOGIN_KEY}` });
    assert.equal(ok.status, 200, show(ok));
  });

  it('refuses a missing or wrong publish_key, accepts the right one', async () => {
    const h = await startBalanced({ config: 'publish_key = "k"', login: NO_LIMITS });
    servers.push(h);
    const { screen, start } = await startScreen(h.url);
    const events = await listenAsScreen(screen, 'sse');
    try {
      assertError(await approveWith(h, start, {}), 401, 'unauthorized', 'no key (even from loopback)');
      assertError(await approveWith(h, start, { Authorization: 'Bearer not-k' }), 403, 'forbidden', 'a wrong key');
      assert.equal((await screen.get('/login/status')).json?.state, 'pending', 'the refused calls approved nothing');
      const ok = await approveWith(h, start, { Authorization: 'Bearer k' });
      assert.equal(ok.status, 200, show(ok));
      await events.next('approved');
    } finally {
      events.close();
    }
    const ex = await screen.post('/login/exchange');
    assert.deepEqual(ex.json, { user: 'ext-42' }, show(ex));
  });
});
