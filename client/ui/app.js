// Browser side of the load client UI: polls the Locust-compatible API and renders tables and charts.
'use strict';

const REFRESH_MS = 1000;
const $ = (selector) => document.querySelector(selector);

const state = { current: 'ready', startDialogWanted: false, charts: null, activeTab: 'statistics', lastReport: null };

function formatNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return Number(value).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function replaceRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function renderStats(report) {
  const rows = report.stats.map((entry) => {
    const tr = document.createElement('tr');
    const aggregated = entry.name === 'Aggregated';
    if (aggregated) tr.className = 'aggregated';
    tr.append(
      cell(aggregated ? '' : entry.method),
      cell(entry.name, 'name'),
      cell(formatNumber(entry.num_requests)),
      cell(formatNumber(entry.num_failures), entry.num_failures > 0 ? 'failing' : ''),
      cell(formatNumber(entry.median_response_time)),
      cell(formatNumber(entry['response_time_percentile_0.95'])),
      cell(formatNumber(entry['response_time_percentile_0.99'])),
      cell(formatNumber(entry.avg_response_time)),
      cell(formatNumber(entry.min_response_time)),
      cell(formatNumber(entry.max_response_time)),
      cell(formatNumber(entry.avg_content_length)),
      cell(formatNumber(entry.current_rps, 1)),
      cell(formatNumber(entry.current_fail_per_sec, 1), entry.current_fail_per_sec > 0 ? 'failing' : ''),
    );
    return tr;
  });
  replaceRows($('#stats-table tbody'), rows);

  const sagas = [...report.sagas, report.saga_latency].filter((s) => s.completed + s.abandoned > 0 || s === report.saga_latency);
  replaceRows($('#saga-table tbody'), sagas.map((saga) => {
    const tr = document.createElement('tr');
    if (saga === report.saga_latency) tr.className = 'aggregated';
    tr.append(
      cell(saga.name, 'name'),
      cell(formatNumber(saga.completed)),
      cell(formatNumber(saga.succeeded)),
      cell(formatNumber(saga.rolledBack), saga.rolledBack > 0 ? 'failing' : ''),
      cell(formatNumber(saga.abandoned), saga.abandoned > 0 ? 'failing' : ''),
      cell(formatNumber(saga.p50Ms)),
      cell(formatNumber(saga.p95Ms)),
      cell(formatNumber(saga.p99Ms)),
      cell(formatNumber(saga.avgMs)),
      cell(formatNumber(saga.minMs)),
      cell(formatNumber(saga.maxMs)),
    );
    return tr;
  }));
}

function renderFailures(report) {
  replaceRows($('#failures-table tbody'), report.errors.map((error) => {
    const tr = document.createElement('tr');
    tr.append(cell(formatNumber(error.occurrences), 'failing'), cell(error.method), cell(error.name, 'name'), cell(error.error, 'name message'));
    return tr;
  }));
  const total = report.errors.reduce((sum, error) => sum + error.occurrences, 0);
  $('#no-failures').hidden = report.errors.length > 0;
  $('#failures-table').hidden = report.errors.length === 0;
  $('#failures-badge').hidden = total === 0;
  $('#failures-badge').textContent = formatNumber(total);
}

function renderSummary(report) {
  document.body.dataset.state = report.state;
  state.current = report.state;
  $('#status').textContent = report.state === 'spawning' ? `spawning ${report.user_count}/${report.target_user_count}` : report.state;
  $('#summary-host').textContent = report.host || '–';
  $('#summary-host').title = report.host || '';
  $('#summary-users').textContent = formatNumber(report.user_count);
  $('#summary-rps').textContent = formatNumber(report.total_rps, 1);
  $('#summary-failures').textContent = `${formatNumber(report.fail_ratio * 100, 0)}%`;
  $('#start-dialog').hidden = !(report.state === 'ready' || (report.state === 'stopped' && state.startDialogWanted));
}

function chartOptions(title, series, width) {
  return {
    title: '',
    width,
    height: 260,
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [
      { stroke: '#6a7585', grid: { stroke: '#eef1f5' }, space: 70, incrs: X_TICK_SECONDS, values: (_u, ticks) => ticks.map((t) => new Date(t * 1000).toLocaleTimeString('en-GB')) },
      { stroke: '#6a7585', grid: { stroke: '#eef1f5' }, size: 60 },
    ],
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, fill: s.fill, points: { show: false }, value: (_u, v) => (v == null ? '–' : formatNumber(v, s.digits ?? 0)) }))],
    legend: { live: true },
  };
}

// Whole seconds only: sub-second ticks on a one-point-per-second series are noise.
const X_TICK_SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

const CHARTS = [
  { id: '#chart-rps', series: [{ label: 'RPS', color: '#0f766e', fill: 'rgba(15,118,110,.08)', digits: 1 }, { label: 'Failures/s', color: '#dc2626', digits: 1 }] },
  { id: '#chart-response-times', series: [{ label: 'Median response time', color: '#2563eb' }, { label: '95% percentile', color: '#f59e0b' }] },
  { id: '#chart-users', series: [{ label: 'Users', color: '#7c3aed', fill: 'rgba(124,58,237,.08)' }] },
];

function chartData(history) {
  const times = history.map((p) => p.time / 1000);
  return [
    [times, history.map((p) => p.total_rps), history.map((p) => p.total_fail_per_sec)],
    [times, history.map((p) => p.response_time_percentile_50), history.map((p) => p.response_time_percentile_95)],
    [times, history.map((p) => p.user_count)],
  ];
}

function renderCharts(history) {
  const data = chartData(history);
  if (!state.charts) {
    state.charts = CHARTS.map((chart, i) => {
      const container = $(chart.id);
      return new uPlot(chartOptions(chart.id, chart.series, Math.max(container.clientWidth, 300)), data[i], container);
    });
    return;
  }
  state.charts.forEach((chart, i) => chart.setData(data[i]));
}

function resizeCharts() {
  if (!state.charts) return;
  state.charts.forEach((chart, i) => chart.setSize({ width: Math.max($(CHARTS[i].id).clientWidth, 300), height: 260 }));
}

async function getJson(url) {
  const response = await fetch(url, { cache: 'no-store' });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function refresh() {
  try {
    const [report, history] = await Promise.all([getJson('/stats/requests'), getJson('/stats/history')]);
    state.lastReport = report;
    renderSummary(report);
    renderStats(report);
    renderFailures(report);
    if (state.activeTab === 'charts') renderCharts(history);
    else state.pendingHistory = history;
  } catch (error) {
    console.warn('refresh failed', error);
  }
}

function showTab(name) {
  state.activeTab = name;
  document.querySelectorAll('.tab').forEach((tab) => tab.classList.toggle('active', tab.dataset.tab === name));
  document.querySelectorAll('.tab-panel').forEach((panel) => (panel.hidden = panel.id !== `tab-${name}`));
  // uPlot measures its container, so charts are created or resized only while visible.
  if (name === 'charts') {
    if (state.pendingHistory) renderCharts(state.pendingHistory);
    resizeCharts();
  }
}

async function postForm(url, form) {
  const response = await fetch(url, { method: 'POST', body: new URLSearchParams(new FormData(form)) });
  const body = await response.json();
  if (!response.ok || !body.success) throw new Error(body.message || `HTTP ${response.status}`);
  return body;
}

$('#start-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('#start-error').hidden = true;
  try {
    await postForm('/swarm', event.target);
    state.startDialogWanted = false;
    $('#start-dialog').hidden = true;
    await refresh();
  } catch (error) {
    $('#start-error').textContent = error.message;
    $('#start-error').hidden = false;
  }
});

$('#edit-button').addEventListener('click', () => {
  const report = state.lastReport;
  $('#edit_user_count').value = report ? report.target_user_count : $('#user_count').value;
  $('#edit_spawn_rate').value = $('#spawn_rate').value;
  $('#edit-dialog').hidden = false;
});
$('#edit-cancel').addEventListener('click', () => ($('#edit-dialog').hidden = true));
$('#edit-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  await postForm('/swarm', event.target);
  $('#edit-dialog').hidden = true;
  await refresh();
});

$('#stop-button').addEventListener('click', async () => {
  await fetch('/stop');
  state.startDialogWanted = false;
  await refresh();
});
$('#new-test-button').addEventListener('click', () => {
  state.startDialogWanted = true;
  $('#start-dialog').hidden = false;
});
$('#reset-button').addEventListener('click', async () => {
  await fetch('/stats/reset');
  await refresh();
});
document.querySelectorAll('.tab').forEach((tab) => tab.addEventListener('click', () => showTab(tab.dataset.tab)));
window.addEventListener('resize', resizeCharts);

getJson('/config').then((config) => {
  $('#host').value = config.defaultHost;
  $('#timeout').value = config.timeoutSeconds;
});
refresh();
setInterval(refresh, REFRESH_MS);
