// The chat page: one room is one channel (chat:<room>) heard through herald.js on any transport.
// Everything shown that a person typed goes through textContent, never innerHTML.
import { subscribe } from '/herald.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const HISTORY = 50; // messages shown on join
const PRESENCE_REFRESH_MS = 20000; // the member list is re-read now and then, besides join/leave

// One id per tab: two tabs of one person are two members, and a reload keeps its place.
function clientId() {
  let id = sessionStorage.getItem('herald-chat-client');
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    id = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    sessionStorage.setItem('herald-chat-client', id);
  }
  return id;
}

let sub = null;
let room = '';
let me = { client: clientId(), name: '' };
let members = new Map(); // client -> name
let presenceTimer = 0;

function line(kind, who, text) {
  const li = document.createElement('li');
  li.className = kind;
  if (who) {
    const span = document.createElement('span');
    span.className = 'who';
    span.textContent = who;
    li.append(span);
  }
  li.append(document.createTextNode(text));
  const log = $('log');
  const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(li);
  if (atEnd) log.scrollTop = log.scrollHeight;
}

function showMembers() {
  const list = $('members');
  list.replaceChildren();
  const sorted = [...members].sort((a, b) => a[1].localeCompare(b[1]));
  for (const [client, name] of sorted) {
    const li = document.createElement('li');
    li.dataset.client = client;
    li.textContent = name;
    if (client === me.client) li.className = 'me';
    list.append(li);
  }
  $('count').textContent = String(members.size);
}

async function readPresence() {
  try {
    const res = await fetch(`/channels/${encodeURIComponent(`chat:${room}`)}/presence`);
    if (!res.ok) return;
    const body = await res.json();
    members = new Map(body.members.map((m) => [m.client, m.name]));
    showMembers();
  } catch {
    // offline: the next refresh or event fixes the list
  }
}

function onMessage(env) {
  const data = env.data && typeof env.data === 'object' ? env.data : {};
  const name = typeof data.name === 'string' ? data.name : '?';
  if (env.event === 'join' || env.event === 'leave') {
    if (typeof data.client === 'string') {
      if (env.event === 'join') members.set(data.client, name);
      else members.delete(data.client);
      showMembers();
    }
    return line('system', '', `${name} ${env.event === 'join' ? 'joined' : 'left'}`);
  }
  line('message', name, typeof data.text === 'string' ? data.text : JSON.stringify(env.data));
}

function start(transport, since) {
  const url = `/sub/${encodeURIComponent(`chat:${room}`)}?client=${me.client}&name=${encodeURIComponent(me.name)}`;
  sub = subscribe(url, {
    transport,
    ...(since ? { since } : { last: HISTORY }),
    onMessage,
    onGap: () => line('gap', '', 'Some messages were missed while away.'),
    onStatus: (s) => {
      $('transport').textContent = s.transport;
      $('transport').dataset.state = s.state;
      $('state').textContent = s.state === 'open' ? '' : `(${s.state}${s.reason ? `: ${s.reason}` : ''})`;
      if (s.state === 'open') readPresence();
    },
  });
}

function join(event) {
  event.preventDefault();
  room = $('room').value.trim();
  me.name = $('name').value.trim();
  if (!room || !me.name) return;
  localStorage.setItem('herald-chat-name', me.name);
  const transport = $('transportChoice').value;
  history.replaceState(null, '', `?${new URLSearchParams({ room, name: me.name, transport })}`);
  $('join').hidden = true;
  $('chat').hidden = false;
  $('roomName').textContent = room;
  $('override').value = transport;
  start(transport);
  presenceTimer = setInterval(readPresence, PRESENCE_REFRESH_MS);
  $('text').focus();
}

async function say(event) {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text || !sub) return;
  $('send').disabled = true;
  try {
    const sent = await sub.publish({ name: me.name, text });
    $('via').textContent = sent.via === 'websocket' ? 'over the WebSocket' : 'by POST';
    $('text').value = '';
    $('error').textContent = '';
  } catch (error) {
    $('error').textContent = error.code === 'rate_limited' ? 'Slow down a little.' : `Not sent: ${error.message}`;
  } finally {
    $('send').disabled = false;
    $('text').focus();
  }
}

// A manual override moves the subscription to another transport from where it stands.
function override() {
  if (!sub) return;
  const since = sub.cursor;
  sub.close();
  start($('override').value, since);
}

function leave() {
  if (sub) sub.close();
  sub = null;
  clearInterval(presenceTimer);
  members = new Map();
  location.href = `/chat.html?${new URLSearchParams({ room, transport: $('override').value })}`;
}

// The override offers what the join form offers.
$('override').append(...Array.from($('transportChoice').options, (option) => option.cloneNode(true)));
$('name').value = params.get('name') || localStorage.getItem('herald-chat-name') || '';
if (params.get('room')) $('room').value = params.get('room');
if (params.get('transport')) $('transportChoice').value = params.get('transport');
$('join').addEventListener('submit', join);
$('say').addEventListener('submit', say);
$('override').addEventListener('change', override);
$('leave').addEventListener('click', leave);
// A link that names the room and the person joins at once (and lets tests open a page ready to chat).
if (params.get('room') && params.get('name') && params.get('join') === '1') join(new Event('submit'));
