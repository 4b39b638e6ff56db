/* sluice dashboard: polls /dashboard/data with an admin key and draws it with uPlot. No build step. */
(function () {
  'use strict';
  const REFRESH_MS = 5000;
  const KEY_STORE = 'sluice.adminKey';
  const $ = (sel) => document.querySelector(sel);
  const charts = {};
  let timer = null;
  let inFlight = false;

  function usd(v) {
    if (v === null || v === undefined) return '–';
    const abs = Math.abs(v);
    const digits = abs >= 100 ? 2 : abs >= 1 ? 4 : 6;
    return (v < 0 ? '-$' : '$') + abs.toFixed(digits);
  }
  const int = (v) => (v === null || v === undefined ? '–' : Math.round(v).toLocaleString('en-US'));
  const pct = (v) => (v === null || v === undefined ? '–' : v.toFixed(2) + '%');
  const ms = (v) => (v === null || v === undefined ? '–' : v.toFixed(1) + ' ms');

  function setField(name, text, raw) {
    for (const el of document.querySelectorAll('[data-field="' + name + '"]')) {
      el.textContent = text;
      if (raw !== undefined && raw !== null) el.dataset.value = String(raw);
    }
  }

  function renderTotals(t) {
    const local = t.by_route.local;
    const cloud = t.by_route.cloud;
    setField('requests', int(t.requests), t.requests);
    setField('errors', int(t.errors), t.errors);
    setField('local_share_pct', pct(t.local_share_pct), t.local_share_pct);
    setField('local_requests', int(local.requests), local.requests);
    setField('cloud_requests', int(cloud.requests), cloud.requests);
    setField('cost_usd', usd(t.cost_usd), t.cost_usd);
    setField('cloud_cost_usd', usd(cloud.cost_usd), cloud.cost_usd);
    setField('local_cost_usd', usd(local.cost_usd), local.cost_usd);
    setField('baseline_cost_usd', usd(t.baseline_cost_usd), t.baseline_cost_usd);
    setField('savings_usd', usd(t.savings_usd), t.savings_usd);
    setField('savings_pct', pct(t.savings_pct), t.savings_pct);
    setField('local_latency', ms(local.p50_latency_ms) + ' / ' + ms(local.p95_latency_ms));
    setField('cloud_latency', ms(cloud.p50_latency_ms) + ' / ' + ms(cloud.p95_latency_ms));
    setField('projection_cost_usd', usd(t.monthly_projection.cost_usd), t.monthly_projection.cost_usd);
    setField('projection_baseline_usd', usd(t.monthly_projection.baseline_cost_usd), t.monthly_projection.baseline_cost_usd);
  }

  const COLORS = ['#0f7b5f', '#2f6fdb', '#9a9aa6', '#d97706', '#b3261e', '#7c3aed', '#0891b2', '#be185d'];

  /** Creates the chart, or replaces it when its series changed (new PII types), or just updates data. */
  function draw(id, seriesNames, data, yLabel) {
    const el = document.getElementById(id);
    const signature = seriesNames.join('|');
    const existing = charts[id];
    if (existing && existing.signature === signature) {
      existing.plot.setData(data);
      return;
    }
    if (existing) existing.plot.destroy();
    const opts = {
      width: Math.max(300, el.clientWidth || 500),
      height: 240,
      scales: { x: { time: true } },
      axes: [{}, { label: yLabel, size: 70 }],
      series: [{}].concat(seriesNames.map((name, i) => ({ label: name, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: false, points: { show: true, size: 5 } }))),
    };
    charts[id] = { signature: signature, plot: new uPlot(opts, data, el) };
  }

  function renderCharts(d) {
    const s = d.series;
    draw('chart-traffic', ['local', 'cloud', 'refused'], [s.t, s.requests.local, s.requests.cloud, s.requests.none], 'requests');
    draw('chart-latency', ['p50', 'p95', 'p99'], [s.t, s.p50_ms, s.p95_ms, s.p99_ms], 'ms');
    draw('chart-cost', ['cost', 'all-cloud baseline'], [s.t, s.cost_cum_usd, s.baseline_cum_usd], 'USD');
    const types = Object.keys(d.pii.by_bucket).sort();
    draw('chart-pii', types.length ? types : ['none found'], [s.t].concat(types.length ? types.map((t) => d.pii.by_bucket[t]) : [s.t.map(() => 0)]), 'requests');
    const body = $('#pii-table tbody');
    body.textContent = '';
    for (const t of types) {
      const tr = document.createElement('tr');
      const a = document.createElement('td');
      a.textContent = t;
      const b = document.createElement('td');
      b.textContent = int(d.pii.totals[t]);
      b.dataset.value = String(d.pii.totals[t]);
      tr.append(a, b);
      body.append(tr);
    }
  }

  function showLogin(message) {
    $('#main').hidden = true;
    $('#login').hidden = false;
    $('#forget').hidden = true;
    $('#login-error').textContent = message || '';
    $('#status').textContent = 'not connected';
  }

  async function refresh() {
    const key = sessionStorage.getItem(KEY_STORE);
    if (!key) return showLogin();
    if (inFlight) return;
    inFlight = true;
    try {
      const res = await fetch('/dashboard/data?minutes=' + encodeURIComponent($('#window').value), { headers: { authorization: 'Bearer ' + key } });
      const body = await res.json().catch(() => null);
      if (res.status === 401 || res.status === 403) {
        sessionStorage.removeItem(KEY_STORE);
        return showLogin((body && body.error && body.error.message) || 'This key cannot open the dashboard.');
      }
      if (!res.ok) throw new Error((body && body.error && body.error.message) || 'HTTP ' + res.status);
      $('#login').hidden = true;
      $('#main').hidden = false;
      $('#forget').hidden = false;
      renderTotals(body.totals);
      renderCharts(body);
      const status = $('#status');
      status.classList.remove('error');
      status.textContent = 'updated ' + new Date(body.generated_at).toLocaleTimeString();
      status.dataset.generatedAt = body.generated_at;
    } catch (err) {
      const status = $('#status');
      status.classList.add('error');
      status.textContent = 'refresh failed: ' + err.message;
    } finally {
      inFlight = false;
    }
  }

  function start() {
    if (timer) clearInterval(timer);
    timer = setInterval(refresh, REFRESH_MS);
    return refresh();
  }

  $('#login').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY_STORE, $('#key').value.trim());
    $('#key').value = '';
    start();
  });
  $('#forget').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORE);
    showLogin();
  });
  $('#window').addEventListener('change', () => {
    for (const id of Object.keys(charts)) {
      charts[id].plot.destroy();
      delete charts[id];
    }
    start();
  });
  window.addEventListener('resize', () => {
    for (const id of Object.keys(charts)) {
      const el = document.getElementById(id);
      charts[id].plot.setSize({ width: Math.max(300, el.clientWidth || 500), height: 240 });
    }
  });
  start();
})();
