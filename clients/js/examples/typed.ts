// A typed use of herald-client: compiled with `tsc --noEmit` by the package's tests (against the package
// as packed and installed), so the declarations and this README-like example stay true.
import herald, { connect, subscribe, type Envelope, type HeraldError, type SubscriptionState } from 'herald-client';

interface Chat {
  name: string;
  text: string;
}

const client = connect('https://push.example.com', {
  transport: 'auto',
  getToken: async ({ channel, reason }) => {
    const res = await fetch(`/api/token?channel=${encodeURIComponent(channel ?? '')}&why=${reason}`);
    return res.ok ? await res.text() : null;
  },
  onState: (s) => console.log('socket', s.state, s.attempt),
});

const off = client.on('state', (s) => console.log(s.state));

const room = client.subscribe<Chat>('chat:lobby', {
  last: 50,
  client: 'tab-1',
  name: 'Ann',
  onMessage: (m: Envelope<Chat>) => console.log(m.id, m.data.name, m.data.text.toUpperCase()),
  onGap: (g) => console.log('missed some after', g.cursor),
  onState: (s: SubscriptionState) => {
    if (s.state === 'closed' && s.code === 'token_expired') console.log('sign in again');
  },
});

async function chat(): Promise<void> {
  try {
    const sent = await room.publish({ name: 'Ann', text: 'hi' }, { event: 'say' });
    const id: string = sent.id;
    console.log(id, sent.via);
  } catch (err) {
    const e = err as HeraldError;
    console.log(e.code, e.detail);
  }
  const who = await room.presence();
  console.log(who.count, who.members.map((m) => m.name));
}

const news = herald.connect('/').subscribe('news', { since: 'k7f3q9wz.42' });
const cursor: string | null = news.cursor;
const login = subscribe('/login/events', { transport: 'sse', onStatus: (s) => console.log(s.transport) });

// @ts-expect-error: no such transport
connect('/', { transport: 'carrier-pigeon' });

void chat();
console.log(cursor, login.transport, client.subscriptions.size);
off();
room.unsubscribe();
client.close();
