// The login pages and web/herald.js in a real browser (Chromium): a PC waits on /login.html while a
// phone — another browser context with its own cookies — signs in, opens the QR URL and approves; on
// each of the four transports, on `auto`, and on `auto` when WebSocket upgrades are refused. Also the
// compare page (four listeners, one request, approved through /device) and herald.js itself on a
// /sub channel: switching transports loses and repeats nothing, and a refused URL stops it.
//
// Every wait is on something the pages show (a selector, an attribute, a text); the timeouts only
// turn a hang into a readable failure.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { publish, startBalanced, uniq } from './lib/herald.mjs';
import { launchBrowser, openDevice } from './lib/browser.mjs';

const ALICE = { name: 'alice', password: 'pw' };
// One file signs in and approves more often than the per-minute defaults allow one person to.
const LOGIN = [
  'starts_per_minute = 100',
  'prompts_per_minute = 100',
  'code_attempts_per_minute = 100',
  'signins_per_minute = 100',
].join('\n');
const TRANSPORTS = ['websocket', 'sse', 'longpoll', 'poll'];
const WAIT = { timeout: 15000 };

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(() => browser?.close());

// ---------------------------------------------------------------------------------------------
// Helpers

/** Record which transports a page really used on /login/events (or any URL containing `path`). */
function watchTransports(page, path = '/login/events') {
  const seen = { websocket: [], eventsource: [], fetch: [] };
  page.on('websocket', (ws) => ws.url().includes(path) && seen.websocket.push(ws.url()));
  page.on('request', (req) => {
    if (!req.url().includes(path)) return;
    if (req.resourceType() === 'eventsource') seen.eventsource.push(req.url());
    else if (req.resourceType() === 'fetch') seen.fetch.push(req.url());
  });
  return seen;
}

/** What the PC's login page shows once it has started a request. */
async function waitingScreen(page) {
  const qr = await page.waitForSelector('#qr[data-url]', WAIT);
  await page.waitForFunction(() => /^\d{2}$/.test(document.querySelector('#match-number').textContent), null, WAIT);
  return {
    qrUrl: await qr.getAttribute('data-url'),
    match: Number(await page.textContent('#match-number')),
    userCode: await page.textContent('#user-code'),
  };
}

/** The phone opens a URL that needs a session; it signs in first if the server sends it there. */
async function openSignedIn(phone, url, landing) {
  await phone.page.goto(url);
  if (new URL(phone.page.url()).pathname === '/signin.html') {
    await phone.page.fill('#name', ALICE.name);
    await phone.page.fill('#password', ALICE.password);
    await Promise.all([phone.page.waitForURL((u) => landing.test(u.pathname), WAIT), phone.page.click('#submit')]);
  }
  assert.match(new URL(phone.page.url()).pathname, landing);
}

/** The phone scans the QR (opens its URL), picks the PC's number and approves. */
async function approveByQr(phone, { qrUrl, match }) {
  await openSignedIn(phone, qrUrl, /^\/login\/approve$/);
  await phone.page.waitForSelector('.number[data-number]', WAIT);
  const numbers = await phone.page.$$eval('.number', (bs) => bs.map((b) => Number(b.dataset.number)));
  assert.equal(numbers.length, 3);
  assert.ok(numbers.includes(match), `the phone offers ${numbers}, the PC shows ${match}`);
  assert.notEqual((await phone.page.textContent('#requester-browser')).trim(), '');
  await phone.page.click(`.number[data-number="${match}"]`);
  await phone.page.click('#approve');
  await phone.page.waitForSelector('#result[data-state=approved]', WAIT);
}

/** The PC's page is signed in as alice, with a session cookie of its own. */
async function assertSignedIn(pc) {
  const el = await pc.page.waitForSelector('#signed-in-as[data-user]', WAIT);
  assert.equal(await el.getAttribute('data-user'), 'alice');
  assert.equal((await el.textContent()).trim(), 'Signed in as alice');
  await pc.page.waitForSelector('#me[data-user=alice]', WAIT); // GET /me agrees
  const cookies = await pc.context.cookies();
  const session = cookies.find((c) => c.name === 'herald_session');
  assert.ok(session, `a herald_session cookie; have ${cookies.map((c) => c.name)}`);
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Lax');
  assert.equal(session.path, '/');
  assert.equal(cookies.find((c) => c.name === 'herald_login'), undefined, 'the login cookie is cleared');
}

async function counters(page) {
  const num = async (sel) => Number(await page.textContent(sel));
  return {
    transport: (await page.textContent('#transport')).trim(),
    via: await page.getAttribute('#state', 'data-via'),
    requests: await num('#requests'),
    bytes: await num('#bytes'),
    messages: await num('#messages'),
    latency: (await page.textContent('#latency')).trim(),
  };
}

/**
 * The whole QR flow against server `h`: the PC opens /login.html?transport=…, the listener opens,
 * the phone approves, the PC signs in. Returns the PC page's counters and the transports it used.
 */
async function qrLogin(h, phone, transport, { expectTransport = transport } = {}) {
  const pc = await openDevice(browser, h.url, { name: 'pc' });
  try {
    const used = watchTransports(pc.page);
    await pc.page.goto(`/login.html?transport=${transport}`);
    const screen = await waitingScreen(pc.page);
    assert.match(screen.userCode, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    // Approve only once the screen is listening, so the approval is pushed live (not replayed).
    await pc.page.waitForFunction(
      (t) => document.querySelector('#transport').textContent === t &&
        document.querySelector('#conn-state').textContent === 'open',
      expectTransport, WAIT,
    );
    await approveByQr(phone, screen);
    await assertSignedIn(pc);
    const c = await counters(pc.page);
    assert.equal(c.via, expectTransport, 'the approval was noticed on the expected transport');
    assert.ok(c.requests >= 1 && c.bytes > 0 && c.messages >= 2, JSON.stringify(c)); // scanned + approved
    assert.match(c.latency, /^\d+ ms$/);
    const uncaught = pc.errors.filter((e) => !e.includes(' console: '));
    assert.deepEqual(uncaught, [], 'no uncaught exception on the page');
    return { counters: c, used, errors: pc.errors };
  } finally {
    await pc.close();
  }
}

// ---------------------------------------------------------------------------------------------

it('the demo page still loads with the links to the login pages', async () => {
  const h = await startBalanced();
  const dev = await openDevice(browser, h.url, { name: 'index' });
  try {
    await dev.page.goto('/');
    for (const href of ['/login.html', '/compare.html', '/device', '/signin.html']) {
      await dev.page.waitForSelector(`nav a[href="${href}"]`, WAIT);
    }
    await dev.page.click('[data-transport=ws]');
    await dev.page.waitForSelector('#stState:text-matches("connected")', WAIT);
    assert.deepEqual(dev.errors.filter((e) => !e.includes(' console: ')), []);
  } finally {
    await dev.close();
    await h.stop();
  }
});

describe('QR login in the browser', () => {
  let h, phone;
  before(async () => {
    h = await startBalanced({ users: [ALICE], login: LOGIN });
    phone = await openDevice(browser, h.url, { name: 'phone' });
  });
  after(async () => {
    await phone?.close();
    await h?.stop();
  });

  for (const transport of TRANSPORTS) {
    it(`signs the PC in when the phone approves (${transport})`, async () => {
      const { used } = await qrLogin(h, phone, transport);
      const longpolls = used.fetch.filter((u) => new URL(u).searchParams.has('wait'));
      if (transport === 'websocket') assert.ok(used.websocket.length >= 1);
      else assert.equal(used.websocket.length, 0, 'no WebSocket on a forced non-WebSocket transport');
      if (transport === 'sse') {
        assert.ok(used.eventsource.length >= 1);
        assert.ok(used.eventsource.every((u) => new URL(u).searchParams.get('format') === 'envelope'));
      } else assert.equal(used.eventsource.length, 0);
      if (transport === 'longpoll') assert.ok(longpolls.length >= 1, 'a held request with ?wait=');
      if (transport === 'poll') assert.equal(longpolls.length, 0, 'interval polls never wait');
    });
  }

  it('signs the PC in on auto (WebSocket first)', async () => {
    const { used } = await qrLogin(h, phone, 'auto', { expectTransport: 'websocket' });
    assert.ok(used.websocket.length >= 1);
    assert.equal(used.eventsource.length, 0, 'no fallback when WebSocket works');
  });

  it('switching the transport while waiting resumes from the cursor: nothing heard twice', async () => {
    const pc = await openDevice(browser, h.url, { name: 'pc-switch' });
    try {
      const used = watchTransports(pc.page);
      await pc.page.goto('/login.html?transport=longpoll');
      const screen = await waitingScreen(pc.page);
      await pc.page.waitForSelector('#conn-state:text-is("open")', WAIT);
      await openSignedIn(phone, screen.qrUrl, /^\/login\/approve$/); // the scan
      await pc.page.waitForSelector('#state[data-state=scanned]', WAIT);
      assert.equal(await pc.page.textContent('#messages'), '1');

      await pc.page.selectOption('#transport-picker', 'websocket');
      await pc.page.waitForFunction(
        () => document.querySelector('#transport').textContent === 'websocket' &&
          document.querySelector('#conn-state').textContent === 'open',
        null, WAIT,
      );
      await phone.page.click(`.number[data-number="${screen.match}"]`);
      await phone.page.click('#approve');
      await assertSignedIn(pc);
      const c = await counters(pc.page);
      assert.equal(c.via, 'websocket');
      assert.equal(c.messages, 2, 'scanned once (not replayed by the new transport), then approved');
      const ws = new URL(used.websocket.at(-1));
      assert.ok(ws.searchParams.get('since'), 'the WebSocket resumed from the cursor');
    } finally {
      await pc.close();
    }
  });

  it('a page without the login cookie is told 401 and stops, instead of retrying', async () => {
    const stranger = await openDevice(browser, h.url, { name: 'stranger' });
    try {
      await stranger.page.goto('/index.html');
      const statuses = await stranger.page.evaluate(async () => {
        const { subscribe } = await import('/herald.js');
        return new Promise((resolve) => {
          const seen = [];
          subscribe('/login/events', {
            transport: 'websocket',
            onStatus: (s) => {
              seen.push(s);
              if (s.state === 'closed') resolve(seen);
            },
          });
        });
      });
      const last = statuses.at(-1);
      assert.equal(last.state, 'closed');
      assert.match(last.reason, /^401 unauthorized/);
      assert.equal(statuses.filter((s) => s.state === 'connecting').length, 1, 'no retry');
    } finally {
      await stranger.close();
    }
  });

  it('the compare page: four listeners, one request, all notice the approval given at /device', async () => {
    const pc = await openDevice(browser, h.url, { name: 'pc-compare' });
    try {
      await pc.page.goto('/compare.html');
      const screen = await waitingScreen(pc.page);
      for (const t of TRANSPORTS) {
        await pc.page.waitForSelector(`#listener-${t} .status:text-is("open")`, WAIT);
      }
      // Approve by typing the user code (no number to pick on /device).
      await openSignedIn(phone, `/device?user_code=${encodeURIComponent(screen.userCode)}`, /^\/device$/);
      // The page fills the code in once it knows who is signed in (a request): wait for it, then check it.
      await phone.page
        .waitForFunction((code) => document.querySelector('#user-code')?.value === code, screen.userCode, WAIT)
        .catch(() => {});
      assert.equal(await phone.page.inputValue('#user-code'), screen.userCode);
      await phone.page.click('#continue');
      await phone.page.waitForSelector('#request:not([hidden])', WAIT);
      await phone.page.click('#approve');
      await phone.page.waitForSelector('#result[data-state=approved]', WAIT);

      for (const t of TRANSPORTS) {
        const noticed = await pc.page.waitForSelector(`#listener-${t} .noticed[data-event=approved]`, WAIT);
        assert.match((await noticed.textContent()).trim(), /^\d+ ms$/, t);
        assert.ok(Number(await pc.page.textContent(`#listener-${t} .requests`)) >= 1, t);
        assert.ok(Number(await pc.page.textContent(`#listener-${t} .bytes`)) > 0, t);
      }
      await pc.page.waitForSelector('#state[data-state=approved]', WAIT);
      // The request is used: its code leaves the screen, and each listener says what it heard.
      assert.equal(await pc.page.isVisible('#qr'), false, 'a used code is not left on the screen');
      assert.equal(await pc.page.isVisible('#user-code'), false);
      for (const t of TRANSPORTS) {
        assert.equal(await pc.page.textContent(`#listener-${t} .status`), 'done — heard “approved”', t);
      }
      assert.equal(await pc.page.isVisible('#restart'), true);
    } finally {
      await pc.close();
    }
  });

  // A wrong number is what a relayed (phished) QR code produces: one ends the request, and both pages say
  // something other than a plain "denied".
  it('one wrong number denies: the phone says start again, the PC says the number did not match', async () => {
    const pc = await openDevice(browser, h.url, { name: 'pc-wrong-number' });
    try {
      await pc.page.goto('/login.html?transport=websocket');
      const screen = await waitingScreen(pc.page);
      await openSignedIn(phone, screen.qrUrl, /^\/login\/approve$/);
      await phone.page.waitForSelector('.number[data-number]', WAIT);
      await pc.page.waitForSelector('#state[data-state=scanned]', WAIT);
      const numbers = await phone.page.$$eval('.number', (bs) => bs.map((b) => Number(b.dataset.number)));
      const wrong = numbers.find((n) => n !== screen.match);
      await phone.page.click(`.number[data-number="${wrong}"]`);
      await phone.page.click('#approve');
      await phone.page.waitForSelector('#result[data-state=wrong_number]', WAIT);
      assert.match(await phone.page.textContent('#result'), /denied.*start again/s);
      assert.equal(await phone.page.isVisible('#approve'), false, 'nothing left to tap on the phone');

      const state = await pc.page.waitForSelector('#state[data-state=denied][data-reason=wrong_number]', WAIT);
      assert.equal((await state.textContent()).trim(), 'The number picked on the phone did not match. If you did ' +
        'not just try to sign in, someone may be trying to trick you — start again.');
      assert.equal(await pc.page.isVisible('#signed-in-as'), false);
      assert.equal(await pc.page.isVisible('#restart'), true);
    } finally {
      await pc.close();
    }
  });

  it('a denial on the phone ends the PC screen, which says so and can start again', async () => {
    const pc = await openDevice(browser, h.url, { name: 'pc-deny' });
    try {
      await pc.page.goto('/login.html?transport=websocket');
      const screen = await waitingScreen(pc.page);
      await openSignedIn(phone, screen.qrUrl, /^\/login\/approve$/);
      await phone.page.waitForSelector('.number[data-number]', WAIT);
      await pc.page.waitForSelector('#state[data-state=scanned]', WAIT); // the PC heard the scan
      await phone.page.click('#deny');
      await phone.page.waitForSelector('#result[data-state=denied]', WAIT);

      const state = await pc.page.waitForSelector('#state[data-state=denied]', WAIT);
      assert.equal((await state.textContent()).trim(), 'The sign-in was denied on the phone.');
      assert.equal(await state.getAttribute('data-reason'), null, 'a deliberate denial, not a wrong number');
      assert.equal(await pc.page.isVisible('#signed-in-as'), false);
      await pc.page.click('#restart');
      await pc.page.waitForSelector('#state[data-state=pending]', WAIT);
      const again = await waitingScreen(pc.page);
      assert.notEqual(again.qrUrl, screen.qrUrl, 'a new request, with a new QR secret');
    } finally {
      await pc.close();
    }
  });

  it('sign-in goes back only to a page of this origin, however `next` is spelled (no open redirect)', async () => {
    const visitor = await openDevice(browser, h.url, { name: 'visitor' });
    // Any request that leaves for another host is answered here (Chromium never reaches the network),
    // so a redirect that escapes lands on a page whose URL the test can see.
    await visitor.context.route(
      (u) => u.origin !== h.url,
      (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<p>elsewhere</p>' }),
    );
    const { page } = visitor;
    try {
      // A wrong password first: the page stays and says so.
      await page.goto('/signin.html?next=' + encodeURIComponent('/compare.html'));
      await page.fill('#name', ALICE.name);
      await page.fill('#password', 'not the password');
      await page.click('#submit');
      await page.waitForSelector('#result[data-kind=error]', WAIT);

      /** Sign in from /signin.html?<query> and return the URL the page then lands on. */
      const landing = async (query) => {
        await page.goto(`/signin.html?${query}`);
        await page.fill('#name', ALICE.name);
        await page.fill('#password', ALICE.password);
        await Promise.all([
          page.waitForURL((u) => u.pathname !== '/signin.html' || u.origin !== h.url, WAIT),
          page.click('#submit'),
        ]);
        return new URL(page.url());
      };
      const hostile = [
        '/.//evil.example/x',
        '/..//evil.example',
        '/%2e//evil.example',
        '/%2E%2E//evil.example',
        '/\t/evil.example',
        '/\t//evil.example',
        '//evil.example',
        '/\\evil.example',
        '\\/evil.example',
        'https://evil.example',
        'HTTPS:\\\\evil.example',
        'javascript:alert(1)',
      ];
      for (const next of hostile) {
        const url = await landing('next=' + encodeURIComponent(next));
        assert.equal(url.origin, h.url, `next=${JSON.stringify(next)} left for ${url.href}`);
        assert.equal(url.pathname, '/', `next=${JSON.stringify(next)} falls back to /`);
      }
      // The same tricks left undecoded in the query string itself (the page decodes them once).
      for (const query of ['next=/%2e//evil.example/x', 'next=/%09/evil.example', 'next=%2F.%2F%2Fevil.example']) {
        const url = await landing(query);
        assert.equal(url.origin, h.url, `?${query} left for ${url.href}`);
      }
      // A path of this site is followed, its query too: where a signed-out phone goes after the QR.
      const url = await landing('next=' + encodeURIComponent('/login/approve?c=abc'));
      assert.equal(url.origin, h.url);
      assert.equal(url.pathname + url.search, '/login/approve?c=abc');
    } finally {
      await visitor.close();
    }
  });

  it('herald.js on auto steps down past a refused WebSocket and a held-back SSE stream, then upgrades', async () => {
    const ch = uniq('fallback');
    const dev = await openDevice(browser, h.url, { name: 'fallback' });
    try {
      const { page } = dev;
      // A WebSocket refused before it opens, and an SSE answer a buffering proxy never lets through.
      let refuseWebSocket = true;
      await page.routeWebSocket(/\/sub\//, (ws) => (refuseWebSocket ? ws.close({ code: 1006 }) : ws.connectToServer()));
      await page.route(/\/sub\//, (route) =>
        route.request().resourceType() === 'eventsource' ? undefined /* held */ : route.continue(),
      );
      await page.goto('/index.html');
      await page.evaluate(async (channel) => {
        const { subscribe } = await import('/herald.js');
        const t = (window.t = { got: [], statuses: [] });
        t.sub = subscribe(`/sub/${channel}`, {
          sseOpenTimeoutMs: 1000,
          upgradeAfterMs: 2000,
          onMessage: (env) => t.got.push(env),
          onStatus: (s) => t.statuses.push(s),
        });
      }, ch);
      const status = (state, transport) =>
        page.waitForFunction(
          ([st, tr]) => t.statuses.some((s) => s.state === st && s.transport === tr),
          [state, transport],
          WAIT,
        );
      await status('open', 'longpoll');
      const path = await page.evaluate(() => t.statuses.map((s) => `${s.state}:${s.transport}`));
      assert.deepEqual(path.filter((s) => s.startsWith('downgraded')), ['downgraded:sse', 'downgraded:longpoll']);

      const ids = [];
      for (const n of [1, 2]) ids.push((await publish(h.url, ch, { n }, { json: true })).json.id);
      await page.waitForFunction(() => t.got.length >= 2, null, WAIT);
      refuseWebSocket = false;
      await status('upgraded', 'websocket');
      await status('open', 'websocket');
      ids.push((await publish(h.url, ch, { n: 3 }, { json: true })).json.id);
      await page.waitForFunction(() => t.got.length >= 3, null, WAIT);
      const got = await page.evaluate(() => ({ ids: t.got.map((e) => e.id), transport: t.sub.transport }));
      assert.deepEqual(got.ids, ids);
      assert.equal(got.transport, 'websocket');
      await page.evaluate(() => t.sub.close());
    } finally {
      await dev.close();
    }
  });

  it('herald.js moves between all four transports on a /sub channel without losing or repeating', async () => {
    const ch = uniq('switch');
    const page = (await openDevice(browser, h.url, { name: 'switcher' })).page;
    try {
      await page.goto('/index.html');
      await page.evaluate(async () => {
        const { subscribe } = await import('/herald.js');
        const t = (window.t = { got: [], statuses: [], sub: null });
        t.start = (channel, transport, since) => {
          t.sub = subscribe(`/sub/${channel}`, {
            transport,
            since,
            pollIntervalMs: 100,
            onMessage: (env) => t.got.push(env),
            onStatus: (s) => t.statuses.push(s),
          });
        };
      });
      const published = [];
      const pub = async (n) => {
        const r = await publish(h.url, ch, { n }, { json: true });
        assert.equal(r.status, 201);
        published.push(r.json.id);
      };
      const opened = (transport) =>
        page.waitForFunction((tr) => t.statuses.some((s) => s.transport === tr && s.state === 'open'), transport, WAIT);
      const received = (n) => page.waitForFunction((k) => t.got.length >= k, n, WAIT);

      let n = 0;
      for (const transport of TRANSPORTS) {
        // Published while nobody listens: the next transport must bring it from the cursor.
        if (n > 0) {
          await page.evaluate(() => t.sub.close());
          await pub(++n);
        }
        await page.evaluate(([c, tr]) => t.start(c, tr, t.sub ? t.sub.cursor : undefined), [ch, transport]);
        await opened(transport);
        await pub(++n);
        await pub(++n);
        await received(n);
      }
      const got = await page.evaluate(() => t.got);
      assert.deepEqual(got.map((e) => e.data.n), Array.from({ length: n }, (_, i) => i + 1));
      assert.deepEqual(got.map((e) => e.id), published);
      assert.ok(got.every((e) => e.channel === ch && typeof e.time === 'number'), 'whole envelopes');
      const stats = await page.evaluate(() => ({ ...t.sub.stats, cursor: t.sub.cursor }));
      assert.equal(stats.cursor, published.at(-1));
    } finally {
      await page.context().close();
    }
  });
});

describe('rate limits, said in words on the phone', () => {
  let h, phone;
  before(async () => {
    h = await startBalanced({ users: [ALICE], login: 'prompts_per_minute = 1\ncode_attempts_per_minute = 3' });
    phone = await openDevice(browser, h.url, { name: 'phone-limits' });
  });
  after(async () => {
    await phone?.close();
    await h?.stop();
  });

  it('the approve and device pages say which limit was hit and when to try again', async () => {
    const pcs = [];
    try {
      for (const name of ['pc-1', 'pc-2']) {
        const pc = await openDevice(browser, h.url, { name });
        pcs.push(pc);
        await pc.page.goto('/login.html');
      }
      const [first, second] = [await waitingScreen(pcs[0].page), await waitingScreen(pcs[1].page)];
      await openSignedIn(phone, first.qrUrl, /^\/login\/approve$/); // code attempt 1, prompt 1
      await phone.page.waitForSelector('.number[data-number]', WAIT);
      await phone.page.goto(second.qrUrl); // code attempt 2, a second prompt within the minute
      const prompts = await phone.page.waitForSelector('#result[data-state=error]', WAIT);
      assert.match((await prompts.textContent()).trim(),
        /^This account was asked to approve too many sign-ins: at most 1 a minute for each account\. Try again in \d+ seconds?\.$/);

      await phone.page.goto('/device');
      await phone.page.fill('#user-code', 'BCDF-GHJK'); // code attempt 3: not a code anyone holds
      await phone.page.click('#continue');
      await phone.page.waitForSelector('#result[data-state=error]:has-text("not valid")', WAIT);
      await phone.page.click('#continue'); // code attempt 4
      await phone.page.waitForSelector('#result[data-state=error]:has-text("Too many codes")', WAIT);
      assert.match((await phone.page.textContent('#result')).trim(),
        /^Too many codes were tried: at most 3 a minute for each account and each address\. Try again in \d+ seconds?\.$/);
    } finally {
      for (const pc of pcs) await pc.close();
    }
  });
});

describe('QR rotation and expiry', () => {
  let h;
  before(async () => {
    h = await startBalanced({ users: [ALICE], login: `${LOGIN}\nqr_rotate_seconds = 1\nrequest_ttl_seconds = 4` });
  });
  after(() => h?.stop());

  it('the screen reloads the QR code when told it rotated, and says when the request expired', async () => {
    const pc = await openDevice(browser, h.url, { name: 'pc-rotate' });
    try {
      const qrLoads = [];
      pc.page.on('response', (r) => new URL(r.url()).pathname === '/login/qr.svg' && qrLoads.push(r.status()));
      await pc.page.goto('/login.html?transport=sse');
      await waitingScreen(pc.page);
      await pc.page.waitForSelector('#qr[data-rotations="2"]', { timeout: 8000 }); // two 1 s rotations
      await pc.page.waitForFunction(() => document.querySelector('#qr').complete, null, WAIT);
      assert.ok(qrLoads.length >= 3, `the first code and two reloads; saw ${qrLoads}`);
      assert.ok(qrLoads.every((s) => s === 200), `${qrLoads}`);
      assert.equal(await pc.page.getAttribute('#state', 'data-state'), 'pending');

      await pc.page.waitForSelector('#state[data-state=expired]', { timeout: 8000 });
      assert.equal(await pc.page.isVisible('#restart'), true);
      assert.equal(await pc.page.isVisible('#qr'), false, 'a dead code is not left on screen');
    } finally {
      await pc.close();
    }
  });
});

describe('auto falls back when WebSocket upgrades are refused', () => {
  let h, phone;
  before(async () => {
    h = await startBalanced({ users: [ALICE], login: LOGIN, config: '[transports]\nwebsocket = false\n' });
    phone = await openDevice(browser, h.url, { name: 'phone' });
  });
  after(async () => {
    await phone?.close();
    await h?.stop();
  });

  it('ends up on SSE and still completes the login', async () => {
    const { used } = await qrLogin(h, phone, 'auto', { expectTransport: 'sse' });
    assert.ok(used.websocket.length >= 1, 'WebSocket was tried first');
    assert.ok(used.eventsource.length >= 1, 'then SSE');
  });
});
