// The sluice web console. Plain browser JavaScript, no library and nothing
// from another host: it calls the routes every client calls (POST /query,
// GET /tables, GET /plugins, /metrics, /events/tail) with the admin token.
//
// The token arrives in the address's fragment (/console#token=...), which
// browsers never send to a server; it is kept in sessionStorage (this tab
// only) and removed from the address bar. Data reaches the page as text
// (textContent, text nodes, attributes), never as markup.
'use strict';

(() => {
  const TOKEN_KEY = 'sluice.adminToken';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const TAIL_MAX = 50;
  const CHART_MAX = 40;
  const SPARK_POINTS = 60;
  const EXAMPLES = [
    ['Guild joins by host', 'select Host, count(*) from join_guilds group by Host'],
    ['Items bought', 'select item_type, count(*) as n from events_buy\nwhere item_type is not null\ngroup by item_type order by n desc'],
    ['Purchases per minute', `select date_trunc('minute', "timestamp") as minute, count(*) as purchases\nfrom events_buy group by 1 order by 1`],
    ['Purchases by host', 'select host, count(*) as purchases from events_buy\ngroup by host order by purchases desc'],
    ['Tables', 'show tables'],
  ];

  const $ = (id) => document.getElementById(id);
  const integer = new Intl.NumberFormat('en-US');

  // ---- DOM helpers: every string becomes a text node or an attribute value.

  function fill(node, attrs, children) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null && value !== false) {
        node.setAttribute(name, value === true ? '' : String(value));
      }
    }
    for (const child of children) {
      if (child !== undefined && child !== null && child !== false) {
        node.append(child instanceof Node ? child : String(child));
      }
    }
    return node;
  }

  const el = (tag, attrs, ...children) => fill(document.createElement(tag), attrs, children);
  const svg = (tag, attrs, ...children) => fill(document.createElementNS(SVG_NS, tag), attrs, children);
  const note = (text, cls = 'note') => el('p', { class: cls }, text);

  // ---- The admin token.

  let token = null;

  /** Takes a token from `#token=...` into sessionStorage, then clears the address bar. */
  function takeTokenFromAddress() {
    const fromAddress = new URLSearchParams(location.hash.slice(1)).get('token');
    if (fromAddress !== null) {
      history.replaceState(null, '', location.pathname + location.search);
      if (fromAddress.trim()) {
        sessionStorage.setItem(TOKEN_KEY, fromAddress.trim());
      }
    }
    token = sessionStorage.getItem(TOKEN_KEY);
    if (token) {
      $('auth').hidden = true;
    }
    return token;
  }

  function askForToken(reason) {
    const refused = reason === 'refused';
    if (refused) {
      sessionStorage.removeItem(TOKEN_KEY);
      token = null;
    }
    $('auth-message').textContent = refused
      ? 'The server refused this admin token (401). Paste the token that `sluice serve` printed '
        + 'in its console address, or the one in ./data/admin-token (or SLUICE_ADMIN_TOKEN).'
      : reason === 'change'
        ? 'Paste another admin token.'
        : 'This console needs the admin token to read the lake and the live tail. Open the '
          + 'address `sluice serve` printed, or paste the token from ./data/admin-token '
          + '(or SLUICE_ADMIN_TOKEN).';
    const form = $('auth');
    form.dataset.reason = reason;
    form.hidden = false;
    if (reason !== 'change') {
      stopTail();
      setTailState('idle', 'needs the admin token');
      const tables = $('tables');
      tables.dataset.state = 'locked';
      tables.replaceChildren(el('li', { class: 'note' }, 'Needs the admin token.'));
    }
    $('token-input').focus();
  }

  function useToken(value) {
    token = value;
    sessionStorage.setItem(TOKEN_KEY, value);
    $('auth').hidden = true;
    stopTail();
    startTail();
    loadTables();
  }

  class Unauthorized extends Error {}

  class QueryFailed extends Error {
    constructor(message, kind) {
      super(message);
      this.kind = kind;
    }
  }

  /** fetch() with the admin token; a 401 asks for another token. */
  async function call(path, init = {}) {
    const headers = new Headers(init.headers || {});
    try {
      headers.set('Authorization', `Bearer ${token || ''}`);
    } catch {
      askForToken('refused');
      throw new Unauthorized();
    }
    const response = await fetch(path, { ...init, headers, cache: 'no-store' });
    if (response.status === 401) {
      askForToken('refused');
      throw new Unauthorized();
    }
    return response;
  }

  /** POST /query: the JSON answer, or a QueryFailed with the server's words. */
  async function runSql(sql) {
    const response = await call('/query', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      body: sql,
    });
    let body;
    try {
      body = await response.json();
    } catch {
      throw new QueryFailed(`HTTP ${response.status}: the answer is not JSON`, 'http');
    }
    if (!response.ok) {
      throw new QueryFailed(body.error || `HTTP ${response.status}`, body.kind || 'http');
    }
    return body;
  }

  // ---- Types and numbers.

  const isNumeric = (type) =>
    /^(tinyint|smallint|int|bigint|float|double|decimal\(.*\)|u?int\d+|float\d+)$/.test(type);
  const isTime = (type) => type === 'date' || type === 'timestamp';
  const sqlName = (name) => (/^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`);

  function rate(value) {
    if (!Number.isFinite(value)) return '–';
    return value >= 100 ? integer.format(Math.round(value)) : value.toFixed(1);
  }

  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
  }

  /** A cell's text: NULL, JSON for nested values, else the value. */
  function cellText(value) {
    if (value === null || value === undefined) return null;
    if (typeof value === 'object') return JSON.stringify(value);
    return String(value);
  }

  // ---- Live rates from /metrics (Prometheus text), by differencing counters.

  /** Sums each metric's samples over their labels. */
  function parseMetrics(text) {
    const sums = new Map();
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)/;
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const m = sample.exec(line);
      const value = m && Number(m[2]);
      if (m && Number.isFinite(value)) {
        sums.set(m[1], (sums.get(m[1]) || 0) + value);
      }
    }
    return sums;
  }

  let lastSample = null;
  const rates = [];

  function setConnection(state, text) {
    const conn = $('conn');
    conn.dataset.state = state;
    conn.querySelector('.text').textContent = text;
  }

  function setStat(id, text, total) {
    const stat = $(id);
    stat.querySelector('.value').textContent = text;
    if (total !== undefined) stat.dataset.total = String(total);
  }

  async function pollMetrics() {
    let text;
    try {
      const response = await fetch('/metrics', { cache: 'no-store' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      text = await response.text();
    } catch {
      setConnection('down', 'server unreachable');
      lastSample = null;
      return;
    }
    setConnection('live', 'live');
    const m = parseMetrics(text);
    // Counters appear with their first increment: absent means none yet,
    // or a process that counts none (`sluice query` has no game API).
    const counts = {
      events: m.has('sluice_api_events_logged_total') || m.has('sluice_source_events_total'),
      rows: m.has('sluice_rows_total'),
    };
    const now = {
      at: performance.now(),
      events: m.get('sluice_api_events_logged_total') ?? m.get('sluice_source_events_total') ?? 0,
      rows: m.get('sluice_rows_total') ?? 0,
      dead: m.get('sluice_dead_letters_total') ?? 0,
    };
    setStat('dead-letters', integer.format(now.dead), now.dead);
    if (lastSample) {
      const seconds = (now.at - lastSample.at) / 1000;
      // A restarted server starts its counters again: never a negative rate.
      const eventRate = Math.max(0, now.events - lastSample.events) / seconds;
      const rowRate = Math.max(0, now.rows - lastSample.rows) / seconds;
      setStat('rate', counts.events ? rate(eventRate) : '–', now.events);
      setStat('rows-rate', counts.rows ? rate(rowRate) : '–', now.rows);
      $('rate').dataset.rate = String(eventRate);
      rates.push(eventRate);
      if (rates.length > SPARK_POINTS) rates.shift();
      drawSpark();
    } else {
      $('rate').dataset.total = String(now.events);
    }
    lastSample = now;
  }

  function drawSpark() {
    const spark = $('spark');
    const max = Math.max(1, ...rates);
    const step = 120 / (SPARK_POINTS - 1);
    const offset = (SPARK_POINTS - rates.length) * step;
    const points = rates
      .map((r, i) => `${(offset + i * step).toFixed(1)},${(26 - (r / max) * 24).toFixed(1)}`)
      .join(' ');
    spark.replaceChildren(
      svg('line', { x1: 0, x2: 120, y1: 26.5, y2: 26.5, class: 'spark-base' }),
      svg('polyline', { points, class: 'spark-line' }),
      svg('title', {}, `events/s over the last ${rates.length * 2} s (max ${rate(max)})`),
    );
  }

  // ---- Tables, with row counts.

  /** Row counts in one query; per table if that fails, so one bad table hides nothing. */
  async function countRows(names) {
    const counts = new Map();
    if (names.length === 0) return counts;
    const literal = (s) => `'${s.replaceAll("'", "''")}'`;
    const ident = (s) => `"${s.replaceAll('"', '""')}"`;
    const count = (name) => `SELECT ${literal(name)} AS t, count(*) AS n FROM ${ident(name)}`;
    try {
      const result = await runSql(names.map(count).join('\nUNION ALL\n'));
      for (const row of result.rows) counts.set(row.t, Number(row.n));
      return counts;
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
    }
    await Promise.all(names.map(async (name) => {
      try {
        const result = await runSql(count(name));
        counts.set(name, Number(result.rows[0].n));
      } catch (e) {
        if (e instanceof Unauthorized) throw e;
        counts.set(name, e);
      }
    }));
    return counts;
  }

  async function loadTables() {
    if (!token) return;
    const list = $('tables');
    let tables;
    let counts;
    try {
      const response = await call('/tables');
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
      tables = body.tables;
      counts = await countRows(tables.filter((t) => t.kind !== 'view').map((t) => t.name));
    } catch (e) {
      if (e instanceof Unauthorized) return;
      list.dataset.state = 'error';
      list.replaceChildren(el('li', { class: 'note error' }, `Cannot list the tables: ${e.message}`));
      return;
    }
    if (tables.length === 0) {
      list.dataset.state = 'empty';
      list.replaceChildren(el('li', { class: 'note' }, 'No tables yet: they appear with their first file.'));
      return;
    }
    list.dataset.state = 'done';
    list.replaceChildren(...tables.map((t) => tableItem(t, counts.get(t.name))));
  }

  function tableItem(table, count) {
    let rows;
    let rowsTitle;
    if (table.kind === 'view') {
      rows = 'view';
      rowsTitle = table.sql || 'a view';
    } else if (count instanceof Error) {
      rows = '?';
      rowsTitle = `cannot count: ${count.message}`;
    } else if (Number.isFinite(count)) {
      rows = integer.format(count);
      rowsTitle = `${rows} rows`;
    } else {
      rows = '…';
      rowsTitle = 'not counted';
    }
    const columns = table.columns.map((c) => `${c.name} ${c.type}${c.comment ? ` (${c.comment})` : ''}`);
    const name = el('button', {
      type: 'button',
      class: 'table-name',
      title: `${table.kind}${table.location ? ` at ${table.location}` : ''}\n\n${columns.join('\n')}`,
    }, table.name);
    name.addEventListener('click', () => {
      const sql = $('sql');
      sql.value = `SELECT * FROM ${sqlName(table.name)} LIMIT 100`;
      sql.focus();
    });
    const files = table.kind === 'view' ? '' : `${integer.format(table.file_count)} files · ${bytes(table.bytes)}`;
    return el('li', { 'data-table': table.name, class: `table kind-${table.kind.replace(/\W+/g, '-')}` },
      name,
      el('span', { class: 'rows', title: rowsTitle, 'data-rows': Number.isFinite(count) ? count : null }, rows),
      el('span', { class: 'files' }, files));
  }

  // ---- Plugins.

  async function loadPlugins() {
    const list = $('plugins');
    let response;
    try {
      // With the token the list is whole; without it, redacted.
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      response = await fetch('/plugins', { headers, cache: 'no-store' });
    } catch {
      return;
    }
    if (response.status === 404) {
      list.dataset.state = 'absent';
      list.replaceChildren(el('li', { class: 'note' }, 'This process runs no pipelines.'));
      return;
    }
    if (!response.ok) {
      list.dataset.state = 'error';
      list.replaceChildren(el('li', { class: 'note error' }, `GET /plugins answered ${response.status}`));
      return;
    }
    const plugins = await response.json();
    list.dataset.state = 'done';
    if (plugins.length === 0) {
      list.replaceChildren(el('li', { class: 'note' }, 'No plugins in the plugin folder.'));
      return;
    }
    // Running first: a plugin folder may hold many that no pipeline uses.
    const order = { running: 0, idle: 1, unused: 2 };
    plugins.sort((a, b) => order[pluginStatus(a)] - order[pluginStatus(b)] || a.name.localeCompare(b.name));
    list.replaceChildren(...plugins.map(pluginItem));
  }

  function pluginStatus(p) {
    // A file no pipeline names is compiled only when it changes or is pushed.
    if (!p.version) return 'unused';
    return p.pipelines.length === 0 ? 'idle' : 'running';
  }

  function pluginItem(p) {
    const status = pluginStatus(p);
    const stat = (label, value, cls) =>
      el('div', { class: `pstat ${cls || ''}` }, el('dt', {}, label), el('dd', {}, value));
    const details = [
      p.plugin && p.plugin !== p.name ? `describe(): ${p.plugin}` : null,
      p.pipelines.length ? `pipelines: ${p.pipelines.join(', ')}` : 'in no pipeline',
      p.loaded_at ? `loaded ${p.loaded_at} (${p.loaded_from})` : null,
      p.hash ? `sha256 ${p.hash}` : null,
      p.path,
    ].filter(Boolean);
    return el('li', { class: 'plugin', 'data-plugin': p.name, title: details.join('\n') },
      el('div', { class: 'plugin-head' },
        el('span', { class: 'plugin-name' }, p.name),
        p.version ? el('span', { class: 'version' }, `v${p.version}`) : null,
        el('span', { class: `badge status-${status.replace(' ', '-')}` }, status)),
      el('dl', { class: 'pstats' },
        stat('in', integer.format(p.events_in)),
        stat('out', integer.format(p.events_out)),
        stat('dropped', integer.format(p.dropped)),
        stat('failed', integer.format(p.failed), p.failed > 0 ? 'bad' : ''),
        stat('µs/ev', p.micros_per_event == null ? '–' : p.micros_per_event.toFixed(2))),
      p.last_error
        ? el('p', { class: 'plugin-error' }, `refused ${p.last_error.at}: ${p.last_error.reason}`)
        : null);
  }

  // ---- The SQL box, its results and chart.

  let running = false;

  async function runQuery() {
    const sql = $('sql').value.trim();
    if (running || !sql) return;
    if (!token) {
      askForToken('missing');
      return;
    }
    running = true;
    const results = $('results');
    const meta = $('result-meta');
    $('run').disabled = true;
    results.dataset.state = 'running';
    meta.textContent = 'running…';
    try {
      const result = await runSql(sql);
      renderResult(result);
      renderChart(result);
      results.dataset.state = 'done';
    } catch (e) {
      results.dataset.state = 'error';
      meta.textContent = '';
      $('chart').replaceChildren();
      $('chart-note').textContent = '';
      if (e instanceof Unauthorized) {
        results.replaceChildren(note('Needs the admin token.'));
      } else {
        results.replaceChildren(el('div', { class: 'error-box' },
          el('strong', {}, e.kind || 'error'),
          el('pre', {}, e.message)));
      }
    } finally {
      running = false;
      $('run').disabled = false;
    }
  }

  function renderResult(result) {
    const meta = $('result-meta');
    const n = result.row_count;
    meta.replaceChildren(`${integer.format(n)} row${n === 1 ? '' : 's'} · ${result.elapsed_ms.toFixed(1)} ms`);
    if (result.truncated) {
      meta.append(el('span', {
        class: 'badge warn',
        title: 'More rows matched: the server cut the answer at its row limit.',
      }, 'truncated'));
    }
    const columns = result.columns;
    const numeric = columns.map((c) => isNumeric(c.type));
    const head = el('tr', {}, ...columns.map((c, i) =>
      el('th', { class: numeric[i] ? 'num' : null, title: c.type }, c.name, el('span', { class: 'type' }, c.type))));
    const body = el('tbody', {}, ...result.rows.map((row) =>
      el('tr', {}, ...columns.map((c, i) => {
        const text = cellText(row[c.name]);
        if (text === null) return el('td', { class: 'null' }, 'NULL');
        return el('td', { class: numeric[i] ? 'num' : null, title: text.length > 60 ? text : null }, text);
      }))));
    $('results').replaceChildren(result.rows.length
      ? el('div', { class: 'table-scroll' }, el('table', {}, el('thead', {}, head), body))
      : note('No rows.'));
  }

  function renderChart(result) {
    const box = $('chart');
    const chartNote = $('chart-note');
    box.replaceChildren();
    chartNote.textContent = '';
    const columns = result.columns;
    const valueAt = columns.findIndex((c) => isNumeric(c.type));
    if (result.rows.length === 0) {
      box.append(note('No rows to chart.'));
      return;
    }
    if (valueAt < 0) {
      box.append(note('No numeric column to chart.'));
      return;
    }
    const labelAt = columns.findIndex((c, i) => i !== valueAt && !isNumeric(c.type));
    const value = columns[valueAt].name;
    const label = labelAt >= 0 ? columns[labelAt].name : null;
    const rows = result.rows.slice(0, CHART_MAX);
    const points = rows.map((row, i) => ({
      label: label === null ? String(i + 1) : (cellText(row[label]) ?? 'NULL'),
      value: Number(row[value]) || 0,
    }));
    chartNote.textContent = `${value} by ${label ?? 'row'}${result.rows.length > CHART_MAX
      ? ` · first ${CHART_MAX} of ${result.rows.length} rows` : ''}`;
    const width = Math.max(360, box.clientWidth - 4);
    // A time series is a line once it has two points.
    const line = labelAt === 0 && isTime(columns[0].type) && points.length > 1;
    box.append(line ? lineChart(points, width) : barChart(points, width));
  }

  const shorten = (text, max) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

  function barChart(points, width) {
    const labelWidth = Math.min(220, Math.max(80, 7 * Math.max(...points.map((p) => Math.min(p.label.length, 30))) + 12));
    const valueWidth = 80;
    const bar = 18;
    const gap = 6;
    const height = 8 + points.length * (bar + gap);
    const min = Math.min(0, ...points.map((p) => p.value));
    const max = Math.max(0, ...points.map((p) => p.value));
    const span = max - min || 1;
    const plot = width - labelWidth - valueWidth;
    const x = (v) => labelWidth + ((v - min) / span) * plot;
    const chart = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'bars', role: 'img' });
    points.forEach((p, i) => {
      const y = 4 + i * (bar + gap);
      const [from, to] = [x(Math.min(0, p.value)), x(Math.max(0, p.value))];
      chart.append(
        svg('text', { x: labelWidth - 8, y: y + bar / 2, class: 'label', 'text-anchor': 'end', 'dominant-baseline': 'middle' },
          shorten(p.label, 30)),
        svg('rect', { x: from, y, width: Math.max(1, to - from), height: bar, rx: 3, class: 'bar' },
          svg('title', {}, `${p.label}: ${p.value}`)),
        svg('text', { x: to + 6, y: y + bar / 2, class: 'value', 'dominant-baseline': 'middle' },
          integer.format(p.value)));
    });
    chart.append(svg('line', { x1: x(0), x2: x(0), y1: 0, y2: height, class: 'axis' }));
    return chart;
  }

  function lineChart(points, width) {
    const height = 240;
    const [left, right, top, bottom] = [64, 16, 12, 28];
    const values = points.map((p) => p.value);
    const min = Math.min(0, ...values);
    const max = Math.max(...values);
    const span = max - min || 1;
    const x = (i) => left + (i / (points.length - 1)) * (width - left - right);
    const y = (v) => top + (1 - (v - min) / span) * (height - top - bottom);
    const chart = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'line-chart', role: 'img' });
    chart.append(
      svg('line', { x1: left, x2: width - right, y1: y(min), y2: y(min), class: 'axis' }),
      svg('text', { x: left - 8, y: y(max), class: 'value', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, integer.format(max)),
      svg('text', { x: left - 8, y: y(min), class: 'value', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, integer.format(min)),
      svg('text', { x: x(0), y: height - 8, class: 'label', 'text-anchor': 'start' }, points[0].label),
      svg('polyline', { points: points.map((p, i) => `${x(i)},${y(p.value)}`).join(' '), class: 'line' }),
      svg('text', { x: x(points.length - 1), y: height - 8, class: 'label', 'text-anchor': 'end' },
        points[points.length - 1].label));
    points.forEach((p, i) => chart.append(
      svg('circle', { cx: x(i), cy: y(p.value), r: 3, class: 'point' }, svg('title', {}, `${p.label}: ${p.value}`))));
    return chart;
  }

  // ---- The live tail: Server-Sent Events read with fetch(), since
  // EventSource cannot send the Authorization header.

  let tail = null; // the AbortController of the open stream
  let tailRetry = null;
  let tailPaused = false;
  let tailUnseen = 0;
  let tailDrawPending = false;
  const tailEvents = []; // newest first: { data, event, at }

  function setTailState(state, text) {
    $('tail').dataset.state = state;
    $('tail-state').textContent = text;
  }

  function stopTail() {
    clearTimeout(tailRetry);
    tailRetry = null;
    if (tail) {
      tail.abort();
      tail = null;
    }
  }

  function retryTail(why) {
    setTailState('retrying', `${why}; retrying in 5 s`);
    clearTimeout(tailRetry);
    tailRetry = setTimeout(() => {
      tailRetry = null;
      startTail();
    }, 5000);
  }

  async function startTail() {
    if (!token || tail || document.hidden) return;
    const controller = new AbortController();
    tail = controller;
    setTailState('connecting', 'connecting…');
    let response;
    try {
      response = await call('/events/tail?from=latest', {
        signal: controller.signal,
        headers: { Accept: 'text/event-stream' },
      });
    } catch (e) {
      if (tail === controller) tail = null;
      if (!(e instanceof Unauthorized) && !controller.signal.aborted) retryTail('cannot connect');
      return;
    }
    if (response.status === 404) {
      tail = null;
      setTailState('absent', 'this process has no game API to tail');
      return;
    }
    if (!response.ok) {
      tail = null;
      let why = `HTTP ${response.status}`;
      try {
        why = (await response.json()).error || why;
      } catch {
        // not JSON: keep the status
      }
      retryTail(why);
      return;
    }
    setTailState('live', tailPaused ? 'paused' : 'live');
    drawTail();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = parseFrame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (frame) onTailEvent(frame);
        }
      }
    } catch {
      // aborted, or the connection dropped: below decides
    }
    if (tail === controller) tail = null;
    if (!controller.signal.aborted) retryTail('the stream ended');
  }

  /** One SSE frame's fields; comments (keep-alives) and empty frames give null. */
  function parseFrame(frame) {
    const data = [];
    let event = 'message';
    for (const line of frame.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
    }
    return data.length ? { event, data: data.join('\n'), at: new Date() } : null;
  }

  function onTailEvent(frame) {
    tailEvents.unshift(frame);
    if (tailEvents.length > TAIL_MAX) tailEvents.length = TAIL_MAX;
    if (tailPaused) {
      tailUnseen += 1;
      $('tail-state').textContent = `paused · ${integer.format(tailUnseen)} new`;
      return;
    }
    // Many events a second redraw once a frame.
    if (!tailDrawPending) {
      tailDrawPending = true;
      requestAnimationFrame(() => {
        tailDrawPending = false;
        drawTail();
      });
    }
  }

  function drawTail() {
    const list = $('tail');
    if (tailEvents.length === 0) {
      list.replaceChildren(el('li', { class: 'note' }, 'Waiting for events…'));
      return;
    }
    list.replaceChildren(...tailEvents.map(tailItem));
  }

  function tailItem(frame) {
    const time = frame.at.toTimeString().slice(0, 8);
    if (frame.event === 'error') {
      return el('li', { class: 'tail-event error' }, el('span', { class: 'time' }, time), el('span', { class: 'type' }, 'error'), el('code', {}, frame.data));
    }
    let event = null;
    try {
      event = JSON.parse(frame.data);
    } catch {
      // not JSON: shown as it came
    }
    const field = (...names) => {
      if (!event || typeof event !== 'object') return null;
      for (const n of names) {
        if (typeof event[n] === 'string') return event[n];
      }
      return null;
    };
    return el('li', { class: 'tail-event' },
      el('span', { class: 'time' }, time),
      el('span', { class: 'type' }, field('event_type') ?? '—'),
      el('span', { class: 'host' }, field('Host', 'host') ?? ''),
      el('code', { title: frame.data.length > 200 ? frame.data : null }, shorten(frame.data, 400)));
  }

  function toggleTailPause() {
    tailPaused = !tailPaused;
    $('tail-pause').textContent = tailPaused ? 'Resume' : 'Pause';
    $('tail-pause').setAttribute('aria-pressed', String(tailPaused));
    if (!tailPaused) {
      tailUnseen = 0;
      drawTail();
    }
    if ($('tail').dataset.state === 'live') $('tail-state').textContent = tailPaused ? 'paused' : 'live';
  }

  // ---- Wiring.

  function every(ms, work) {
    const tick = async () => {
      if (!document.hidden) {
        try {
          await work();
        } catch (e) {
          if (!(e instanceof Unauthorized)) console.error(e);
        }
      }
      setTimeout(tick, ms);
    };
    tick();
  }

  function start() {
    for (const [title, sql] of EXAMPLES) {
      const chip = el('button', { type: 'button', class: 'chip', title: sql }, title);
      chip.addEventListener('click', () => {
        $('sql').value = sql;
        runQuery();
      });
      $('examples').append(chip);
    }
    $('run').addEventListener('click', runQuery);
    $('sql').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        runQuery();
      }
    });
    $('auth').addEventListener('submit', (e) => {
      e.preventDefault();
      const value = $('token-input').value.trim();
      $('token-input').value = '';
      if (value) useToken(value);
    });
    $('token-button').addEventListener('click', () => {
      if (token && !$('auth').hidden) $('auth').hidden = true;
      else askForToken(token ? 'change' : 'missing');
    });
    $('tables-refresh').addEventListener('click', loadTables);
    $('tail-pause').addEventListener('click', toggleTailPause);
    window.addEventListener('hashchange', () => {
      if (takeTokenFromAddress()) useToken(token);
    });
    // A hidden tab keeps no stream open; polls skip while hidden.
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) {
        stopTail();
      } else {
        startTail();
        loadTables();
      }
    });
    window.addEventListener('pagehide', stopTail);
    window.addEventListener('pageshow', (e) => {
      if (e.persisted) startTail();
    });

    if (!takeTokenFromAddress()) askForToken('missing');
    every(2000, pollMetrics);
    every(5000, loadPlugins);
    every(10000, loadTables);
    startTail();
  }

  start();
})();
