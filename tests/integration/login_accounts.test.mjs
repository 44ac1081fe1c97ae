// Accounts and sessions (docs/login.md): signing in (one answer for a wrong password and an unknown
// name), the session cookie, /me and /session, logout, and accounts and sessions surviving a restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBalanced } from './lib/herald.mjs';
import {
  Client,
  assertError,
  phoneFor,
  sessionClient,
  show,
  ALICE,
  BOB,
  FOREIGN_ORIGIN,
  LOGIN_KEY_CONFIG,
  NO_LIMITS,
} from './lib/login.mjs';

describe('accounts and sessions', () => {
  let h;
  before(async () => {
    h = await startBalanced({ users: [ALICE, BOB], config: LOGIN_KEY_CONFIG, login: NO_LIMITS });
  });
  after(() => h?.stop());

  it('sign-in: a wrong password and an unknown name get the same 401', async () => {
    const wrong = await new Client(h.url).post('/signin', { name: 'alice', password: 'not it' });
    const unknown = await new Client(h.url).post('/signin', { name: 'nobody-here', password: 'not it' });
    assert.equal(wrong.status, 401, show(wrong));
    assert.equal(unknown.status, 401, show(unknown));
    assert.equal(wrong.json?.error, 'bad_credentials', wrong.text);
    assert.equal(unknown.text, wrong.text, 'byte-for-byte the same body');
    assert.equal(wrong.setCookie('herald_session'), undefined);
    assert.equal(unknown.setCookie('herald_session'), undefined);
    const foreign = await new Client(h.url, { origin: FOREIGN_ORIGIN }).post('/signin', ALICE);
    assertError(foreign, 403, 'forbidden', 'sign-in from a foreign origin');

    const ok = await new Client(h.url).post('/signin', ALICE);
    assert.equal(ok.status, 200, show(ok));
    assert.deepEqual(ok.json, { user: 'alice' });
    const sc = ok.setCookie('herald_session');
    assert.equal(sc.attrs.httponly, true, sc.line);
    assert.equal(String(sc.attrs.samesite).toLowerCase(), 'lax', sc.line);
    assert.equal(sc.attrs.path, '/', sc.line);
    const anon = await new Client(h.url).get('/me');
    assertError(anon, 401, 'unauthorized', 'GET /me without a session');
    // A page's "am I signed in?" is never an error: the same answer as /me, or user null.
    const anonSession = await new Client(h.url).get('/session');
    assert.equal(anonSession.status, 200, show(anonSession));
    assert.deepEqual(anonSession.json, { user: null });
    const mine = await sessionClient(h.url, sc.value).get('/session');
    assert.equal(mine.status, 200, show(mine));
    assert.equal(mine.json.user, 'alice');
    assert.deepEqual(mine.json, (await sessionClient(h.url, sc.value).get('/me')).json, 'with the CSRF token, as /me');
    assert.equal(mine.headers.get('cache-control'), 'no-store');
    // Every answer of the login routes, errors and refused methods included, is kept by no cache; a
    // static file asked for on the same connection afterwards is not.
    const client = new Client(h.url);
    for (const [what, r] of [
      ['GET /me without a session', anon],
      ['GET /session without a session', anonSession],
      ['GET /login/start (a refused method)', await client.get('/login/start')],
      ['GET /login/status without a login cookie', await client.get('/login/status')],
    ]) {
      assert.equal(r.headers.get('cache-control'), 'no-store', `${what}: ${show(r)}`);
    }
    const page = await client.get('/index.html');
    assert.equal(page.status, 200, show(page));
    assert.notEqual(page.headers.get('cache-control'), 'no-store', 'a static page after a login answer');
  });

  it('logout ends the session', async () => {
    const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
    const token = phone.cookie('herald_session');
    const out = await phone.post('/logout');
    assert.equal(out.status, 204, show(out));
    assert.equal(phone.cookie('herald_session'), undefined, 'the cookie is cleared');
    const me = await sessionClient(h.url, token).get('/me');
    assertError(me, 401, 'unauthorized', 'the old session after logout');
  });});

describe('accounts and sessions survive a restart', () => {
  let dir;
  let h;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'herald-login-restart-'));
  });
  after(async () => {
    await h?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a session from before the restart still works, and so does signing in', async () => {
    h = await startBalanced({ dir, users: [ALICE] });
    const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
    const token = phone.cookie('herald_session');
    await h.stop();

    h = await startBalanced({ dir });
    const me = await sessionClient(h.url, token).get('/me');
    assert.equal(me.status, 200, show(me));
    assert.equal(me.json.user, 'alice');
    const again = await new Client(h.url).post('/signin', ALICE);
    assert.equal(again.status, 200, `the account survived: ${show(again)}`);
  });
});
