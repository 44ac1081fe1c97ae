// What a newcomer meets on the demo pages, in a real browser (Chromium): every page leads home; a signed-in
// browser sees who it is signed in as and can sign out; after signing in on the QR screen there is a next
// step; pages ask "am I signed in?" without an error in the console; a screen whose request the server
// forgot (a restart) says so in words; and the README's phone set-up (login.public_url set to a LAN
// address, the screen opened at 127.0.0.1) works, while a page opened at a name that is not the server's
// is told why it is refused and what to do.
//
// Every wait is on something the pages show or a response they got; the timeouts only turn a hang into a
// readable failure.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald } from './lib/herald.mjs';
import { launchBrowser, openDevice } from './lib/browser.mjs';

const ALICE = { name: 'alice', password: 'pw' };
const LOGIN = ['starts_per_minute = 100', 'prompts_per_minute = 100', 'signins_per_minute = 100'].join('\n');
const WAIT = { timeout: 15000 };
// Resolved to 127.0.0.1 by this browser only: a name of this machine that herald's config does not list.
const UNKNOWN_NAME = 'herald-box.test';

let browser;
before(async () => {
  browser = await launchBrowser({ hosts: [UNKNOWN_NAME] });
});
after(() => browser?.close());

/** Sign `device` in as alice through /signin.html, landing on `next`. */
async function signIn(device, next = '/') {
  await device.page.goto(`/signin.html?next=${encodeURIComponent(next)}`);
  await device.page.fill('#name', ALICE.name);
  await device.page.fill('#password', ALICE.password);
  await Promise.all([device.page.waitForURL((u) => u.pathname === next, WAIT), device.page.click('#submit')]);
}

/** Open `path` and wait for the page's own GET /session answer (its "am I signed in?"). */
async function openAsking(page, path) {
  const asked = page.waitForResponse((r) => new URL(r.url()).pathname === '/session', WAIT);
  await page.goto(path);
  const answer = await asked;
  assert.equal(answer.status(), 200);
  return answer.json();
}

/** The QR flow: `phone` (signed in) approves what `pc`'s /login.html shows. */
async function approveScreen(pc, phone) {
  const qr = await pc.page.waitForSelector('#qr[data-url]', WAIT);
  await pc.page.waitForSelector('#conn-state:text-is("open")', WAIT);
  const match = await pc.page.textContent('#match-number');
  await phone.page.goto(await qr.getAttribute('data-url'));
  await phone.page.click(`.number[data-number="${match}"]`);
  await phone.page.click('#approve');
  await phone.page.waitForSelector('#result[data-state=approved]', WAIT);
}

describe('pages of a server with accounts', () => {
  let h;
  before(async () => {
    h = await startHerald({ users: [ALICE], login: LOGIN });
  });
  after(() => h?.stop());

  it('every page leads home, and the index keeps the chat out of the login links', async () => {
    const visitor = await openDevice(browser, h.url, { name: 'visitor' });
    try {
      await signIn(visitor); // so /device is the device page, not the sign-in it sends strangers to
      for (const path of ['/login.html', '/compare.html', '/signin.html', '/device', '/chat.html', '/dashboard.html']) {
        await visitor.page.goto(path);
        await visitor.page.waitForSelector('a[href="/"]', WAIT);
      }
      await visitor.page.goto('/');
      await visitor.page.waitForSelector('nav a[href="/chat.html"]', WAIT);
      assert.equal(await visitor.page.$$eval('nav[aria-label="Cross-device login"] a[href="/chat.html"]', (a) => a.length), 0);
    } finally {
      await visitor.close();
    }
  });

  it('signed out, /signin.html and /device load without an error in the console', async () => {
    const stranger = await openDevice(browser, h.url, { name: 'stranger' });
    try {
      assert.deepEqual(await openAsking(stranger.page, '/signin.html'), { user: null });
      // /device sends a signed-out visitor to sign in first, and that page asks the same question.
      assert.deepEqual(await openAsking(stranger.page, '/device'), { user: null });
      assert.equal(new URL(stranger.page.url()).pathname, '/signin.html');
      assert.deepEqual(stranger.errors, []);
    } finally {
      await stranger.close();
    }
  });

  it('signed in, the pages say as whom and sign out from anywhere', async () => {
    const phone = await openDevice(browser, h.url, { name: 'phone' });
    try {
      await signIn(phone, '/device');
      await phone.page.waitForSelector('#who[data-user=alice]', WAIT);
      assert.match(await phone.page.textContent('#who'), /^Signed in as alice · Sign out$/);

      await openAsking(phone.page, '/signin.html');
      await phone.page.waitForSelector('#already:not([hidden]) .sign-out', WAIT);
      await openAsking(phone.page, '/');
      await phone.page.waitForSelector('#account[data-user=alice]', WAIT);

      // Signing out on the index page ends the session: /device sends the browser to sign in again.
      const reloaded = phone.page.waitForResponse((r) => new URL(r.url()).pathname === '/session' && r.status() === 200);
      await phone.page.click('#account .sign-out');
      await reloaded;
      await phone.page.waitForSelector('#account[data-user=""]', { state: 'attached', ...WAIT });
      assert.equal(await phone.page.textContent('#account'), '', 'signed out: the nav\'s own "sign in" link is the way back');
      await phone.page.goto('/device');
      await phone.page.waitForURL((u) => u.pathname === '/signin.html', WAIT);
      assert.deepEqual(phone.errors, []);
    } finally {
      await phone.close();
    }
  });

  it('after signing in with the phone, the screen offers the next step and a way to sign out', async () => {
    const pc = await openDevice(browser, h.url, { name: 'pc' });
    const phone = await openDevice(browser, h.url, { name: 'phone' });
    try {
      await signIn(phone);
      await pc.page.goto('/login.html?transport=websocket');
      await approveScreen(pc, phone);
      await pc.page.waitForSelector('#state[data-state=signed-in]', WAIT);
      const next = await pc.page.waitForSelector('#next:not([hidden])', WAIT);
      for (const href of ['/', '/chat.html']) assert.ok(await next.$(`a[href="${href}"]`), `a link to ${href}`);
      await pc.page.waitForSelector('#account[data-user=alice]', WAIT);

      await pc.page.click('#next-account .sign-out');
      // Signed out, the screen waits for a phone again, with a new code.
      await pc.page.waitForSelector('#state[data-state=pending]', WAIT);
      await pc.page.waitForSelector('#next[hidden]', { state: 'attached', ...WAIT });
      const session = await pc.page.evaluate(() => fetch('/session').then((r) => r.json()));
      assert.deepEqual(session, { user: null });
      assert.deepEqual(pc.errors, []);
    } finally {
      await pc.close();
      await phone.close();
    }
  });
});

it('a waiting screen whose request the server forgot (a restart) says so in words and offers a new code', async () => {
  const first = await startHerald({ users: [ALICE], login: LOGIN });
  let second;
  const pc = await openDevice(browser, first.url, { name: 'pc-restart' });
  try {
    await pc.page.goto('/login.html?transport=websocket');
    await pc.page.waitForSelector('#conn-state:text-is("open")', WAIT);
    await first.stop();
    // Back on the same port, as after `make run` again; login requests live in memory only.
    second = await startHerald({ login: LOGIN, port: first.port });
    const state = await pc.page.waitForSelector('#state[data-state=gone]', { timeout: 30000 });
    assert.equal((await state.textContent()).trim(), 'This sign-in request has ended on the server: it expired, ' +
      'or the server restarted. Start again for a new code.');
    assert.equal(await pc.page.isVisible('#qr'), false, 'the dead code is gone from the screen');
    await pc.page.click('#restart');
    await pc.page.waitForSelector('#conn-state:text-is("open")', WAIT);
    assert.equal(await pc.page.getAttribute('#state', 'data-state'), 'pending');
  } finally {
    await pc.close();
    await first.stop();
    await second?.stop();
  }
});

describe("the README's phone set-up: public_url is a LAN address", () => {
  let h;
  before(async () => {
    // An address only a phone on that network would use; this test never connects to it.
    h = await startHerald({ users: [ALICE], login: `${LOGIN}\npublic_url = "http://192.168.1.20:8080"` });
  });
  after(() => h?.stop());

  it('the screen opened at 127.0.0.1 (what `make run` prints) starts, and its QR code points at public_url', async () => {
    const pc = await openDevice(browser, h.url, { name: 'pc-lan' });
    try {
      await pc.page.goto('/login.html');
      const qr = await pc.page.waitForSelector('#qr[data-url]', WAIT);
      assert.match(await qr.getAttribute('data-url'), /^http:\/\/192\.168\.1\.20:8080\/login\/approve\?c=/);
      await pc.page.waitForSelector('#state[data-state=pending]', WAIT);
      await pc.page.waitForSelector('#conn-state:text-is("open")', WAIT);
      assert.deepEqual(pc.errors, []);
    } finally {
      await pc.close();
    }
  });

  it('a page opened at a name that is not the server\'s is told why it is refused and what to do', async () => {
    const url = h.url.replace('127.0.0.1', UNKNOWN_NAME);
    const pc = await openDevice(browser, url, { name: 'pc-unknown-name' });
    try {
      await pc.page.goto('/login.html');
      const state = await pc.page.waitForSelector('#state[data-state=error]', WAIT);
      assert.equal((await state.textContent()).trim(),
        `Could not start: This page was opened at ${url}, which is not one of this server's addresses, so it ` +
        'may not start or approve sign-ins. Open it at http://192.168.1.20:8080 instead, or add its host name ' +
        "to allowed_hosts in the server's config.");
      assert.equal(await pc.page.isVisible('#restart'), true);
    } finally {
      await pc.close();
    }
  });
});
