// The chat page in a real browser (Chromium): two people in one room, each forced onto a different
// transport, see each other in the member list, see each other's messages in one order, and see the
// other leave. A page on WebSocket sends over its socket; one on a poll or SSE sends by POST. What
// people type is shown as text, never as markup.
//
// Every wait is on something the pages show; the timeouts only turn a hang into a readable failure.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, uniq } from './lib/herald.mjs';
import { launchBrowser, openDevice } from './lib/browser.mjs';

const WAIT = { timeout: 15000 };
const CONFIG = [
  '[namespace.chat]',
  'client_publish = true',
  'presence = true',
  'max_payload_bytes = 2048',
  '[limits]',
  'presence_linger_seconds = 1',
  'presence_lease_seconds = 3', // an interval poller is gone this long after its last poll
].join('\n');

let browser;
let h;
before(async () => {
  browser = await launchBrowser();
  h = await startHerald({ config: CONFIG });
});
after(async () => {
  await browser?.close();
  await h?.stop();
});

async function joinRoom(room, name, transport) {
  const person = await openDevice(browser, h.url, { name });
  const query = new URLSearchParams({ room, name, transport, join: '1' });
  await person.page.goto(`/chat.html?${query}`);
  await person.page.waitForSelector(`#transport[data-state=open]`, WAIT);
  assert.equal(await person.page.textContent('#transport'), transport);
  assert.equal(await person.page.isVisible('#join'), false, 'the join form is gone once in the room');
  return person;
}

const memberNames = (page) => page.$$eval('#members li', (items) => items.map((li) => li.textContent));
const messages = (page) => page.$$eval('#log li.message', (items) => items.map((li) => li.textContent));

async function say(person, text) {
  await person.page.fill('#text', text);
  await person.page.click('#send');
  await person.page.waitForFunction(() => document.querySelector('#text').value === '', null, WAIT);
}

function seesMessage(person, text) {
  return person.page.waitForFunction(
    (t) => [...document.querySelectorAll('#log li.message')].some((li) => li.textContent.endsWith(t)),
    text,
    WAIT,
  );
}

function seesMember(person, name, present = true) {
  return person.page.waitForFunction(
    ([n, want]) => [...document.querySelectorAll('#members li')].some((li) => li.textContent === n) === want,
    [name, present],
    WAIT,
  );
}

describe('two people chat on different transports', () => {
  for (const [first, second] of [
    ['websocket', 'longpoll'],
    ['sse', 'poll'],
  ]) {
    it(`${first} and ${second}`, async () => {
      const room = uniq('room').replace(/[^A-Za-z0-9_.-]/g, '');
      const ann = await joinRoom(room, 'Ann', first);
      const ben = await joinRoom(room, 'Ben <i>', second);
      try {
        await seesMember(ann, 'Ben <i>');
        await seesMember(ben, 'Ann');
        assert.deepEqual((await memberNames(ben.page)).sort(), ['Ann', 'Ben <i>']);

        await say(ann, 'hello from Ann');
        await seesMessage(ben, 'hello from Ann');
        await say(ben, 'hi <b>Ann</b> & all');
        await seesMessage(ann, 'hi <b>Ann</b> & all');
        // One order for both, and typed markup stays text.
        const expected = ['Annhello from Ann', 'Ben <i>hi <b>Ann</b> & all'];
        assert.deepEqual(await messages(ann.page), expected);
        await seesMessage(ben, 'hi <b>Ann</b> & all');
        assert.deepEqual(await messages(ben.page), expected);
        assert.equal(await ann.page.$$eval('#log b, #log i, #members i', (nodes) => nodes.length), 0);

        const via = (p) => p.page.textContent('#via');
        assert.equal(await via(ann), first === 'websocket' ? 'over the WebSocket' : 'by POST');
        assert.equal(await via(ben), 'by POST');

        // Ben closes his tab: Ann sees him leave.
        await ben.close();
        await seesMember(ann, 'Ben <i>', false);
        await ann.page.waitForSelector('#log li.system:has-text("Ben <i> left")', WAIT);
        assert.deepEqual([...ann.errors, ...ben.errors], []);
      } finally {
        await ann.close();
        await ben.close().catch(() => {});
      }
    });
  }
});
