// The device authorization grant (RFC 8628, docs/login.md): openid-client completes it against herald;
// a hand-driven client meets every token-endpoint error; the metadata document; user-code entry; and
// herald's extension, a device that waits on /login/events with its device_code instead of polling.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import * as client from 'openid-client';
import { openWS, request, startBalanced } from './lib/herald.mjs';
import { ALICE, Client, DEVICE_GRANT, LOGIN_KEY, LOGIN_KEY_CONFIG, NO_LIMITS, listen, madeUpSecret, phoneFor, postForm, show } from './lib/login.mjs';

const INTERVAL_MS = 1000;

/** The RFC 8628 wait between two token requests: the protocol's own pacing, not a synchronisation. */
const pace = (seconds = 1) => delay(seconds * INTERVAL_MS + 150);

function assertOAuthError(r, status, error, what = '') {
  assert.equal(r.status, status, `${what}: expected ${status} ${error}, got ${show(r)}`);
  assert.equal(r.json?.error, error, `${what}: ${r.text}`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, `${what}: JSON`);
  assert.match(r.headers.get('cache-control') ?? '', /no-store/, `${what}: Cache-Control: no-store`);
}

describe('device authorization grant', () => {
  let h;
  const deviceAuthorization = (form = {}) =>
    postForm(`${h.url}/oauth/device_authorization`, { client_id: 'herald-cli', ...form });
  const token = (device_code, form = {}) =>
    postForm(`${h.url}/oauth/token`, { grant_type: DEVICE_GRANT, device_code, client_id: 'herald-cli', ...form });
  const newDevice = async () => {
    const r = await deviceAuthorization();
    assert.equal(r.status, 200, show(r));
    return r.json;
  };
  const approveAs = async (userCode, decision = 'approve') => {
    const r = await request(`${h.url}/api/login/approve`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${LOGIN_KEY}` },
      body: JSON.stringify({ user: 'alice', user_code: userCode, ...(decision === 'deny' ? { decision } : {}) }),
    });
    assert.equal(r.status, 200, show(r));
    return r;
  };

  before(async () => {
    h = await startBalanced({
      users: [ALICE],
      config: LOGIN_KEY_CONFIG,
      login: `${NO_LIMITS}\npoll_interval_seconds = 1\noauth_clients = ["herald-cli", "other-cli"]`,
    });
  });
  after(() => h?.stop());

  it('openid-client completes the grant, approved at /device by a signed-in browser', async () => {
    const config = new client.Configuration(
      {
        issuer: h.url,
        device_authorization_endpoint: `${h.url}/oauth/device_authorization`,
        token_endpoint: `${h.url}/oauth/token`,
      },
      'herald-cli',
      undefined,
      client.None(),
    );
    client.allowInsecureRequests(config);
    const response = await client.initiateDeviceAuthorization(config, { scope: 'herald' });
    assert.match(response.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    assert.equal(response.verification_uri, `${h.url}/device`);
    assert.equal(response.verification_uri_complete, `${h.url}/device?user_code=${response.user_code}`);
    assert.equal(response.interval, 1);
    assert.ok(response.expires_in > 0 && response.expires_in <= 300);

    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 20000);
    const tokens = client.pollDeviceAuthorizationGrant(config, response, undefined, { signal: ac.signal });
    tokens.catch(() => {});
    try {
      // Another browser: signed out, /device sends it to sign in first.
      const browser = new Client(h.url, { name: 'browser' });
      const entry = await browser.get(`/device?user_code=${response.user_code}`);
      assert.equal(entry.status, 303, show(entry));
      assert.equal(new URL(entry.headers.get('location'), h.url).pathname, '/signin.html');
      const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
      const page = await phone.get(`/device?user_code=${response.user_code}`);
      assert.equal(page.status, 200, `the signed-in entry page: ${show(page)}`);
      const found = await phone.post('/login/device', { user_code: response.user_code });
      assert.equal(found.status, 200, show(found));
      assert.equal(found.json.numbers, null, 'no numbers to pick for a typed code');
      assert.equal(typeof found.json.id, 'string');
      const decide = await phone.post('/login/decide', { id: found.json.id, decision: 'approve' });
      assert.equal(decide.status, 200, show(decide));
      assert.deepEqual(decide.json, { state: 'approved' });

      const result = await tokens;
      assert.equal(typeof result.access_token, 'string');
      assert.equal(result.token_type.toLowerCase(), 'bearer');
      assert.equal(typeof result.expires_in, 'number');

      const me = await request(`${h.url}/me`, { headers: { Authorization: `Bearer ${result.access_token}` } });
      assert.equal(me.status, 200, show(me));
      assert.deepEqual(me.json, { user: 'alice' });
      const bad = await request(`${h.url}/me`, { headers: { Authorization: `Bearer ${madeUpSecret()}` } });
      assert.equal(bad.status, 401, show(bad));
      const withDeviceCode = await request(`${h.url}/me`, { headers: { Authorization: `Bearer ${response.device_code}` } });
      assert.equal(withDeviceCode.status, 401, `a device_code is not an access token: ${show(withDeviceCode)}`);
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
  });

  it('openid-client completes the grant approved server-to-server', async () => {
    const config = new client.Configuration(
      {
        issuer: h.url,
        device_authorization_endpoint: `${h.url}/oauth/device_authorization`,
        token_endpoint: `${h.url}/oauth/token`,
      },
      'herald-cli',
      undefined,
      client.None(),
    );
    client.allowInsecureRequests(config);
    const response = await client.initiateDeviceAuthorization(config, {});
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 20000);
    try {
      const tokens = client.pollDeviceAuthorizationGrant(config, response, undefined, { signal: ac.signal });
      tokens.catch(() => {});
      const r = await request(`${h.url}/api/login/approve`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${LOGIN_KEY}` },
        body: JSON.stringify({ user: 'ext-7', user_code: response.user_code }),
      });
      assert.equal(r.status, 200, show(r));
      const result = await tokens;
      const me = await request(`${h.url}/me`, { headers: { Authorization: `Bearer ${result.access_token}` } });
      assert.deepEqual(me.json, { user: 'ext-7' }, show(me));
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
  });

  it('device_authorization: the answer, and invalid_client for an unknown client', async () => {
    const r = await deviceAuthorization({ scope: 'herald' });
    assert.equal(r.status, 200, show(r));
    assert.match(r.headers.get('cache-control') ?? '', /no-store/);
    const d = r.json;
    for (const k of ['device_code', 'user_code', 'verification_uri', 'verification_uri_complete']) {
      assert.equal(typeof d[k], 'string', `${k} in ${r.text}`);
    }
    assert.ok(d.device_code.length >= 32, 'a long device_code');
    assert.equal(d.expires_in, 300);
    assert.equal(d.interval, 1);

    const unknown = await postForm(`${h.url}/oauth/device_authorization`, { client_id: 'not-a-client' });
    assertOAuthError(unknown, 401, 'invalid_client', 'unknown client_id');
    const missing = await postForm(`${h.url}/oauth/device_authorization`, {});
    assert.ok([400, 401].includes(missing.status), `no client_id: ${show(missing)}`);
    assert.ok(['invalid_client', 'invalid_request'].includes(missing.json?.error), missing.text);
  });

  it('token endpoint: authorization_pending, then slow_down for polling too fast (and the interval grows)', async () => {
    const d = await newDevice();
    await pace();
    const pending = await token(d.device_code);
    assertOAuthError(pending, 400, 'authorization_pending', 'before approval');
    const tooFast = await token(d.device_code);
    assertOAuthError(tooFast, 400, 'slow_down', 'a second request at once');
    // The interval is now 1 + 5 s: a request after the old interval is still too fast.
    await pace();
    const stillTooFast = await token(d.device_code);
    assertOAuthError(stillTooFast, 400, 'slow_down', 'after the old interval, before the new one');
  });

  it('token endpoint: access_denied after a denial', async () => {
    const d = await newDevice();
    await approveAs(d.user_code, 'deny');
    await pace();
    const r = await token(d.device_code);
    assertOAuthError(r, 400, 'access_denied', 'after deny');
  });

  it('token endpoint: invalid_grant for an unknown code, another client\'s code and a used code', async () => {
    const unknown = await token(madeUpSecret());
    assertOAuthError(unknown, 400, 'invalid_grant', 'unknown device_code');

    const d = await newDevice();
    await approveAs(d.user_code);
    await pace();
    const other = await token(d.device_code, { client_id: 'other-cli' });
    assertOAuthError(other, 400, 'invalid_grant', 'another client\'s device_code');
    await pace();
    const ok = await token(d.device_code);
    assert.equal(ok.status, 200, show(ok));
    assert.equal(typeof ok.json.access_token, 'string');
    assert.equal(ok.json.token_type, 'Bearer');
    assert.equal(typeof ok.json.expires_in, 'number');
    assert.match(ok.headers.get('content-type') ?? '', /^application\/json/);
    assert.match(ok.headers.get('cache-control') ?? '', /no-store/);
    await pace();
    const reused = await token(d.device_code);
    assertOAuthError(reused, 400, 'invalid_grant', 'a used device_code');
  });

  it('token endpoint: invalid_request, invalid_client and unsupported_grant_type', async () => {
    const d = await newDevice();
    const noCode = await postForm(`${h.url}/oauth/token`, { grant_type: DEVICE_GRANT, client_id: 'herald-cli' });
    assertOAuthError(noCode, 400, 'invalid_request', 'no device_code');
    const repeated = new URLSearchParams([
      ['grant_type', DEVICE_GRANT],
      ['device_code', d.device_code],
      ['device_code', d.device_code],
      ['client_id', 'herald-cli'],
    ]);
    assertOAuthError(await postForm(`${h.url}/oauth/token`, repeated), 400, 'invalid_request', 'device_code twice');
    const noGrant = await postForm(`${h.url}/oauth/token`, { device_code: d.device_code, client_id: 'herald-cli' });
    assertOAuthError(noGrant, 400, 'invalid_request', 'no grant_type');
    const badClient = await token(d.device_code, { client_id: 'not-a-client' });
    assertOAuthError(badClient, 401, 'invalid_client', 'unknown client_id on /oauth/token');
    const password = await postForm(`${h.url}/oauth/token`, {
      grant_type: 'password',
      username: 'alice',
      password: ALICE.password,
      client_id: 'herald-cli',
    });
    assertOAuthError(password, 400, 'unsupported_grant_type', 'grant_type=password');
  });

  it('the metadata document names the endpoints', async () => {
    const r = await request(`${h.url}/.well-known/oauth-authorization-server`);
    assert.equal(r.status, 200, show(r));
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    const m = r.json;
    assert.equal(m.issuer, h.url);
    assert.equal(m.device_authorization_endpoint, `${h.url}/oauth/device_authorization`);
    assert.equal(m.token_endpoint, `${h.url}/oauth/token`);
    assert.ok(m.grant_types_supported.includes(DEVICE_GRANT), r.text);
    assert.deepEqual(m.token_endpoint_auth_methods_supported, ['none']);
  });

  it('user-code entry ignores dashes, spaces and case', async () => {
    const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
    for (const mangle of [
      (c) => c.replace('-', '').toLowerCase(),
      (c) => ` ${c.slice(0, 2)} ${c.slice(2).toLowerCase()} `,
      (c) => c.replace('-', '--').replace(/^(.)/, (x) => x.toLowerCase()),
    ]) {
      const d = await newDevice();
      const typed = mangle(d.user_code);
      const r = await phone.post('/login/device', { user_code: typed });
      assert.equal(r.status, 200, `typed ${JSON.stringify(typed)} for ${d.user_code}: ${show(r)}`);
      assert.equal(r.json.numbers, null);
    }
  });

  for (const transport of ['longpoll', 'sse', 'websocket']) {
    it(`a device waits on /login/events with its device_code (${transport}), then one token request succeeds`, async () => {
      const d = await newDevice();
      const auth = { Authorization: `Bearer ${d.device_code}` };
      // A device is no browser: its WebSocket sends no Origin.
      const events = await listen(h.url, transport, auth, { origin: null });
      try {
        const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
        const found = await phone.post('/login/device', { user_code: d.user_code });
        assert.equal(found.status, 200, show(found));
        const scanned = await events.next('scanned');
        assert.deepEqual(scanned.data, { state: 'scanned', approver: 'a***' });
        const decide = await phone.post('/login/decide', { id: found.json.id, decision: 'approve' });
        assert.equal(decide.status, 200, show(decide));
        const approved = await events.next('approved');
        assert.deepEqual(approved.data, { state: 'approved' });
        assert.ok(!events.raw.join('\n').includes(d.device_code), 'events never carry the device_code');
      } finally {
        events.close();
      }
      const r = await token(d.device_code);
      assert.equal(r.status, 200, `the one token request after hearing approved: ${show(r)}`);
      const me = await request(`${h.url}/me`, { headers: { Authorization: `Bearer ${r.json.access_token}` } });
      assert.deepEqual(me.json, { user: 'alice' }, show(me));
    });
  }

  // Each flow's secret works only at its own endpoints: a device_code is no screen cookie (it must not buy
  // a 7-day browser session at /login/exchange, skipping the client check), and a screen's cookie is no
  // device_code (it must not buy an access token).
  it('a device_code opens none of the QR screen\'s routes, and a screen\'s cookie is no device_code', async () => {
    const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
    const approveTyped = async (userCode) => {
      const found = await phone.post('/login/device', { user_code: userCode });
      assert.equal(found.status, 200, show(found));
      const decide = await phone.post('/login/decide', { id: found.json.id, decision: 'approve' });
      assert.equal(decide.status, 200, show(decide));
    };

    const d = await newDevice();
    await approveTyped(d.user_code);
    const asCookie = new Client(h.url);
    asCookie.setCookie('herald_login', d.device_code, '/login');
    const asBearer = { headers: { Authorization: `Bearer ${d.device_code}` } };
    for (const [what, c, opts] of [
      ['cookie', asCookie, {}],
      ['bearer', new Client(h.url), asBearer],
    ]) {
      const ex = await c.post('/login/exchange', undefined, opts);
      assert.equal(ex.status, 401, `exchange with the device_code as a ${what}: ${show(ex)}`);
      assert.equal(ex.setCookie('herald_session'), undefined, `no session for a device_code as a ${what}`);
      const cancel = await c.post('/login/cancel', undefined, opts);
      assert.equal(cancel.status, 401, `cancel with the device_code as a ${what}: ${show(cancel)}`);
      const svg = await c.get('/login/qr.svg', opts);
      assert.notEqual(svg.status, 200, `qr.svg with the device_code as a ${what}: ${show(svg)}`);
    }
    const cookieHeader = { Cookie: asCookie.cookieHeader('/login/events') };
    for (const path of ['/login/status', '/login/events']) {
      const r = await request(`${h.url}${path}`, { headers: cookieHeader });
      assert.equal(r.status, 401, `${path} with the device_code as the screen cookie: ${show(r)}`);
    }
    // Where it belongs the device_code works, and the refused calls used nothing up.
    const status = await request(`${h.url}/login/status`, asBearer);
    assert.equal(status.json?.state, 'approved', show(status));
    const granted = await token(d.device_code);
    assert.equal(granted.status, 200, show(granted));

    const screen = new Client(h.url);
    const start = await screen.post('/login/start');
    assert.equal(start.status, 201, show(start));
    const cookie = screen.cookie('herald_login');
    const found = await phone.post('/login/device', { user_code: start.json.user_code });
    assert.equal(found.status, 200, show(found));
    const approved = await phone.post('/login/decide', { id: found.json.id, decision: 'approve' });
    assert.equal(approved.status, 200, show(approved));
    assertOAuthError(await token(cookie), 400, 'invalid_grant', 'a screen cookie as the device_code');
    for (const path of ['/login/status', '/login/events']) {
      const r = await request(`${h.url}${path}`, { headers: { Authorization: `Bearer ${cookie}` } });
      assert.equal(r.status, 401, `${path} with the screen cookie as a bearer device_code: ${show(r)}`);
    }
    const ex = await screen.post('/login/exchange');
    assert.equal(ex.status, 200, `the screen itself still signs in: ${show(ex)}`);
  });

  it('/login/events refuses a made-up device_code; its WebSocket refuses a foreign Origin', async () => {
    const bad = await request(`${h.url}/login/events`, { headers: { Authorization: `Bearer ${madeUpSecret()}` } });
    assert.equal(bad.status, 401, show(bad));
    assert.equal(bad.json?.error, 'unauthorized');
    const d = await newDevice();
    const ws = openWS(`${h.wsUrl}/login/events`, {
      headers: { Authorization: `Bearer ${d.device_code}`, Origin: 'http://evil.example' },
    });
    await assert.rejects(ws.opened, (err) => err.status === 403, 'events WebSocket from a foreign origin');
  });
});

describe('device authorization grant: expiry', () => {
  let h;
  before(async () => {
    h = await startBalanced({ users: [ALICE], login: `${NO_LIMITS}\npoll_interval_seconds = 1\nrequest_ttl_seconds = 2` });
  });
  after(() => h?.stop());

  it('expired_token once the device code has expired (heard as expired on /login/events)', async () => {
    const r = await postForm(`${h.url}/oauth/device_authorization`, { client_id: 'herald-cli' });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.expires_in, 2);
    const events = await listen(h.url, 'longpoll', { Authorization: `Bearer ${r.json.device_code}` });
    try {
      const e = await events.next('expired', { timeoutMs: 8000 });
      assert.deepEqual(e.data, { state: 'expired' });
    } finally {
      events.close();
    }
    const t = await postForm(`${h.url}/oauth/token`, {
      grant_type: DEVICE_GRANT,
      device_code: r.json.device_code,
      client_id: 'herald-cli',
    });
    assertOAuthError(t, 400, 'expired_token', 'after expiry');
  });
});
