'use strict';
/* HTTP clients of the benchmarks: readiness probes, single timed requests, autocannon runs. */

const http = require('node:http');
const net = require('node:net');
const { performance } = require('node:perf_hooks');
const autocannon = require('autocannon');
const { HOST, percentile } = require('./common');

const READY_TIMEOUT = 15000;
const READY_INTERVAL = 100;
/** Latency samples kept per autocannon run (reservoir sampling beyond that): 8 bytes each. */
const MAX_SAMPLES = 1 << 21;

/**
 * One GET on a connection of its own (Connection: close). Resolves to
 * { status, body, ms, endedAt } where ms runs from the call to the last body byte and endedAt
 * is performance.now() then; rejects on a connection error or after timeoutMs.
 */
function get(url, timeoutMs) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => req.destroy(new Error(`no response within ${timeoutMs / 1000} s`)), timeoutMs);
    const req = http.get(url, { agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.once('end', () => {
        clearTimeout(timer);
        const endedAt = performance.now();
        resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('latin1'), ms: endedAt - started, endedAt });
      });
      res.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * One request with a body on a connection of its own: { status, headers, body (a Buffer) };
 * rejects on a connection error or after timeoutMs. For checking what a server answers.
 */
function send(url, method, body, headers, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.once('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no response within ${timeoutMs / 1000} s`)), timeoutMs);
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}

/** One GET; resolves to the status code, rejects on a connection error or after 2 s. */
async function probe(url) {
  return (await get(url, 2000)).status;
}

/** Polls url until it answers 2xx; fails early when the process exits. */
async function waitReady(url, child, timeoutMs = READY_TIMEOUT) {
  const deadline = Date.now() + timeoutMs;
  const attempts = Math.ceil(timeoutMs / READY_INTERVAL);
  let last = 'no answer';
  for (let i = 0; i < attempts && Date.now() < deadline; i++) {
    exitedCheck(child);
    try {
      const status = await probe(url);
      if (status >= 200 && status < 300) return;
      last = `HTTP ${status}`;
    } catch (err) {
      last = err.code ?? err.message;
    }
    await sleep(READY_INTERVAL);
  }
  throw new Error(`${url} did not answer 2xx within ${timeoutMs / 1000} s (last: ${last})`);
}

/**
 * Polls HOST:port with bare TCP connects (no HTTP request, so no worker is started) every
 * intervalMs until one succeeds; resolves to performance.now() at that moment. Fails early
 * when the process exits.
 */
async function waitListening(port, child, timeoutMs = READY_TIMEOUT, intervalMs = 5) {
  const deadline = Date.now() + timeoutMs;
  const attempts = Math.ceil(timeoutMs / intervalMs);
  let last = 'no answer';
  for (let i = 0; i < attempts && Date.now() < deadline; i++) {
    exitedCheck(child);
    try {
      await connectOnce(port, 1000);
      return performance.now();
    } catch (err) {
      last = err.code ?? err.message;
    }
    await sleep(intervalMs);
  }
  throw new Error(`${HOST}:${port} did not accept a connection within ${timeoutMs / 1000} s (last: ${last})`);
}

function connectOnce(port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: HOST, port });
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error('connect timed out')));
    sock.once('connect', () => {
      sock.destroy();
      resolve();
    });
    sock.once('error', reject);
  });
}

function exitedCheck(child) {
  if (child.hasExited()) {
    const info = child.exitInfo();
    throw new Error(`exited before answering (code ${info.code}, signal ${info.signal})`);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The autocannon run in progress, for stopMeasurement(). */
let running = null;

/**
 * One autocannon run. Latency percentiles come from the per-response times autocannon
 * reports (float ms), because its own histogram records whole milliseconds and a local
 * FastCGI round trip is well under one.
 */
async function measure(url, connections, duration) {
  let samples = new Float64Array(Math.min(MAX_SAMPLES, 1 << 16));
  let seen = 0;
  let overOneSecond = 0;
  const instance = autocannon({ url, connections, duration, pipelining: 1, timeout: 10 });
  running = instance;
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode < 200 || statusCode >= 300) return;
    if (responseTime >= 1000) overOneSecond++;
    if (seen < samples.length) {
      samples[seen] = responseTime;
    } else if (samples.length < MAX_SAMPLES) {
      const grown = new Float64Array(Math.min(MAX_SAMPLES, samples.length * 2));
      grown.set(samples);
      samples = grown;
      samples[seen] = responseTime;
    } else {
      const j = Math.floor(Math.random() * (seen + 1));
      if (j < samples.length) samples[j] = responseTime;
    }
    seen++;
  });
  const result = await instance;
  running = null;
  const kept = samples.subarray(0, Math.min(seen, samples.length)).sort();
  return {
    connections,
    rps: result.requests.average,
    // The aggregate has no totalCompletedRequests; requests.total is the completed count.
    total: result.requests.total,
    p50: percentile(kept, 0.5),
    p99: percentile(kept, 0.99),
    max: kept.length > 0 ? kept[kept.length - 1] : NaN,
    overOneSecond,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    durationS: result.duration,
  };
}

/** Stops the autocannon run in progress, if any (abort). */
function stopMeasurement() {
  if (running) running.stop();
}

module.exports = { READY_TIMEOUT, get, send, probe, waitReady, waitListening, sleep, measure, stopMeasurement };
