import type { ManagerSnapshot } from '../pm/manager';
import type { PoolSnapshot, ProcessSnapshot } from '../pm/pool';
import type { HistoryColumns } from './history';
import { STATUS_PAGE_SCRIPT } from './status-page-script';

/** Text for HTML content and attribute values: URIs, commands and pool names are not ours. */
export function escapeHtml(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** JSON inside <script type="application/json">: nothing in it may close the element. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** 850 ms, 4.2 s, 3m 05s, 2h 07m, 3d 4h. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const pad = (n: number): string => String(Math.floor(n)).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${pad((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

const CHARTS: ReadonlyArray<readonly [id: string, title: string]> = [
  ['chart-rps', 'Requests served per second'],
  ['chart-wait', 'Mean queue wait (ms)'],
  ['chart-busy', 'Busy workers'],
  ['chart-queued', 'Requests waiting in the queue'],
];

const STYLE = `
  :root { color-scheme: light; --line: #d4d4d8; --muted: #52525b; }
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 1.5rem 2rem; color: #18181b; }
  h1 { font-size: 1.4rem; margin: 1rem 0 .2rem; }
  h2 { font-size: 1.1rem; margin: 1.6rem 0 .4rem; }
  h3 { font-size: .9rem; margin: 0 0 .2rem; font-weight: 600; color: var(--muted); }
  .muted, small { color: var(--muted); font-weight: normal; }
  #summary { margin: 0 0 1rem; }
  #charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: .8rem 1.2rem; }
  .chart { border: 1px solid var(--line); border-radius: 6px; padding: .5rem; min-width: 0; }
  .plot { min-height: 170px; }
  table { border-collapse: collapse; margin: .3rem 0 .6rem; }
  th, td { border-bottom: 1px solid var(--line); padding: .2rem .7rem .2rem 0; text-align: left; vertical-align: top; }
  th { font-weight: 600; color: var(--muted); }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  table.facts th { font-weight: normal; }
  table.facts td { font-variant-numeric: tabular-nums; padding-right: 2rem; }
  .facts-row { display: flex; flex-wrap: wrap; gap: 0 2.5rem; }
  code, .uri { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 13px; word-break: break-all; }
  .state { display: inline-block; padding: 0 .4rem; border-radius: 3px; font-size: 12px; }
  .state-busy { background: #fee2e2; color: #991b1b; }
  .state-idle { background: #dcfce7; color: #166534; }
  .state-starting { background: #dbeafe; color: #1e40af; }
  .state-draining { background: #f4f4f5; color: #3f3f46; }
  body[data-stale] #summary::after { content: " — not updating: the admin listener does not answer"; color: #b91c1c; }
`;

/**
 * The /status page: rendered on the server from the scoreboard, so it reads without
 * JavaScript; the inline script adds the charts and refreshes it (status-page-script.ts).
 */
export function renderStatusPage(snapshot: ManagerSnapshot, history: HistoryColumns, now: number): string {
  const up = now - Date.parse(snapshot.startedAt);
  const charts = CHARTS.map(([id, title]) => `<div class="chart" id="${id}"><h3>${escapeHtml(title)}</h3><div class="plot"></div></div>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fcgipm status</title>
<link rel="stylesheet" href="/static/uplot.min.css">
<style>${STYLE}</style>
</head>
<body data-charts="pending">
<h1>fcgipm</h1>
${renderSummary(snapshot, up, now)}
<section id="charts" aria-label="last ${Math.round((history.t.length * history.intervalS) / 60)} minutes">
${charts}
</section>
<noscript><p class="muted">The charts need JavaScript; the tables below are refreshed by reloading the page.</p></noscript>
${renderLive(snapshot, now)}
<script type="application/json" id="history-data">${jsonForScript(history)}</script>
<script src="/static/uplot.min.js"></script>
<script>${STATUS_PAGE_SCRIPT}</script>
</body>
</html>
`;
}

function renderSummary(s: ManagerSnapshot, upMs: number, now: number): string {
  return `<p id="summary" class="muted">pid ${escapeHtml(s.pid)} · generation ${escapeHtml(s.generation)} · up ${escapeHtml(formatDuration(upMs))} · ${escapeHtml(s.totalProcesses)} of ${escapeHtml(s.maxProcesses)} processes · ${escapeHtml(s.pools.length)} pool${s.pools.length === 1 ? '' : 's'} · as of ${escapeHtml(new Date(now).toISOString().slice(11, 19))} UTC</p>`;
}

function renderLive(s: ManagerSnapshot, now: number): string {
  const pools = s.pools.length > 0 ? s.pools.map((p) => renderPool(p, now)).join('\n') : '<p class="muted">No pools yet: a process class gets its pool on its first request.</p>';
  return `<main id="live">\n${pools}\n</main>`;
}

function facts(title: string, rows: ReadonlyArray<readonly [string, string | number]>): string {
  const body = rows.map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('');
  return `<table class="facts"><thead><tr><th colspan="2">${escapeHtml(title)}</th></tr></thead><tbody>${body}</tbody></table>`;
}

function renderPool(p: PoolSnapshot, now: number): string {
  const count = (state: string): number => p.processes.filter((w) => w.state === state).length;
  const meanWait = p.waitedRequests > 0 ? formatDuration(p.waitTimeTotalMs / p.waitedRequests) : '—';
  const exits = Object.entries(p.exited)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const last = p.lastExit
    ? `pid ${p.lastExit.pid ?? '?'}: ${p.lastExit.reason}${p.lastExit.signal ? ` (${p.lastExit.signal})` : p.lastExit.code !== null ? ` (code ${p.lastExit.code})` : ''}, ${formatDuration(now - Date.parse(p.lastExit.at))} ago`
    : '—';
  const processes: Array<readonly [string, string | number]> = [
    ['total', `${p.totalProcesses} (min ${p.minProcesses}, max ${p.maxProcesses})`],
    ['busy', p.activeProcesses],
    ['idle', p.idleProcesses],
    ['starting', count('starting')],
    ['draining', count('draining')],
  ];
  const queue: Array<readonly [string, string | number]> = [
    ['waiting now', p.queued],
    ['most at once', p.maxQueued],
    ['requests that reached a worker', p.waitedRequests],
    ['mean wait', meanWait],
    ['longest wait', p.waitedRequests > 0 ? formatDuration(p.maxWaitMs) : '—'],
    ['times at max processes', p.maxProcessesReached],
  ];
  const requests: Array<readonly [string, string | number]> = [
    ['accepted', p.accepted],
    ['completed', p.completed],
    ['aborted by the client', p.aborted],
    ['replayed', p.replayed],
    ['502 / 503 / 504', `${p.responses502} / ${p.responses503} / ${p.responses504}`],
    ['slow (slowRequestTimeout)', p.slowRequests],
  ];
  const workers: Array<readonly [string, string | number]> = [
    ['spawned', p.spawned],
    ['spawn failures', p.spawnFailures],
    ['exits', exits || '—'],
    ['last exit', last],
  ];
  return `<section class="pool" data-pool="${escapeHtml(p.name)}">
<h2>pool ${escapeHtml(p.name)} <small>${escapeHtml(p.mode)}, generation ${escapeHtml(p.generation)}</small></h2>
<p class="muted"><code>${escapeHtml(p.command)}</code></p>
<div class="facts-row">
${facts('Processes', processes)}
${facts('Queue', queue)}
${facts('Requests', requests)}
${facts('Workers', workers)}
</div>
${renderWorkers(p.processes, now)}
</section>`;
}

function renderWorkers(processes: readonly ProcessSnapshot[], now: number): string {
  if (processes.length === 0) return '<p class="muted">No workers running.</p>';
  const rows = processes
    .map((w) => {
      const cur = w.currentRequest;
      const since = cur ? formatDuration(now - Date.parse(cur.startedAt)) : '';
      const slots = w.slots > 1 ? ` (${w.active}/${w.slots} slots)` : '';
      return `<tr class="worker" data-pid="${escapeHtml(w.pid ?? '')}" data-state="${escapeHtml(w.state)}">
<td class="num">${escapeHtml(w.pid ?? '—')}</td>
<td><span class="state state-${escapeHtml(w.state)}">${escapeHtml(w.state)}</span>${escapeHtml(slots)}</td>
<td class="num">${escapeHtml(w.generation)}</td>
<td class="num">${escapeHtml(w.requests)}</td>
<td class="num">${escapeHtml(formatDuration(now - Date.parse(w.startedAt)))}</td>
<td class="uri">${cur ? `${escapeHtml(cur.method)} ${escapeHtml(cur.uri)}` : ''}</td>
<td class="num">${escapeHtml(since)}</td>
</tr>`;
    })
    .join('\n');
  return `<table class="workers">
<thead><tr><th class="num">PID</th><th>State</th><th class="num">Gen</th><th class="num">Requests</th><th class="num">Age</th><th>Current request</th><th class="num">On it for</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
}
