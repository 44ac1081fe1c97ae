// The dashboard in a real browser (Chromium): reached from the index page, fed by herald over its own
// transports, it shows a connection appear when another page subscribes — an SSE listener, then a
// WebSocket one — and disappear when that page goes away. On a quiet node its axes read distinct numbers
// and the busiest-channels table says why it is empty; opened from another machine, it says which
// setting opens it.
//
// Every wait is on something the page shows (an element's data-value); the timeouts only turn a hang
// into a readable failure.
import { after, before, describe, it } from 'node:test';
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

/**
 * The number behind a dashboard tile in a snapshot taken after `since` (unix ms): the page first draws
 * the feed's history, which may still count connections that have gone since.
 */
async function tileValue(page, id, since) {
  await page.waitForFunction((t) => Number(document.getElementById('updated').dataset.time) > t, since, WAIT);
  return Number(await page.getAttribute(`#${id}`, 'data-value'));
}

/** Wait until a tile shows `value`. */
function tileShows(page, id, value) {
  return page.waitForFunction(([tid, v]) => document.getElementById(tid).dataset.value === String(v), [id, value], WAIT);
}

it('the index page links to the dashboard', async () => {
  const device = await openDevice(browser, h.url, { name: 'index' });
  try {
    await device.page.goto('/');
    await Promise.all([device.page.waitForURL(/\/dashboard\.html$/, WAIT), device.page.click('a[href="/dashboard.html"]')]);
    await device.page.waitForSelector('#status[data-state=open]', WAIT);
    assert.deepEqual(device.errors, []);
  } finally {
    await device.close();
  }
});

for (const [transport, tile] of [
  ['sse', 'conn-sse'],
  ['ws', 'conn-websocket'],
]) {
  it(`shows a ${transport} connection appear when a page subscribes, and go when it leaves`, async () => {
    const dashboard = await openDevice(browser, h.url, { name: 'dashboard' });
    const listener = await openDevice(browser, h.url, { name: 'listener' });
    try {
      // The dashboard's own feed travels by long poll here, so it is not among the connections counted.
      const opened = Date.now();
      await dashboard.page.goto('/dashboard.html?transport=longpoll');
      const before = await tileValue(dashboard.page, tile, opened);

      const channel = uniq('dash');
      await listener.page.goto(`/index.html?channel=${channel}&transport=${transport}`);
      await tileShows(dashboard.page, tile, before + 1);

      // Its channel is among the busiest, with its subscriber, and a delivery in the second after a publish.
      assert.equal((await publish(h.url, channel, 'hello')).status, 201);
      await dashboard.page.waitForFunction(
        (name) =>
          [...document.querySelectorAll('#busiest tr')].some(
            (tr) => tr.cells[0].textContent === name && tr.cells[1].textContent !== '0' && tr.cells[2].textContent === '1',
          ),
        channel,
        WAIT,
      );

      await listener.close();
      await tileShows(dashboard.page, tile, before);
      assert.deepEqual(dashboard.errors, []);
    } finally {
      await listener.close().catch(() => {});
      await dashboard.close();
    }
  });
}

describe('what a newcomer sees first', () => {
  let quiet;
  before(async () => {
    quiet = await startHerald();
  });
  after(() => quiet?.stop());

  it('a quiet node: every axis reads distinct numbers, and the empty busiest list says why', async () => {
    const dashboard = await openDevice(browser, quiet.url, { name: 'dashboard-quiet' });
    try {
      await dashboard.page.goto('/dashboard.html');
      await dashboard.page.waitForFunction(() => Number(document.getElementById('updated').dataset.time) > 0, null, WAIT);
      for (const chart of ['connections', 'rates', 'latency']) {
        // The axis labels: every text of the chart but the time axis ("−120 s", "now").
        const ticks = await dashboard.page.$$eval(`#chart-${chart} text`, (texts) =>
          texts.map((e) => e.textContent).filter((t) => t !== 'now' && !t.endsWith(' s')),
        );
        assert.ok(ticks.length >= 2, `${chart}: ${ticks}`);
        assert.equal(new Set(ticks).size, ticks.length, `${chart} axis repeats a number: ${ticks}`);
        assert.equal(ticks[0], '0', `${chart}: ${ticks}`);
      }
      const empty = await dashboard.page.waitForSelector('#busiest-empty', { state: 'visible', ...WAIT });
      assert.match(await empty.textContent(), /^No channel has listeners or deliveries right now\./);
      assert.deepEqual(dashboard.errors, []);
    } finally {
      await dashboard.close();
    }
  });

  it('opened from another machine, it names the setting that opens it', async () => {
    const remote = await openDevice(browser, quiet.url, { name: 'dashboard-remote' });
    try {
      // Through a proxy herald does not trust, as from another machine: not "this machine".
      await remote.context.setExtraHTTPHeaders({ 'X-Forwarded-For': '203.0.113.9' });
      await remote.page.goto('/dashboard.html');
      const problem = await remote.page.waitForSelector('#problem:not([hidden])', WAIT);
      const text = await problem.textContent();
      assert.match(text, /^This dashboard is shown only on the server's own machine\. To open it from here, set \[metrics\] public = true in the server's config file/);
      assert.doesNotMatch(text, /Bearer/, 'nothing a browser cannot do');
      assert.equal(await remote.page.getAttribute('#status', 'data-state'), 'closed');
    } finally {
      await remote.close();
    }
  });
});
