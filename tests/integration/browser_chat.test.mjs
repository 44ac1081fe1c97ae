// The chat page in a real browser (Chromium): two people in one room, each forced onto a different
// transport, see each other in the member list, see each other's messages in one order, and see the
// other leave. A page on WebSocket sends over its socket; one on a poll or SSE sends by POST. What
// people type is shown as text, never as markup. A long poller who goes is gone after the linger, not
// after an interval poll's lease; a message too long for the room is refused in words and kept, never
// cut; a reload stays in the room.
//
// Every wait is on something the pages show; the timeouts only turn a hang into a readable failure.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { channelInfo, startHerald, uniq } from './lib/herald.mjs';
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

async function joinRoom(room, name, transport, server = h) {
  const person = await openDevice(browser, server.url, { name });
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

function seesMember(person, name, present = true, wait = WAIT) {
  return person.page.waitForFunction(
    ([n, want]) => [...document.querySelectorAll('#members li')].some((li) => li.textContent === n) === want,
    [name, present],
    wait,
  );
}

const roomName = () => uniq('room').replace(/[^A-Za-z0-9_.-]/g, '');

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

// The page's first request on long poll does not wait, so the server takes it for an interval poll and
// gives the member a lease (presence_lease_seconds, 15 s by default); the held requests that follow are
// a connection. When the tab closes, the member must leave after the linger, not when that lease ends.
describe('a long poller who closes the tab', () => {
  let quick;
  before(async () => {
    quick = await startHerald({
      config: ['[namespace.chat]', 'client_publish = true', 'presence = true', '[limits]', 'presence_linger_seconds = 1'].join('\n'),
    });
  });
  after(() => quick?.stop());

  it('is gone for the others within a few seconds', async () => {
    const room = roomName();
    const ann = await joinRoom(room, 'Ann', 'websocket', quick);
    const lee = await joinRoom(room, 'Lee', 'longpoll', quick);
    try {
      await seesMember(ann, 'Lee');
      // Lee's page is holding a long poll now: the first, non-waiting request has been answered.
      await lee.page.waitForFunction(() => document.querySelector('#transport').dataset.state === 'open', null, WAIT);
      const closed = Date.now();
      await lee.close();
      await seesMember(ann, 'Lee', false, { timeout: 25000 });
      const took = Date.now() - closed;
      // The linger (1 s) and the presence tick (1 s), with room to spare; the lease would be 13-16 s.
      assert.ok(took < 6000, `Lee left ${took} ms after closing the tab`);
      assert.deepEqual([...ann.errors, ...lee.errors], []);
    } finally {
      await ann.close();
      await lee.close().catch(() => {});
    }
  });
});

describe('what the chat page keeps', () => {
  it('a message too long for the room is counted, refused in words and kept — never cut', async () => {
    const room = roomName();
    const ann = await joinRoom(room, 'Ann', 'websocket');
    try {
      const long = 'x'.repeat(3000); // a 3 KB paste; the room takes 2048 bytes
      await ann.page.fill('#text', long);
      assert.equal((await ann.page.inputValue('#text')).length, 3000, 'nothing was cut off');
      const size = await ann.page.waitForSelector('#size[data-over=true]', WAIT);
      assert.match(await size.textContent(), /^\d+ bytes too long \(\d+ of 2048\)$/);
      await ann.page.click('#send');
      const error = await ann.page.waitForSelector('#error:has-text("Not sent")', WAIT);
      assert.match(await error.textContent(), /^Not sent: this message is \d+ bytes and the room takes at most 2048 .*Shorten it, or send it in parts\.$/);
      assert.equal((await ann.page.inputValue('#text')).length, 3000, 'the text is still there to shorten');

      // Shortened, it goes; and nothing was published before (the room holds Ann's join and this).
      await ann.page.fill('#text', long.slice(0, 1900));
      await ann.page.waitForSelector('#size[data-over=false]', WAIT);
      await say(ann, long.slice(0, 1900));
      await seesMessage(ann, long.slice(0, 1900));
      assert.equal(await ann.page.textContent('#error'), '');
      assert.equal((await channelInfo(h.url, `chat:${room}`)).history, 2, 'the join and the one message sent');
      assert.deepEqual(ann.errors, []);
    } finally {
      await ann.close();
    }
  });

  it('a reload stays in the room; the same link elsewhere only fills in the form', async () => {
    const room = roomName();
    const ann = await joinRoom(room, 'Ann', 'sse');
    const other = await openDevice(browser, h.url, { name: 'other' });
    try {
      await say(ann, 'before the reload');
      const url = ann.page.url();
      assert.equal(new URL(url).searchParams.get('join'), null, 'the address holds room and name, no join flag');
      await ann.page.reload();
      await ann.page.waitForSelector('#transport[data-state=open]', WAIT);
      assert.equal(await ann.page.isVisible('#join'), false, 'still in the room');
      assert.equal(await ann.page.textContent('#roomName'), room);
      await seesMessage(ann, 'before the reload');
      await seesMember(ann, 'Ann');

      await other.page.goto(url);
      await other.page.waitForSelector('#join', { state: 'visible', ...WAIT });
      assert.equal(await other.page.inputValue('#room'), room);
      assert.equal(await other.page.inputValue('#name'), 'Ann');
      assert.equal(await other.page.isVisible('#chat'), false, 'a copied link does not join as someone else');
      assert.deepEqual([...ann.errors, ...other.errors], []);
    } finally {
      await ann.close();
      await other.close();
    }
  });
});
