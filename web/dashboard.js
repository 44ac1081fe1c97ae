// The dashboard: listens to herald's own metrics feed (/metrics/feed, one JSON snapshot a second) with
// herald.js like any other channel, and draws the last two minutes as plain SVG charts.
import { subscribe } from '/herald.js';

const WINDOW = 120; // snapshots kept and drawn (seconds)
const SVG = 'http://www.w3.org/2000/svg';
const $ = (id) => document.getElementById(id);
const colors = ['var(--s0)', 'var(--s1)', 'var(--s2)', 'var(--s3)'];

const charts = {
  connections: {
    series: [
      ['WebSocket', (s) => s.connections.websocket],
      ['SSE', (s) => s.connections.sse],
      ['long poll', (s) => s.connections.longpoll],
    ],
    format: (v) => String(Math.round(v)),
    integer: true, // a count: the axis never shows half a connection
  },
  rates: {
    series: [
      ['delivered', (s) => s.per_s.delivered],
      ['published', (s) => s.per_s.published],
      ['dropped', (s) => s.per_s.dropped],
    ],
    format: compact,
  },
  latency: {
    series: [
      ['p50', (s) => s.latency_ms.p50],
      ['p90', (s) => s.latency_ms.p90],
      ['p99', (s) => s.latency_ms.p99],
    ],
    format: (v) => (v == null ? '–' : v === 0 ? '0' : v < 10 ? v.toFixed(2) : compact(v)),
  },
};

const history = []; // snapshots, oldest first

// 1234 -> "1.2k": tiles and axes stay short at 100k connections.
function compact(v) {
  if (v == null || Number.isNaN(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
  if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + 'k';
  return a >= 10 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
}

// The y axis: 0 and round steps (1, 2 or 5 times a power of ten) up to at least `v`, two or three
// ticks in all. Every tick is a different number, and a count's ticks are whole numbers.
function axisTicks(v, integer) {
  const top = v > 0 ? v : 1;
  const raw = top / 2;
  const p = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * p).find((m) => m >= raw);
  if (integer) step = Math.max(1, Math.round(step));
  const ticks = [];
  for (let t = 0; ticks.length < 2 || ticks.at(-1) < top; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

// A tick's label: as many digits as the tick has (0.05 stays 0.05), thousands shortened.
const tickLabel = (t) => (t >= 1000 ? compact(t) : String(Number(t.toPrecision(6))));

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}

function draw(name) {
  const chart = charts[name];
  const svg = $('chart-' + name);
  const [W, H, left, top, bottom] = [320, 140, 34, 6, 16];
  const values = chart.series.map(([, pick]) => history.map((s) => pick(s)));
  const ticks = axisTicks(Math.max(0, ...values.flat().filter((v) => v != null)), chart.integer);
  const max = ticks.at(-1);
  const x = (i) => left + ((W - left - 4) * (i + WINDOW - history.length)) / (WINDOW - 1);
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  const parts = [];
  for (const t of ticks) {
    parts.push(el('line', { x1: left, x2: W - 4, y1: y(t), y2: y(t) }));
    parts.push(el('text', { x: left - 4, y: y(t) + 3, 'text-anchor': 'end', class: 'tick' }, tickLabel(t)));
  }
  parts.push(el('text', { x: left, y: H - 3 }, `−${WINDOW} s`), el('text', { x: W - 4, y: H - 3, 'text-anchor': 'end' }, 'now'));
  values.forEach((series, k) => {
    // A gap in the data (no latency without deliveries) breaks the line instead of drawing a zero.
    let run = [];
    const flush = () => {
      if (run.length) parts.push(el('polyline', { points: run.join(' '), stroke: colors[k] }));
      run = [];
    };
    series.forEach((v, i) => (v == null ? flush() : run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`)));
    flush();
  });
  svg.replaceChildren(...parts);
  const legend = $('legend-' + name);
  legend.replaceChildren(
    ...chart.series.map(([label], k) => {
      const item = document.createElement('span');
      const key = document.createElement('span');
      key.className = 'key';
      key.style.background = colors[k];
      const value = document.createElement('b');
      value.textContent = chart.format(values[k].at(-1));
      item.append(key, label + ' ', value);
      return item;
    }),
  );
}

// A tile shows a compact number; data-value keeps the exact one (for scripts and tests).
function tile(id, value, text = compact(value)) {
  const out = $(id);
  out.textContent = text;
  out.dataset.value = value == null ? '' : String(value);
}

function renderBusiest(list) {
  $('busiest-empty').hidden = list.length > 0;
  const top = Math.max(1, ...list.map((c) => c.per_s));
  $('busiest').replaceChildren(
    ...list.map((c) => {
      const tr = document.createElement('tr');
      const cells = [c.channel, compact(c.per_s), compact(c.subscribers)].map((text, i) => {
        const td = document.createElement('td');
        td.textContent = text;
        if (i > 0) td.className = 'num';
        return td;
      });
      const barCell = document.createElement('td');
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.style.width = ((100 * c.per_s) / top).toFixed(1) + '%';
      barCell.append(bar);
      tr.append(...cells, barCell);
      return tr;
    }),
  );
}

function onSnapshot(s) {
  if (!s || typeof s !== 'object' || !s.connections) return;
  history.push(s);
  if (history.length > WINDOW) history.shift();
  for (const t of ['websocket', 'sse', 'longpoll']) tile('conn-' + t, s.connections[t]);
  tile('tcp', s.tcp);
  tile('subscriptions', Object.values(s.subscriptions).reduce((a, b) => a + b, 0));
  tile('channels', s.channels);
  tile('published', s.per_s.published);
  tile('delivered', s.per_s.delivered);
  tile('dropped', s.per_s.dropped);
  tile('p99', s.latency_ms.p99, charts.latency.format(s.latency_ms.p99));
  tile('broker', s.broker.up ? 1 : 0, `${s.broker.name} ${s.broker.up ? 'up' : 'down'}`);
  $('broker').classList.toggle('down', !s.broker.up);
  for (const name of Object.keys(charts)) draw(name);
  renderBusiest(s.busiest);
  $('updated').textContent = new Date(s.time).toLocaleTimeString([], { hour12: false });
  $('updated').dataset.time = String(s.time);
}

// Why the feed was refused, and what to do: a browser cannot send the publish key, so the way to open
// the dashboard to other machines is the server's config.
function showProblem(st) {
  const problem = $('problem');
  if (st.status === 401 || st.status === 403) {
    problem.textContent = 'This dashboard is shown only on the server\'s own machine. To open it from here, ' +
      'set [metrics] public = true in the server\'s config file and restart herald — everyone who can reach ' +
      'the server then sees its traffic figures and busiest channel names — or open this page on the server ' +
      'itself.';
  } else if (st.status === 404) {
    problem.textContent = 'Metrics are turned off on this server ([metrics] enabled = false in its config).';
  } else {
    problem.textContent = `The dashboard cannot follow this node: ${st.message || st.reason}.`;
  }
  problem.dataset.status = String(st.status || '');
  problem.hidden = false;
}

// ?transport=websocket|sse|longpoll|poll picks one; by default herald.js picks the best that works.
// The last minute comes at once from the feed's history, then a snapshot a second.
const transport = new URLSearchParams(location.search).get('transport') || 'auto';
const sub = subscribe('/metrics/feed', {
  transport,
  last: 60,
  waitSeconds: 10,
  onMessage: (env) => onSnapshot(env.data),
  onStatus: (st) => {
    $('status').dataset.state = st.state;
    $('state').textContent = st.state === 'closed' ? 'stopped' : st.state;
    $('feed-transport').textContent = st.transport;
    if (st.state === 'closed' && st.reason !== 'closed') showProblem(st);
  },
});
$('feed-transport').textContent = sub.transport;
