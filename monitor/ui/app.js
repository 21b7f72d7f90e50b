// The dashboard: polls the monitor's JSON API and redraws. ?refresh=ms sets the interval.
const REFRESH_MS = Number(new URLSearchParams(location.search).get('refresh')) || 5000;
const COLORS = ['#0073bb', '#ec7211', '#1d8102', '#d13212', '#8c4fff', '#00a1c9', '#b0084d', '#6b6b6b'];
const CHARTS = [
  ['requestRate', 'Request rate (req/s)'],
  ['latencyAvgMs', 'Average latency (ms)'],
  ['latencyP99Ms', 'p99 latency (ms)'],
  ['errorRatePercent', 'Error rate (%)'],
  ['availability', 'Availability (%)'],
];
const CANARY_CHARTS = [
  ['successPercent', 'Canary SuccessPercent (%)'],
  ['latencyAvgMs', 'Canary latency (ms)'],
];
const charts = new Map();
const canaryCharts = new Map();
let selectedTrace;

const $ = (selector) => document.querySelector(selector);
const text = (value) => String(value ?? '–').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const time = (iso) => new Date(iso).toLocaleTimeString();
const getJson = async (path) => {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
};

function renderServices(rows) {
  $('#services tbody').innerHTML = rows.length === 0
    ? '<tr><td colspan="7" class="muted">No requests yet.</td></tr>'
    : rows.map((row) => `<tr data-service="${text(row.service)}"><td>${text(row.service)}</td><td>${text(row.region)}</td><td class="num">${row.requests}</td><td class="num">${row.errors}</td><td class="num">${text(row.latencyAvgMs)}</td><td class="num">${text(row.latencyP99Ms)}</td><td class="num">${text(row.availability)}</td></tr>`).join('');
}

/** One uPlot chart per [key, title] in `container`, a line per label; redrawn when the labels change. */
function drawCharts(container, store, definitions, times, labels, columnOf) {
  const signature = labels.join('|');
  for (const [key, title] of definitions) {
    const columns = [times, ...labels.map((_, i) => columnOf(key, i))];
    let chart = store.get(key);
    if (chart && chart.signature !== signature) {
      chart.plot.destroy();
      chart.element.remove();
      chart = undefined;
    }
    if (!chart) {
      const element = document.createElement('div');
      element.dataset.chart = key;
      container.append(element);
      const plot = new uPlot({
        title,
        width: Math.max(300, element.clientWidth),
        height: 200,
        series: [{}, ...labels.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false }))],
        axes: [{}, { size: 50 }],
      }, columns, element);
      chart = { plot, element, signature };
      store.set(key, chart);
    } else {
      chart.plot.setData(columns);
    }
  }
}

function renderCharts(data) {
  drawCharts($('#charts'), charts, CHARTS, data.times, data.series.map((series) => `${series.service} (${series.region})`), (key, i) => data.series[i][key]);
}

function renderCanaries(data) {
  drawCharts($('#canary-charts'), canaryCharts, CANARY_CHARTS, data.times, data.canaries.map((canary) => canary.canary), (key, i) => data.canaries[i][key]);
  $('#canary-runs tbody').innerHTML = data.latest.length === 0
    ? '<tr><td colspan="5" class="muted">No run yet.</td></tr>'
    : data.latest.map((run) => `<tr data-canary="${text(run.canary)}"><td>${text(run.canary)}</td><td class="${run.success ? '' : 'error'}">${run.success ? 'success' : 'failed'}</td><td class="num">${run.latencyMs}</td><td>${time(run.endedAt)}</td><td>${text(run.endpoint)}${run.failure ? ` <span class="muted">${text(run.failure)}</span>` : ''}</td></tr>`).join('');
}

/** What a fault does, in the words of `corebank fault list`. */
function faultWhat(spec) {
  switch (spec.kind) {
    case 'packet-loss': return `${spec.percent} % of packets dropped`;
    case 'latency': return `+${spec.ms} ms each way`;
    case 'blackhole': return spec.target === 'database' ? 'database unreachable' : 'endpoint unreachable';
    case 'scale-to-zero': return `${spec.service ?? 'every service'} scaled to 0`;
    case 'kill': return `${spec.service} #${spec.instance} killed`;
    default: return '';
  }
}

function renderFaults(data) {
  const rows = data.faults.map((fault) => {
    const until = fault.spec.durationMs === undefined ? 'until cleared' : time(new Date(fault.since + fault.spec.durationMs).toISOString());
    return `<tr data-fault="${text(fault.spec.kind)}"><td>${text(fault.spec.kind)}</td><td>${text(fault.spec.region)}${fault.spec.service ? ` / ${text(fault.spec.service)}` : ''}</td><td>${text(faultWhat(fault.spec))}</td><td>${time(new Date(fault.since).toISOString())}</td><td>${until}</td></tr>`;
  });
  if (rows.length === 0) rows.push('<tr><td colspan="5" class="muted">No fault is active.</td></tr>');
  $('#faults tbody').innerHTML = rows.join('');
  $('#faults-error').textContent = data.error ?? '';
}

/** Columns by call depth: callers left, callees right, databases last. */
function renderMap(map) {
  const svg = $('#map');
  const depth = new Map(map.nodes.map((node) => [node.id, 0]));
  for (let pass = 0; pass < map.nodes.length; pass++) {
    for (const edge of map.edges) if (edge.from !== edge.to) depth.set(edge.to, Math.max(depth.get(edge.to) ?? 0, (depth.get(edge.from) ?? 0) + 1));
  }
  const maxServiceDepth = Math.max(0, ...map.nodes.filter((node) => node.kind === 'service').map((node) => depth.get(node.id)));
  for (const node of map.nodes) if (node.kind === 'database') depth.set(node.id, maxServiceDepth + 1);
  const columns = new Map();
  for (const node of map.nodes) {
    const d = depth.get(node.id);
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d).push(node);
  }
  const columnCount = Math.max(1, columns.size);
  const position = new Map();
  [...columns.keys()].sort((a, b) => a - b).forEach((d, column) => {
    const nodes = columns.get(d);
    nodes.forEach((node, row) => position.set(node.id, { x: 70 + column * (500 / Math.max(1, columnCount - 1 || 1)), y: ((row + 1) * 320) / (nodes.length + 1) }));
  });
  const parts = ['<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#879596"/></marker></defs>'];
  for (const edge of map.edges) {
    const from = position.get(edge.from);
    const to = position.get(edge.to);
    if (!from || !to) continue;
    const color = edge.errorRatePercent > 5 ? '#d13212' : '#879596';
    const dx = to.x - from.x;
    const dy = to.y - from.y;
    const length = Math.hypot(dx, dy) || 1;
    const [x1, y1, x2, y2] = [from.x + (dx / length) * 48, from.y + (dy / length) * 20, to.x - (dx / length) * 48, to.y - (dy / length) * 20];
    parts.push(`<line class="edge" data-from="${text(edge.from)}" data-to="${text(edge.to)}" x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="${color}" stroke-width="1.5" marker-end="url(#arrow)"/>`);
    parts.push(`<text x="${(x1 + x2) / 2}" y="${(y1 + y2) / 2 - 4}" text-anchor="middle" fill="${color}">${edge.callsPerMinute}/min · ${edge.errorRatePercent}% err</text>`);
  }
  for (const node of map.nodes) {
    const { x, y } = position.get(node.id);
    const fill = node.kind === 'database' ? '#fef6e6' : '#e6f2fb';
    const shape = node.kind === 'database'
      ? `<rect x="${x - 48}" y="${y - 18}" width="96" height="36" rx="12" fill="${fill}" stroke="#ec7211"/>`
      : `<rect x="${x - 60}" y="${y - 18}" width="120" height="36" rx="4" fill="${fill}" stroke="#0073bb"/>`;
    parts.push(`<g class="node" data-node="${text(node.id)}">${shape}<text x="${x}" y="${y + 4}" text-anchor="middle">${text(node.id)}</text></g>`);
  }
  if (map.nodes.length === 0) parts.push('<text x="20" y="30" fill="#687078">No spans yet.</text>');
  svg.innerHTML = parts.join('');
}

function renderAlarms(alarms) {
  $('#alarms tbody').innerHTML = alarms.map((alarm) => {
    const condition = alarm.metric === 'SuccessPercent'
      ? `SuccessPercent < ${alarm.threshold} % for ${alarm.datapointsToAlarm}×${alarm.periodSeconds}s`
      : `${alarm.metric === 'latencyAvgMs' ? 'avg latency' : 'error rate'} > ${alarm.threshold}${alarm.metric === 'latencyAvgMs' ? ' ms' : ' %'} for ${alarm.datapointsToAlarm}×${alarm.periodSeconds}s`;
    const history = alarm.history.slice(0, 3).map((entry) => `${time(entry.at)} → ${entry.to}`).join('<br>') || '<span class="muted">–</span>';
    return `<tr data-alarm="${text(alarm.name)}"><td>${text(alarm.name)}</td><td><span class="state state-${alarm.state}" title="${text(alarm.reason)}">${alarm.state}</span></td><td>${condition}</td><td>${time(alarm.updatedAt)}</td><td class="history">${history}</td></tr>`;
  }).join('');
}

function renderTraces(traces) {
  $('#traces tbody').innerHTML = traces.map((trace) => `<tr class="trace${trace.traceId === selectedTrace ? ' selected' : ''}" data-trace="${trace.traceId}"><td class="${trace.error ? 'error' : ''}">${text(trace.root)}</td><td>${text(trace.services.join(', '))}</td><td class="num">${trace.spans}</td><td class="num">${trace.durationMs}</td><td>${new Date(trace.startMs).toLocaleTimeString()}</td></tr>`).join('');
  if (!selectedTrace && traces.length > 0) void showTrace(traces[0].traceId);
}

async function showTrace(traceId) {
  selectedTrace = traceId;
  for (const row of document.querySelectorAll('tr.trace')) row.classList.toggle('selected', row.dataset.trace === traceId);
  const trace = await getJson(`api/traces/${traceId}`);
  $('#trace-id').textContent = `${traceId} · ${trace.durationMs} ms`;
  const depthOf = new Map();
  const byId = new Map(trace.spans.map((span) => [span.spanId, span]));
  const depth = (span) => {
    if (depthOf.has(span.spanId)) return depthOf.get(span.spanId);
    const parent = span.parentSpanId && byId.get(span.parentSpanId);
    const value = parent ? depth(parent) + 1 : 0;
    depthOf.set(span.spanId, value);
    return value;
  };
  const total = Math.max(trace.durationMs, 0.001);
  const waterfall = $('#waterfall');
  waterfall.classList.remove('muted');
  waterfall.innerHTML = trace.spans.map((span) => {
    const left = ((span.startMs - trace.startMs) / total) * 100;
    const width = Math.max((span.durationMs / total) * 100, 0.3);
    return `<div class="row span" data-service="${text(span.service)}"><div class="name" style="padding-left:${depth(span) * 12}px" title="${text(span.name)}"><b>${text(span.service)}</b> ${text(span.name)}</div><div><div class="bar${span.error ? ' error' : ''}" style="left:${left}%;width:${width}%"></div></div><div class="num">${span.durationMs.toFixed(1)} ms</div></div>`;
  }).join('');
}

function renderNotifications(notifications) {
  $('#notifications').innerHTML = notifications.length === 0
    ? '<li class="muted">None yet.</li>'
    : notifications.slice(0, 30).map((n) => `<li><b>${new Date(n.at).toLocaleTimeString()}</b> ${text(n.alarm)}: <span class="state state-${n.from}">${n.from}</span> → <span class="state state-${n.to}">${n.to}</span> <span class="muted">${text(n.reason)}</span></li>`).join('');
}

async function refresh() {
  try {
    const [services, series, map, alarms, traces, notifications, canaries, faults] = await Promise.all(
      ['api/services', 'api/series', 'api/service-map', 'api/alarms', 'api/traces?limit=20', 'api/notifications', 'api/canaries', 'api/faults'].map(getJson),
    );
    renderFaults(faults);
    renderServices(services);
    renderCharts(series);
    renderCanaries(canaries);
    renderMap(map);
    renderAlarms(alarms);
    renderTraces(traces);
    renderNotifications(notifications);
    $('#refreshed').textContent = `refreshed ${new Date().toLocaleTimeString()} · every ${REFRESH_MS / 1000}s`;
  } catch (error) {
    $('#refreshed').textContent = `refresh failed: ${error.message}`;
  }
}

$('#traces').addEventListener('click', (event) => {
  const row = event.target.closest('tr.trace');
  if (row) void showTrace(row.dataset.trace);
});
void refresh();
setInterval(refresh, REFRESH_MS);
