// QR login over HTTP (docs/login.md), the flow: the screen starts a request, a signed-in phone scans and
// approves, the screen hears it on /login/events (each of the four transports) and exchanges its login
// cookie for a session. Then what must be refused: the _login namespace on /sub, /pub and /ws; missing or
// foreign cookies; foreign origins; missing CSRF; replays and races; session fixation; wrong numbers;
// denial; expiry and rotation; and no answer that tells an unknown code from an expired or used one.
// Rate limits and approval keys: login_abuse.test.mjs; accounts and sessions: login_accounts.test.mjs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSSE, openWS, request, startBalanced } from './lib/herald.mjs';
import {
  Client,
  assertError,
  assertJsonHas,
  listenAsScreen,
  loginCookieClient,
  madeUpSecret,
  madeUpUserCode,
  phoneFor,
  postForm,
  scanAndApprove,
  sessionClient,
  show,
  signIn,
  startScreen,
  ALICE,
  BOB,
  FOREIGN_ORIGIN,
  INVALID_CODE,
  LOGIN_KEY,
  LOGIN_KEY_CONFIG,
  NO_LIMITS,
  TRANSPORTS,
  USER_CODE_RE,
} from './lib/login.mjs';

describe('QR login', () => {
  let h;
  before(async () => {
    h = await startBalanced({
      users: [ALICE, BOB],
      config: LOGIN_KEY_CONFIG,
      login: `${NO_LIMITS}\nallowed_origins = ["https://app.example"]`,
    });
  });
  after(() => h?.stop());

  for (const transport of TRANSPORTS) {
    it(`the whole flow, heard over ${transport}`, async () => {
      const { screen, res, start, qr } = await startScreen(h.url);

      // The start answer and its cookie.
      assert.equal(res.status, 201);
      assert.equal(typeof start.id, 'string');
      assert.ok(start.id.length > 0);
      assert.ok(start.qr_url.startsWith(`${h.url}/login/approve?c=`), `qr_url ${start.qr_url}`);
      assert.match(start.user_code, USER_CODE_RE);
      assert.ok(Number.isInteger(start.match_number) && start.match_number >= 10 && start.match_number <= 99, `match_number ${start.match_number}`);
      assert.ok(start.expires_in > 0 && start.expires_in <= 300, `expires_in ${start.expires_in}`);
      assert.equal(typeof start.interval, 'number');
      assert.equal(start.events, '/login/events');
      const lc = res.setCookie('herald_login');
      assert.ok(lc, `a herald_login cookie is set: ${JSON.stringify(res.setCookies.map((c) => c.line))}`);
      assert.ok(lc.value.length >= 32, 'the login cookie carries a long secret');
      assert.equal(lc.attrs.httponly, true, `HttpOnly: ${lc.line}`);
      assert.equal(String(lc.attrs.samesite).toLowerCase(), 'strict', `SameSite=Strict: ${lc.line}`);
      assert.equal(lc.attrs.path, '/login', `Path=/login: ${lc.line}`);
      assert.equal(lc.attrs.secure, undefined, 'no Secure flag over plain http');
      assert.ok(!lc.value.includes(qr) && !qr.includes(lc.value), 'the QR secret shares nothing with the poll secret');

      // The QR image and the status.
      const svg = await screen.get('/login/qr.svg');
      assert.equal(svg.status, 200, show(svg));
      assert.match(svg.headers.get('content-type') ?? '', /^image\/svg\+xml/);
      assert.match(svg.headers.get('cache-control') ?? '', /no-store/);
      assert.match(svg.text, /<svg[\s>]/);
      const status = await screen.get('/login/status');
      assert.equal(status.status, 200, show(status));
      assert.equal(status.json.id, start.id);
      assert.equal(status.json.state, 'pending');
      assert.equal(typeof status.json.expires_in, 'number');

      const events = await listenAsScreen(screen, transport);
      try {
        // The phone: signed out, the QR link sends it to sign in first.
        const phone = new Client(h.url, { name: 'phone' });
        const landing = await phone.get(`/login/approve?c=${encodeURIComponent(qr)}`);
        assert.equal(landing.status, 303, show(landing));
        const loc = new URL(landing.headers.get('location'), h.url);
        assert.equal(loc.pathname, '/signin.html');
        assert.equal(new URL(loc.searchParams.get('next'), h.url).searchParams.get('c'), qr, `next= carries the QR link: ${loc}`);
        await signIn(phone, ALICE.name, ALICE.password);
        const page = await phone.get(`/login/approve?c=${encodeURIComponent(qr)}`);
        assert.equal(page.status, 200, `signed in, the approval page: ${show(page)}`);
        assert.match(page.headers.get('content-type') ?? '', /^text\/html/);

        const scan = await phone.post('/login/scan', { c: qr });
        assert.equal(scan.status, 200, show(scan));
        assert.equal(scan.json.id, start.id);
        assert.equal(scan.json.numbers.length, 3);
        assert.ok(scan.json.numbers.includes(start.match_number), `numbers ${scan.json.numbers} include ${start.match_number}`);
        assert.equal(new Set(scan.json.numbers).size, 3, 'three different numbers');
        assert.equal(typeof scan.json.requester, 'object');
        assert.equal(scan.json.requester.ip, '127.0.0.1');
        assert.equal(typeof scan.json.expires_in, 'number');

        const scanned = await events.next('scanned');
        assert.deepEqual(scanned.data, { state: 'scanned', approver: 'a***' });

        const decide = await phone.post('/login/decide', { id: scan.json.id, decision: 'approve', number: start.match_number });
        assert.equal(decide.status, 200, show(decide));
        assert.deepEqual(decide.json, { state: 'approved' });
        const approved = await events.next('approved');
        assert.deepEqual(approved.data, { state: 'approved' });

        // The screen takes its session.
        const ex = await screen.post('/login/exchange');
        assert.equal(ex.status, 200, show(ex));
        assert.deepEqual(ex.json, { user: 'alice' });
        const sc = ex.setCookie('herald_session');
        assert.ok(sc && sc.value, `a herald_session cookie: ${JSON.stringify(ex.setCookies.map((c) => c.line))}`);
        assert.equal(sc.attrs.httponly, true, sc.line);
        assert.equal(String(sc.attrs.samesite).toLowerCase(), 'lax', sc.line);
        assert.equal(sc.attrs.path, '/', sc.line);
        assert.notEqual(sc.value, phone.cookie('herald_session'), 'the screen gets a session of its own');
        const cleared = ex.setCookie('herald_login');
        assert.ok(cleared, 'the login cookie is cleared');
        assert.equal(screen.cookie('herald_login'), undefined, `login cookie cleared: ${cleared.line}`);

        const me = await sessionClient(h.url, sc.value).get('/me');
        assert.equal(me.status, 200, show(me));
        assert.equal(me.json.user, 'alice');
        assert.equal(typeof me.json.csrf, 'string');
      } finally {
        events.close();
      }
    });
  }

  it('events never carry a secret, a token or a session', async () => {
    const { screen, qr, start, res } = await startScreen(h.url);
    const loginCookie = res.setCookie('herald_login').value;
    const listeners = await Promise.all(TRANSPORTS.map((t) => listenAsScreen(screen, t)));
    try {
      const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
      await scanAndApprove(phone, qr, start.match_number);
      await Promise.all(listeners.map((l) => l.next('approved')));
      const ex = await screen.post('/login/exchange');
      assert.equal(ex.status, 200, show(ex));
      const session = ex.setCookie('herald_session').value;
      const secrets = {
        'QR secret': qr,
        'login cookie': loginCookie,
        'screen session': session,
        'phone session': phone.cookie('herald_session'),
        'phone CSRF token': phone.csrf,
      };
      for (const [i, l] of listeners.entries()) {
        const heard = l.raw.join('\n');
        assert.match(heard, /approved/, `${TRANSPORTS[i]} heard the events`);
        assert.ok(!heard.includes('"alice"'), `${TRANSPORTS[i]}: the approver is masked: ${heard}`);
        for (const [name, secret] of Object.entries(secrets)) {
          assert.ok(secret && secret.length >= 16, `${name} is known to the test`);
          assert.ok(!heard.includes(secret), `${TRANSPORTS[i]} heard the ${name}: ${heard}`);
        }
      }
    } finally {
      for (const l of listeners) l.close();
    }
  });

  it('/login/events resumes like /sub: last, since, Last-Event-ID, format=envelope', async () => {
    const { screen, start, qr } = await startScreen(h.url);
    const cookie = { Cookie: screen.cookieHeader('/login/events') };
    const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
    await scanAndApprove(phone, qr, start.match_number);

    const all = await request(`${h.url}/login/events?last=10`, { headers: cookie });
    assert.equal(all.status, 200, show(all));
    assert.deepEqual(all.json.messages.map((m) => m.event), ['scanned', 'approved'], all.text);
    const [scanned, approved] = all.json.messages;
    assert.equal(scanned.channel, `_login:${start.id}`);
    assert.equal(all.headers.get('herald-cursor'), approved.id);

    const since = await request(`${h.url}/login/events?since=${encodeURIComponent(scanned.id)}`, { headers: cookie });
    assert.deepEqual(since.json?.messages.map((m) => m.id), [approved.id], show(since));
    const held = await request(`${h.url}/login/events?wait=20&since=${encodeURIComponent(scanned.id)}`, { headers: cookie });
    assert.deepEqual(held.json?.messages.map((m) => m.id), [approved.id], `a long poll behind answers at once: ${show(held)}`);

    const sse = openSSE(`${h.url}/login/events`, { headers: { ...cookie, 'Last-Event-ID': scanned.id } });
    const env = openSSE(`${h.url}/login/events?format=envelope&since=${encodeURIComponent(scanned.id)}`, { headers: cookie });
    try {
      const [e] = await sse.events.waitFor(1);
      assert.equal(e.event, 'approved');
      assert.equal(e.id, approved.id);
      assert.deepEqual(JSON.parse(e.data), { state: 'approved' });
      const [f] = await env.events.waitFor(1);
      assert.equal(f.event, 'message', 'format=envelope sends no event: line');
      assert.equal(f.id, approved.id);
      const envelope = JSON.parse(f.data);
      assert.equal(envelope.event, 'approved');
      assert.equal(envelope.channel, `_login:${start.id}`);
      assert.deepEqual(envelope.data, { state: 'approved' });
    } finally {
      sse.close();
      env.close();
    }
  });

  it('the _login namespace is refused on /sub, /pub and /ws', async () => {
    const { screen, start } = await startScreen(h.url);
    const ch = `_login:${start.id}`;
    const cookie = { Cookie: screen.cookieHeader('/login/events') };

    const sub = await request(`${h.url}/sub/${ch}`);
    assertError(sub, 403, 'forbidden', 'GET /sub/_login:<id>');
    const subWithCookie = await request(`${h.url}/sub/${ch}?wait=1`, { headers: cookie });
    assertError(subWithCookie, 403, 'forbidden', 'GET /sub/_login:<id> with the login cookie');
    const sse = await request(`${h.url}/sub/${ch}`, { headers: { Accept: 'text/event-stream' } });
    assertError(sse, 403, 'forbidden', 'SSE /sub/_login:<id>');
    const wsSub = openWS(`${h.wsUrl}/sub/${ch}`);
    await assert.rejects(wsSub.opened, (err) => err.status === 403, 'WebSocket /sub/_login:<id>');

    const pub = await request(`${h.url}/pub/${ch}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"state":"approved"}',
    });
    assertError(pub, 403, 'forbidden', 'POST /pub/_login:<id> from loopback');
    const pubOther = await request(`${h.url}/pub/_login:made-up?event=approved`, { method: 'POST', body: 'x' });
    assertError(pubOther, 403, 'forbidden', 'POST /pub/_login:made-up');

    const ws = openWS(`${h.wsUrl}/ws`);
    try {
      await ws.opened;
      const reply = await ws.request({ op: 'subscribe', channel: ch });
      assert.equal(reply.op, 'error', JSON.stringify(reply));
      assert.equal(reply.code, 'forbidden', JSON.stringify(reply));
      const pubReply = await ws.request({ op: 'publish', channel: ch, data: { state: 'approved' } });
      assert.equal(pubReply.op, 'error', JSON.stringify(pubReply));
      assert.equal(pubReply.code, 'forbidden', JSON.stringify(pubReply));
    } finally {
      await ws.close();
    }

    // Nothing of the above reached the request: it is still pending.
    const st = await screen.get('/login/status');
    assert.equal(st.json?.state, 'pending', show(st));
  });

  it('no cookie or a made-up cookie: 401 on /login/events and /login/exchange', async () => {
    const { screen, qr, start } = await startScreen(h.url);
    const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
    await scanAndApprove(phone, qr, start.match_number);
    const madeUp = { Cookie: `herald_login=${madeUpSecret()}` };

    for (const [what, headers] of [
      ['no cookie', {}],
      ['a made-up cookie', madeUp],
      ['the phone session cookie', { Cookie: phone.cookieHeader('/login/events') }],
    ]) {
      const poll = await request(`${h.url}/login/events`, { headers });
      assertError(poll, 401, 'unauthorized', `GET /login/events with ${what}`);
      const lp = await request(`${h.url}/login/events?wait=1`, { headers });
      assertError(lp, 401, 'unauthorized', `long poll /login/events with ${what}`);
      const sse = await request(`${h.url}/login/events`, { headers: { ...headers, Accept: 'text/event-stream' } });
      assertError(sse, 401, 'unauthorized', `SSE /login/events with ${what}`);
      const ws = openWS(`${h.wsUrl}/login/events`, { headers: { ...headers, Origin: h.url } });
      await assert.rejects(ws.opened, (err) => err.status === 401, `WebSocket /login/events with ${what}`);
      const st = await request(`${h.url}/login/status`, { headers });
      assertError(st, 401, 'unauthorized', `GET /login/status with ${what}`);
    }
    const noCookie = await new Client(h.url).post('/login/exchange');
    assertError(noCookie, 401, 'unauthorized', 'exchange without a cookie');
    const foreign = await loginCookieClient(h.url, madeUpSecret()).post('/login/exchange');
    assertError(foreign, 401, 'unauthorized', 'exchange with a made-up cookie');
    const byQr = await loginCookieClient(h.url, qr).post('/login/exchange');
    assertError(byQr, 401, 'unauthorized', 'exchange with the QR secret as the cookie');

    // The real screen still gets its session.
    const ex = await screen.post('/login/exchange');
    assert.equal(ex.status, 200, show(ex));
  });

  it('a foreign Origin is refused on start, scan, decide, exchange and the events WebSocket', async () => {
    const evil = new Client(h.url, { origin: FOREIGN_ORIGIN });
    const badStart = await evil.post('/login/start');
    assertError(badStart, 403, 'forbidden', 'start from a foreign origin');
    assert.equal(badStart.setCookie('herald_login'), undefined, 'no login cookie for a refused start');
    const alsoAllowed = await new Client(h.url, { origin: 'https://app.example' }).post('/login/start');
    assert.equal(alsoAllowed.status, 201, `login.allowed_origins is allowed: ${show(alsoAllowed)}`);
    const noOrigin = await new Client(h.url, { origin: null }).post('/login/start');
    assert.equal(noOrigin.status, 201, `no Origin at all (not a browser) is allowed: ${show(noOrigin)}`);

    const { screen, qr, start } = await startScreen(h.url);
    const wsEvil = openWS(`${h.wsUrl}/login/events`, {
      headers: { Cookie: screen.cookieHeader('/login/events'), Origin: FOREIGN_ORIGIN },
    });
    await assert.rejects(wsEvil.opened, (err) => err.status === 403, 'events WebSocket from a foreign origin');
    const events = await listenAsScreen(screen, 'websocket'); // the same cookie from the right origin
    try {
      const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
      const badScan = await phone.post('/login/scan', { c: qr }, { origin: FOREIGN_ORIGIN });
      assertError(badScan, 403, 'forbidden', 'scan from a foreign origin');
      assert.equal((await screen.get('/login/status')).json.state, 'pending', 'a refused scan binds nothing');

      const scan = await phone.post('/login/scan', { c: qr });
      assert.equal(scan.status, 200, show(scan));
      const badDecide = await phone.post(
        '/login/decide',
        { id: scan.json.id, decision: 'approve', number: start.match_number },
        { origin: FOREIGN_ORIGIN },
      );
      assertError(badDecide, 403, 'forbidden', 'decide from a foreign origin');
      assert.equal((await screen.get('/login/status')).json.state, 'scanned', 'a refused decide decides nothing');
      const decide = await phone.post('/login/decide', { id: scan.json.id, decision: 'approve', number: start.match_number });
      assert.equal(decide.status, 200, show(decide));
      await events.next('approved');

      const badEx = await screen.post('/login/exchange', undefined, { origin: FOREIGN_ORIGIN });
      assertError(badEx, 403, 'forbidden', 'exchange from a foreign origin');
      assert.equal(badEx.setCookie('herald_session'), undefined, 'no session for a refused exchange');
      const ex = await screen.post('/login/exchange');
      assert.equal(ex.status, 200, `the refused exchange used nothing up: ${show(ex)}`);
    } finally {
      events.close();
    }
  });

  it('scan, decide and logout need the CSRF token', async () => {
    const { qr, start } = await startScreen(h.url);
    const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
    const noCsrf = await phone.post('/login/scan', { c: qr }, { csrf: false });
    assertError(noCsrf, 403, 'forbidden', 'scan without X-Herald-CSRF');
    const wrongCsrf = await phone.post('/login/scan', { c: qr }, { csrf: madeUpSecret() });
    assertError(wrongCsrf, 403, 'forbidden', 'scan with a wrong X-Herald-CSRF');
    const noSession = await new Client(h.url).post('/login/scan', { c: qr }, { csrf: phone.csrf });
    assert.ok([401, 403].includes(noSession.status), `scan without a session: ${show(noSession)}`);
    const scan = await phone.post('/login/scan', { c: qr });
    assert.equal(scan.status, 200, show(scan));
    const decideNoCsrf = await phone.post(
      '/login/decide',
      { id: scan.json.id, decision: 'approve', number: start.match_number },
      { csrf: false },
    );
    assertError(decideNoCsrf, 403, 'forbidden', 'decide without X-Herald-CSRF');
    const logoutNoCsrf = await phone.post('/logout', undefined, { csrf: false });
    assertError(logoutNoCsrf, 403, 'forbidden', 'logout without X-Herald-CSRF');
    assert.equal((await phone.get('/me')).status, 200, 'the refused logout ended nothing');
  });

  it('exchange: 409 before approval, 200 once, 410 after', async () => {
    const { screen, qr, start, res } = await startScreen(h.url);
    const loginCookie = res.setCookie('herald_login').value;
    const early = await screen.post('/login/exchange');
    assert.equal(early.status, 409, show(early));
    assertJsonHas(early, { error: 'not_approved', state: 'pending' });

    const events = await listenAsScreen(screen, 'longpoll');
    try {
      const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
      const scan = await phone.post('/login/scan', { c: qr });
      assert.equal(scan.status, 200, show(scan));
      await events.next('scanned');
      const scanned = await screen.post('/login/exchange');
      assert.equal(scanned.status, 409, show(scanned));
      assertJsonHas(scanned, { error: 'not_approved', state: 'scanned' });
      assert.equal(scanned.setCookie('herald_session'), undefined);

      const decide = await phone.post('/login/decide', { id: scan.json.id, decision: 'approve', number: start.match_number });
      assert.equal(decide.status, 200, show(decide));
      await events.next('approved');
    } finally {
      events.close();
    }
    const ex = await screen.post('/login/exchange');
    assert.equal(ex.status, 200, show(ex));
    // A copy of the login cookie replayed.
    const replay = await loginCookieClient(h.url, loginCookie).post('/login/exchange');
    assert.equal(replay.status, 410, show(replay));
    assertJsonHas(replay, { error: 'gone' });
    assert.equal(replay.setCookie('herald_session'), undefined, 'a replay gets no session');
  });

  it('ten concurrent exchanges of one approved request: exactly one session', async () => {
    const { qr, start, res } = await startScreen(h.url);
    const loginCookie = res.setCookie('herald_login').value;
    const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
    await scanAndApprove(phone, qr, start.match_number);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => loginCookieClient(h.url, loginCookie).post('/login/exchange')),
    );
    const ok = results.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, `exactly one 200: ${results.map((r) => r.status)}`);
    assert.ok(ok[0].setCookie('herald_session')?.value);
    for (const r of results.filter((x) => x.status !== 200)) {
      assert.equal(r.status, 410, show(r));
      assert.equal(r.setCookie('herald_session'), undefined);
    }
  });

  it('two concurrent decisions: exactly one wins', async () => {
    for (const [a, b] of [
      ['approve', 'approve'],
      ['approve', 'deny'],
    ]) {
      const { screen, qr, start } = await startScreen(h.url);
      const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
      const scan = await phone.post('/login/scan', { c: qr });
      assert.equal(scan.status, 200, show(scan));
      const body = (decision) =>
        decision === 'approve'
          ? { id: scan.json.id, decision, number: start.match_number }
          : { id: scan.json.id, decision };
      const [ra, rb] = await Promise.all([phone.post('/login/decide', body(a)), phone.post('/login/decide', body(b))]);
      const winners = [ra, rb].filter((r) => r.status === 200);
      assert.equal(winners.length, 1, `${a} vs ${b}: exactly one 200, got ${show(ra)} / ${show(rb)}`);
      const st = await screen.get('/login/status');
      assert.equal(st.json.state, winners[0].json.state, `the state is the winner's: ${show(st)}`);
    }
  });

  it('a planted session cookie is never the one the exchange gives, nor accepted', async () => {
    const planted = 'attacker-chosen';
    const screen = new Client(h.url);
    screen.setCookie('herald_session', planted, '/');
    const res = await screen.post('/login/start');
    assert.equal(res.status, 201, show(res));
    const events = await listenAsScreen(screen, 'sse');
    try {
      const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
      await scanAndApprove(phone, new URL(res.json.qr_url).searchParams.get('c'), res.json.match_number);
      await events.next('approved');
    } finally {
      events.close();
    }
    const ex = await screen.post('/login/exchange');
    assert.equal(ex.status, 200, show(ex));
    const sc = ex.setCookie('herald_session');
    assert.ok(sc?.value, 'the exchange sets a session cookie');
    assert.notEqual(sc.value, planted);
    const meNew = await sessionClient(h.url, sc.value).get('/me');
    assert.equal(meNew.json?.user, 'alice', show(meNew));
    const mePlanted = await sessionClient(h.url, planted).get('/me');
    assertError(mePlanted, 401, 'unauthorized', 'the planted session');
  });

  // Three numbers are offered: if a wrong pick only cost an attempt, tapping all three would always approve.
  it('one wrong number denies: 403 wrong_number, the screen hears denied with reason wrong_number', async () => {
    const { screen, qr, start } = await startScreen(h.url);
    const listeners = await Promise.all(['interval', 'sse'].map((t) => listenAsScreen(screen, t)));
    try {
      const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
      const scan = await phone.post('/login/scan', { c: qr });
      assert.equal(scan.status, 200, show(scan));
      const wrong = scan.json.numbers.find((n) => n !== start.match_number);
      const w = await phone.post('/login/decide', { id: scan.json.id, decision: 'approve', number: wrong });
      assert.equal(w.status, 403, show(w));
      assertJsonHas(w, { error: 'wrong_number', state: 'denied' });
      assert.match(w.json.message, /start again/i, 'the phone is told to start again');
      for (const l of listeners) {
        const denied = await l.next('denied');
        assert.deepEqual(denied.data, { state: 'denied', reason: 'wrong_number' });
      }
      const st = await screen.get('/login/status');
      assert.equal(st.json?.state, 'denied', show(st));
      assert.equal(st.json?.reason, 'wrong_number', show(st));

      const late = await phone.post('/login/decide', { id: scan.json.id, decision: 'approve', number: start.match_number });
      assert.equal(late.status, 404, `the right number after the denial: ${show(late)}`);
      assert.ok(!listeners.some((l) => l.events.items.some((e) => e.event === 'approved')), 'never approved');
      const ex = await screen.post('/login/exchange');
      assert.equal(ex.status, 403, show(ex));
      assertJsonHas(ex, { error: 'access_denied', reason: 'wrong_number' });
      assert.equal(ex.setCookie('herald_session'), undefined);
    } finally {
      for (const l of listeners) l.close();
    }
  });

  it('deny: the screen hears denied and its exchange is refused 403', async () => {
    const { screen, qr } = await startScreen(h.url);
    const events = await listenAsScreen(screen, 'sse');
    try {
      const phone = await phoneFor(h.url, BOB.name, BOB.password);
      const scan = await phone.post('/login/scan', { c: qr });
      assert.equal(scan.status, 200, show(scan));
      const scanned = await events.next('scanned');
      assert.deepEqual(scanned.data, { state: 'scanned', approver: 'b***' });
      const decide = await phone.post('/login/decide', { id: scan.json.id, decision: 'deny' });
      assert.equal(decide.status, 200, show(decide));
      assert.deepEqual(decide.json, { state: 'denied' });
      const denied = await events.next('denied');
      assert.deepEqual(denied.data, { state: 'denied', reason: 'user' }, 'a deliberate denial, not a wrong number');
    } finally {
      events.close();
    }
    const st = await screen.get('/login/status');
    assert.equal(st.json?.reason, 'user', show(st));
    const ex = await screen.post('/login/exchange');
    assert.equal(ex.status, 403, show(ex));
    assertJsonHas(ex, { error: 'access_denied', reason: 'user' });
    assert.equal(ex.setCookie('herald_session'), undefined);
  });

  it('cancel: the screen hears cancelled, the QR is then invalid', async () => {
    const { screen, qr } = await startScreen(h.url);
    const events = await listenAsScreen(screen, 'websocket');
    try {
      const cancel = await screen.post('/login/cancel');
      assert.equal(cancel.status, 200, show(cancel));
      assert.deepEqual(cancel.json, { state: 'cancelled' });
      const heard = await events.next('cancelled');
      assert.deepEqual(heard.data, { state: 'cancelled' });
    } finally {
      events.close();
    }
    const phone = await phoneFor(h.url, ALICE.name, ALICE.password);
    const scan = await phone.post('/login/scan', { c: qr });
    assert.equal(scan.status, 404, show(scan));
    assert.deepEqual(scan.json, INVALID_CODE);
  });

  it('server-to-server approval from loopback (no publish key): by user code, QR secret and id', async () => {
    for (const by of ['user_code', 'qr', 'id']) {
      const { screen, start, qr } = await startScreen(h.url);
      const events = await listenAsScreen(screen, 'longpoll');
      try {
        const ref = { user_code: start.user_code, qr, id: start.id }[by];
        const r = await request(`${h.url}/api/login/approve`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${LOGIN_KEY}` },
          body: JSON.stringify({ user: 'ext-42', [by]: ref }),
        });
        assert.equal(r.status, 200, `by ${by}: ${show(r)}`);
        assert.deepEqual(r.json, { state: 'approved' });
        await events.next('approved');
      } finally {
        events.close();
      }
      const ex = await screen.post('/login/exchange');
      assert.equal(ex.status, 200, show(ex));
      assert.deepEqual(ex.json, { user: 'ext-42' });
      const me = await sessionClient(h.url, ex.setCookie('herald_session').value).get('/me');
      assert.equal(me.json?.user, 'ext-42', show(me));
    }
  });

  it('server-to-server denial', async () => {
    const { screen, start } = await startScreen(h.url);
    const events = await listenAsScreen(screen, 'sse');
    try {
      const r = await request(`${h.url}/api/login/approve`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${LOGIN_KEY}` },
        body: JSON.stringify({ user: 'ext-42', user_code: start.user_code, decision: 'deny' }),
      });
      assert.equal(r.status, 200, show(r));
      assert.deepEqual(r.json, { state: 'denied' });
      assert.deepEqual((await events.next('denied')).data, { state: 'denied', reason: 'user' });
    } finally {
      events.close();
    }
    const ex = await screen.post('/login/exchange');
    assertError(ex, 403, 'access_denied', 'exchange after a server-to-server denial');
  });
});


describe('QR login: expiry, and one answer for every invalid code', () => {
  let h;
  before(async () => {
    h = await startBalanced({ users: [ALICE, BOB], login: `${NO_LIMITS}\nrequest_ttl_seconds = 2` });
  });
  after(() => h?.stop());

  it('expiry is pushed to the screen as expired', async () => {
    const { screen } = await startScreen(h.url);
    const listeners = await Promise.all(['sse', 'longpoll'].map((t) => listenAsScreen(screen, t)));
    try {
      for (const l of listeners) {
        const e = await l.next('expired', { timeoutMs: 8000 });
        assert.deepEqual(e.data, { state: 'expired' });
      }
    } finally {
      for (const l of listeners) l.close();
    }
    const ex = await screen.post('/login/exchange');
    assert.notEqual(ex.status, 200, `exchange after expiry: ${show(ex)}`);
  });

  it('unknown, expired, used and foreign-bound codes: byte-for-byte the same 404', async () => {
    const alice = await phoneFor(h.url, ALICE.name, ALICE.password);
    const bob = await phoneFor(h.url, BOB.name, BOB.password);

    // A request left to expire, watched so the test knows when it has.
    const expiring = await startScreen(h.url);
    const expiringEvents = await listenAsScreen(expiring.screen, 'sse');

    // A request used to the end.
    const used = await startScreen(h.url);
    await scanAndApprove(alice, used.qr, used.start.match_number);
    const ex = await used.screen.post('/login/exchange');
    assert.equal(ex.status, 200, show(ex));

    // A request bound to alice.
    const bound = await startScreen(h.url);
    const boundScan = await alice.post('/login/scan', { c: bound.qr });
    assert.equal(boundScan.status, 200, show(boundScan));

    try {
      await expiringEvents.next('expired', { timeoutMs: 8000 });
    } finally {
      expiringEvents.close();
    }

    const answers = {
      'unknown QR secret': await alice.post('/login/scan', { c: madeUpSecret() }),
      'expired QR secret': await alice.post('/login/scan', { c: expiring.qr }),
      'used QR secret': await alice.post('/login/scan', { c: used.qr }),
      'QR secret bound to another account': await bob.post('/login/scan', { c: bound.qr }),
      'unknown user code': await alice.post('/login/device', { user_code: madeUpUserCode() }),
      'expired user code': await alice.post('/login/device', { user_code: expiring.start.user_code }),
      'used user code': await alice.post('/login/device', { user_code: used.start.user_code }),
      'user code bound to another account': await bob.post('/login/device', { user_code: bound.start.user_code }),
    };
    const base = answers['unknown QR secret'];
    assert.equal(base.status, 404, show(base));
    assert.deepEqual(base.json, INVALID_CODE);
    for (const [what, r] of Object.entries(answers)) {
      assert.equal(r.status, base.status, `${what}: ${show(r)}`);
      assert.equal(r.text, base.text, `${what}: the same bytes`);
      assert.equal(r.headers.get('content-type'), base.headers.get('content-type'), `${what}: the same content type`);
    }
  });
});

describe('behind a public URL', () => {
  const publicUrl = 'https://login.example';
  let h;
  before(async () => {
    h = await startBalanced({ users: [ALICE], login: `${NO_LIMITS}\npublic_url = "${publicUrl}"` });
  });
  after(() => h?.stop());

  it('QR links and cookies follow public_url: https links, Secure cookies, its Origin allowed', async () => {
    const screen = new Client(h.url, { origin: publicUrl });
    const res = await screen.post('/login/start');
    assert.equal(res.status, 201, show(res));
    assert.ok(res.json.qr_url.startsWith(`${publicUrl}/login/approve?c=`), res.json.qr_url);
    const lc = res.setCookie('herald_login');
    assert.equal(lc?.attrs.secure, true, `Secure when public_url is https: ${lc?.line}`);
    const device = await postForm(`${h.url}/oauth/device_authorization`, { client_id: 'herald-cli' });
    assert.equal(device.json?.verification_uri, `${publicUrl}/device`, show(device));

    const phone = new Client(h.url, { origin: publicUrl });
    const signin = await phone.post('/signin', ALICE);
    assert.equal(signin.status, 200, show(signin));
    assert.equal(signin.setCookie('herald_session')?.attrs.secure, true, signin.setCookie('herald_session')?.line);
    phone.csrf = (await phone.get('/me')).json?.csrf;
    const { qr, match } = { qr: new URL(res.json.qr_url).searchParams.get('c'), match: res.json.match_number };
    const foreign = await phone.post('/login/scan', { c: qr }, { origin: FOREIGN_ORIGIN });
    assertError(foreign, 403, 'forbidden', 'another site is neither public_url nor herald itself');
    // A page herald served at the address it listens on is herald's own too (the setup in the README: the
    // screen opened at 127.0.0.1, the phone on public_url).
    const local = new Client(h.url);
    const started = await local.post('/login/start');
    assert.equal(started.status, 201, `a login page opened at herald's own address: ${show(started)}`);
    await scanAndApprove(phone, qr, match);
    const ex = await screen.post('/login/exchange');
    assert.equal(ex.status, 200, show(ex));
    assert.equal(ex.setCookie('herald_session')?.attrs.secure, true);
  });
});

describe('QR login: rotation', () => {
  let h;
  before(async () => {
    h = await startBalanced({ users: [ALICE], config: LOGIN_KEY_CONFIG, login: `${NO_LIMITS}\nqr_rotate_seconds = 1` });
  });
  after(() => h?.stop());

  it('a rotated QR is pushed as qr, the image changes, and the new code still leads to approval', async () => {
    const { screen, start } = await startScreen(h.url);
    const svg0 = await screen.get('/login/qr.svg');
    assert.equal(svg0.status, 200, show(svg0));
    const events = await listenAsScreen(screen, 'sse');
    try {
      const rotated = await events.next('qr', { timeoutMs: 5000 });
      assert.deepEqual(rotated.data, { state: 'pending', rotated: true });
      const svg1 = await screen.get('/login/qr.svg');
      assert.equal(svg1.status, 200, show(svg1));
      assert.notEqual(svg1.text, svg0.text, 'the image shows the new secret');
      // The screen's own identity does not rotate: its cookie still reads the status.
      const st = await screen.get('/login/status');
      assert.equal(st.json?.state, 'pending', show(st));
      const r = await request(`${h.url}/api/login/approve`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${LOGIN_KEY}` },
        body: JSON.stringify({ user: 'alice', user_code: start.user_code }),
      });
      assert.equal(r.status, 200, show(r));
      await events.next('approved');
    } finally {
      events.close();
    }
  });
});

