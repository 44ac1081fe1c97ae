// The chat page: one room is one channel (chat:<room>) heard through herald.js on any transport (on
// WebSocket, the client's one /ws socket, which publishes too).
// Everything shown that a person typed goes through textContent, never innerHTML.
import { connect } from '/herald.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const HISTORY = 50; // messages shown on join
const PRESENCE_REFRESH_MS = 20000; // the member list is re-read now and then, besides join/leave
const JOINED = 'herald-chat-joined'; // this tab is in a room: a reload goes straight back in
const utf8 = new TextEncoder();
const herald = connect('/');

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
let maxBytes = 0; // what the room takes per message (GET /channels/{channel}); 0: not known, the server decides

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

// Why the page stopped listening, and what to do, in words.
function refusalText(s) {
  if (s.code === 'too_many_members' || s.code === 'rate_limited') return `${s.message} Wait a little, then reload.`;
  if (s.code === 'bad_presence') return `That name cannot be used here: ${s.message} Leave and pick another.`;
  if (s.code === 'bad_channel') return 'That room name cannot be used: letters, digits, _ - . only. Leave and pick another.';
  if (s.code === 'presence_off' || s.code === 'forbidden') {
    return `This server does not offer chat rooms here: ${s.message} (the chat namespace in its config).`;
  }
  return `The server stopped this page listening: ${s.message || s.reason}. Reload to try again.`;
}

function start(transport, since) {
  sub = herald.subscribe(`chat:${room}`, {
    transport,
    client: me.client,
    name: me.name,
    ...(since ? { since } : { last: HISTORY }),
    onMessage,
    onGap: () => line('gap', '', 'Some messages were missed while away.'),
    onStatus: (s) => {
      $('transport').textContent = s.transport;
      $('transport').dataset.state = s.state;
      const closed = s.state === 'closed' && s.reason !== 'closed';
      $('state').textContent = s.state === 'open' || closed ? '' : `(${s.state})`;
      if (closed) $('error').textContent = refusalText(s);
      if (s.state === 'open') readPresence();
    },
  });
}

// How large a message may be here: the room's limit counts the JSON that carries it ({name, text}).
async function readLimit() {
  try {
    const res = await fetch(`/channels/${encodeURIComponent(`chat:${room}`)}`);
    const body = res.ok ? await res.json() : {};
    maxBytes = Number(body.max_payload_bytes) || 0;
  } catch {
    maxBytes = 0;
  }
  showSize();
}

const sizeOf = (text) => utf8.encode(JSON.stringify({ name: me.name, text })).length;

// The size of what is typed, against the room's limit; over it, the page says so before sending.
function showSize() {
  const text = $('text').value.trim();
  const size = sizeOf(text);
  const over = maxBytes > 0 && size > maxBytes;
  const el = $('size');
  el.dataset.over = String(over);
  el.textContent = !maxBytes || !text ? '' : over
    ? `${size - maxBytes} bytes too long (${size} of ${maxBytes})`
    : `${size} of ${maxBytes} bytes`;
  return { size, over };
}

function tooLong(size) {
  return `Not sent: this message is ${size} bytes and the room takes at most ${maxBytes} (your name included). ` +
    'Shorten it, or send it in parts.';
}

function join(event) {
  event.preventDefault();
  room = $('room').value.trim();
  me.name = $('name').value.trim();
  if (!room || !me.name) return;
  localStorage.setItem('herald-chat-name', me.name);
  sessionStorage.setItem(JOINED, JSON.stringify({ room, name: me.name }));
  const transport = $('transportChoice').value;
  history.replaceState(null, '', `?${new URLSearchParams({ room, name: me.name, transport })}`);
  $('join').hidden = true;
  $('chat').hidden = false;
  $('roomName').textContent = room;
  $('override').value = transport;
  start(transport);
  readLimit();
  presenceTimer = setInterval(readPresence, PRESENCE_REFRESH_MS);
  $('text').focus();
}

// A refused message stays in the box, with the reason and what to do.
function notSent(error) {
  if (error.code === 'rate_limited') return 'Not sent: slow down a little, then send it again.';
  if (error.code === 'too_large') return `Not sent: too long for this room. ${error.detail || ''} Shorten it, or send it in parts.`;
  if (error.code === 'disconnected' || error.code === 'timeout') return 'Not sent: the connection dropped. Send it again.';
  if (error.code === 'forbidden') return `Not sent: ${error.detail || 'this page may not publish here.'}`;
  return `Not sent: ${error.detail || error.message}`;
}

async function say(event) {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text || !sub) return;
  const { size, over } = showSize();
  if (over) return ($('error').textContent = tooLong(size));
  $('send').disabled = true;
  try {
    const sent = await sub.publish({ name: me.name, text });
    $('via').textContent = sent.via === 'websocket' ? 'over the WebSocket' : 'by POST';
    $('text').value = '';
    $('error').textContent = '';
    showSize();
  } catch (error) {
    $('error').textContent = notSent(error);
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
  sessionStorage.removeItem(JOINED);
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
$('text').addEventListener('input', showSize);
// A link that names the room and the person joins at once (and lets tests open a page ready to chat);
// so does a reload of a tab that was in that room (its URL names both; a copy of it opened elsewhere
// only fills in the form).
const joined = JSON.parse(sessionStorage.getItem(JOINED) || 'null');
const rejoin = joined && joined.room === params.get('room') && joined.name === params.get('name');
if (params.get('room') && params.get('name') && (params.get('join') === '1' || rejoin)) join(new Event('submit'));
