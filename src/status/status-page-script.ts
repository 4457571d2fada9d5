/**
 * The /status page's only script, inlined: draws the charts with uPlot from the history
 * embedded in the page, then every 2 s fetches /status/history.json for the charts and
 * /status itself for the tables (so the tables are rendered and escaped in one place, the
 * server). It sets data-charts="ready" and data-chart-points=N on <body> after each draw and
 * counts the table refreshes in data-refreshed, which is what a test (or a person in the
 * inspector) can check. Plain ES2017, no build step.
 */
export const STATUS_PAGE_SCRIPT = `
(function () {
  'use strict';
  var COLORS = ['#2563eb', '#dc2626', '#16a34a', '#ea580c', '#9333ea', '#0891b2', '#ca8a04', '#db2777'];
  var CHARTS = [
    { key: 'rps', id: 'chart-rps' },
    { key: 'waitMs', id: 'chart-wait' },
    { key: 'busy', id: 'chart-busy', whole: true },
    { key: 'queued', id: 'chart-queued', whole: true }
  ];
  // Steps of the y axis for counts of workers and requests: never 0.5 of one.
  var WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
  var plots = {};
  var shownPools = null;
  var body = document.body;

  function columns(h, key, names) {
    return [h.t].concat(names.map(function (n) { return h.pools[n][key]; }));
  }

  function pad(n) {
    return n < 10 ? '0' + n : String(n);
  }

  // Clock times only: uPlot's default adds a date line that crowds a narrow chart.
  function clock(u, splits) {
    return splits.map(function (v) {
      var d = new Date(v * 1000);
      return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    });
  }

  function width(el) {
    return Math.max(280, el.clientWidth - 4);
  }

  function make(chart, h, names) {
    var box = document.getElementById(chart.id).querySelector('.plot');
    box.textContent = '';
    var opts = {
      width: width(box),
      height: 170,
      legend: { show: names.length > 1 },
      scales: {
        x: { time: true },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.15 : 1]; } }
      },
      axes: [{ values: clock, space: 70 }, chart.whole ? { size: 50, incrs: WHOLE } : { size: 50 }],
      series: [{}].concat(names.map(function (n, i) {
        return { label: n, stroke: COLORS[i % COLORS.length], width: 1.5, fill: COLORS[i % COLORS.length] + '1a' };
      }))
    };
    return new uPlot(opts, columns(h, chart.key, names), box);
  }

  function draw(h) {
    if (typeof uPlot === 'undefined') {
      body.setAttribute('data-charts', 'no-uplot');
      return;
    }
    var names = Object.keys(h.pools).sort();
    var same = shownPools !== null && shownPools.join('\\n') === names.join('\\n');
    CHARTS.forEach(function (chart) {
      if (same) {
        plots[chart.key].setData(columns(h, chart.key, names));
      } else {
        if (plots[chart.key]) plots[chart.key].destroy();
        plots[chart.key] = make(chart, h, names);
      }
    });
    shownPools = names;
    body.setAttribute('data-chart-points', String(h.t.length));
    body.setAttribute('data-charts', h.t.length > 0 ? 'ready' : 'empty');
  }

  function swap(text) {
    var doc = new DOMParser().parseFromString(text, 'text/html');
    ['summary', 'live'].forEach(function (id) {
      var fresh = doc.getElementById(id);
      var old = document.getElementById(id);
      if (fresh && old) old.replaceWith(document.adoptNode(fresh));
    });
    body.removeAttribute('data-stale');
    body.setAttribute('data-refreshed', String(Number(body.getAttribute('data-refreshed') || 0) + 1));
  }

  function poll() {
    fetch('/status/history.json', { cache: 'no-store' })
      .then(function (r) { return r.json(); })
      .then(draw)
      .catch(function () { body.setAttribute('data-stale', 'yes'); });
    fetch('/status', { cache: 'no-store' })
      .then(function (r) { return r.text(); })
      .then(swap)
      .catch(function () { body.setAttribute('data-stale', 'yes'); });
  }

  draw(JSON.parse(document.getElementById('history-data').textContent));
  setInterval(poll, 2000);
  window.addEventListener('resize', function () {
    CHARTS.forEach(function (chart) {
      var p = plots[chart.key];
      if (p) p.setSize({ width: width(document.getElementById(chart.id).querySelector('.plot')), height: 170 });
    });
  });
})();
`;
