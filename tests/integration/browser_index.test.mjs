// The demo's index page in a real browser (Chromium). It listens through web/herald.js like every other
// page: a message published with an event name is heard on SSE like any other and the cursor carries it
// to the next transport, so nothing is lost or repeated; a refused channel name is said in words, and
// fixing the name and pressing Join is enough to listen again.
//
// Every wait is on something the page shows; the timeouts only turn a hang into a readable failure.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { publish, startHerald, uniq } from './lib/herald.mjs';
import { launchBrowser, openDevice } from './lib/browser.mjs';

const WAIT = { timeout: 15000 };

let browser;
let h;
before(async () => {
  [browser, h] = await Promise.all([launchBrowser(), startHerald()]);
});
after(async () => {
  await browser?.close();
  await h?.stop();
});

/** The ids of the messages the page lists, oldest first. */
const listedIds = (page) =>
  page.$$eval('#list li.msg .id', (ids) => ids.map((code) => code.textContent).reverse());

/** The row of message `id`, once the page lists it. */
async function listed(page, id) {
  await page.waitForFunction(
    (want) => [...document.querySelectorAll('#list li.msg .id')].some((code) => code.textContent === want),
    id,
    WAIT,
  );
  return page.$(`#list li.msg:has(.id:text-is("${id}"))`);
}

const connected = (page) => page.waitForSelector('#status[data-kind=ok] #stState:text-matches("^connected")', WAIT);

it('hears a message with an event name on SSE, and switching to WebSocket loses and repeats nothing', async () => {
  const device = await openDevice(browser, h.url, { name: 'index' });
  const { page } = device;
  try {
    const ch = uniq('named');
    await page.goto(`/index.html?channel=${ch}&transport=sse`);
    await connected(page);

    const named = await publish(h.url, ch, 'a greeting', { event: 'greeting' });
    assert.equal(named.status, 201, named.text);
    const row = await listed(page, named.json.id);
    assert.equal(await row.$eval('.event', (e) => e.textContent), 'greeting');
    assert.equal(await page.textContent('#stCursor'), named.json.id, 'the cursor moved to the message it showed');

    // Published while nobody listens, then heard by the next transport from the cursor.
    await page.click('[data-transport=""]');
    await page.waitForSelector('#stState:text-matches("^stopped")', WAIT);
    const whileAway = await publish(h.url, ch, 'while away', { event: 'news' });
    await page.click('[data-transport=ws]');
    await listed(page, whileAway.json.id);
    await connected(page);
    const live = await publish(h.url, ch, 'live on the socket');
    await listed(page, live.json.id);

    assert.deepEqual(await listedIds(page), [named.json.id, whileAway.json.id, live.json.id]);
    assert.equal(await page.textContent('#stCounts'), '3 received · 0 repeats');
    assert.deepEqual(device.errors, []);
  } finally {
    await device.close();
  }
});

it('a refused channel name is said in words; fixing it and pressing Join listens again', async () => {
  const device = await openDevice(browser, h.url, { name: 'index-bad-name' });
  const { page } = device;
  try {
    await page.goto(`/index.html?channel=${encodeURIComponent('not a name!')}&transport=longpoll`);
    const state = await page.waitForSelector('#status[data-kind=error] #stState', WAIT);
    assert.match(await state.textContent(), /^“not a name!” is not a channel name: .*Fix the name and press Join\.$/);

    const ch = uniq('fixed');
    await page.fill('#channel', ch);
    await page.click('#channelForm button[type=submit]');
    await connected(page);
    assert.equal(await page.textContent('#stTransport'), 'Long poll', 'the transport picked before');
    assert.equal(await page.textContent('#pubTarget'), ch);

    // The page's own publish form reaches the listener.
    await page.fill('#pubData', 'after the fix');
    await page.click('#pubForm button[type=submit]');
    await page.waitForSelector('#pubResult.ok', WAIT);
    await page.waitForFunction(
      () => [...document.querySelectorAll('#list li.msg .data')].some((d) => d.textContent === 'after the fix'),
      null,
      WAIT,
    );
    // The refusal was answered by herald (a 400 the page reported in words); nothing else went wrong.
    assert.deepEqual(device.errors.filter((e) => !/status of 400/.test(e)), []);
  } finally {
    await device.close();
  }
});
