'use strict';
/*
 * Processes a benchmark starts, and how they are stopped: each runs in its own process group
 * with its output appended to a log file, is stopped with SIGTERM and then SIGKILL to its whole
 * group, and its FastCGI workers are found by the socket on their fd 0 (they may run in a
 * process group of their own). Shared by bench/run.js, bench/pm.js and bench/peers.js.
 */

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { HOST, ROOT } = require('./common');

/* Time limits (ms). */
const STOP_GRACE = 10000;
const KILL_WAIT = 3000;

/** Every handle started and not yet stopped, for stopAll(). */
const live = new Set();
let aborting = false;

/**
 * Spawns file in its own process group (so a stuck server and the processes it forked can be
 * killed together) with stdout and stderr appended to logFile. options: cwd (default the
 * project root), stopGrace (ms between SIGTERM and SIGKILL, default STOP_GRACE), pidFile (the
 * server's own record of its pid; stop() signals that pid too and says when it differs).
 * Workers that run in a session of their own are found by their socket instead: fd 0 bound
 * inside ipcDir.
 */
function startProcess(file, args, extraEnv, logFile, ipcDir, options = {}) {
  if (aborting) throw new Error('aborted');
  const stopGrace = options.stopGrace ?? STOP_GRACE;
  const fd = fs.openSync(logFile, 'a');
  let proc;
  try {
    proc = spawn(file, args, {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...extraEnv },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    fs.closeSync(fd);
  }
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    proc.once('error', (err) => resolve({ code: null, signal: null, error: err }));
  });
  let exitInfo = null;
  void exited.then((info) => {
    exitInfo = info;
  });
  let stopping = null;
  const handle = {
    pid: proc.pid,
    stopGrace,
    exited,
    hasExited: () => exitInfo !== null,
    exitInfo: () => exitInfo,
    /** SIGTERM, wait stopGrace, then SIGKILL the whole group. Resolves to a list of notes. */
    stop() {
      stopping ??= stopHandle();
      return stopping;
    },
  };
  async function stopHandle() {
    const notes = [];
    if (exitInfo === null) {
      const recorded = options.pidFile ? readPid(options.pidFile) : null;
      if (recorded !== null && recorded !== proc.pid) {
        notes.push(`${options.pidFile} names pid ${recorded}, not ${proc.pid}; signalled both`);
        signal(recorded, 'SIGTERM');
      }
      signal(proc.pid, 'SIGTERM');
      if ((await within(exited, stopGrace)) === undefined) {
        notes.push(`did not exit within ${stopGrace / 1000} s of SIGTERM; killed its process group`);
        signal(-proc.pid, 'SIGKILL');
        await within(exited, KILL_WAIT);
      }
    }
    const info = exitInfo ?? { code: null, signal: 'unknown' };
    if (info.error) notes.push(`spawn failed: ${info.error.message}`);
    else if (info.code !== 0 && notes.length === 0) {
      notes.push(`exited with ${info.code !== null ? `code ${info.code}` : `signal ${info.signal}`} after SIGTERM`);
    }
    // Processes of the group that got the same signal (a server's apps) may take a moment.
    let left = groupMembers(proc.pid);
    for (let i = 0; i < 20 && left.length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      left = groupMembers(proc.pid);
    }
    if (left.length > 0) {
      notes.push(`left ${left.length} process(es) in its group (${left.join(', ')}); killed them`);
      signal(-proc.pid, 'SIGKILL');
    }
    const workers = ipcDir ? socketHolders(ipcDir).filter((pid) => !left.includes(pid)) : [];
    if (workers.length > 0) {
      notes.push(`left ${workers.length} worker(s) listening in ${ipcDir} (${workers.join(', ')}); killed them`);
      for (const pid of workers) signal(pid, 'SIGKILL');
    }
    live.delete(handle);
    return notes;
  }
  live.add(handle);
  return handle;
}

function readPid(file) {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if (err.code !== 'ESRCH') throw err;
  }
}

/** Live (non-zombie) processes of process group pgid, from /proc. */
function groupMembers(pgid) {
  const members = [];
  let entries;
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return members;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the parenthesised command name: state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') members.push(Number(entry));
  }
  return members;
}

/**
 * Live processes whose fd 0 is a Unix socket bound to a path inside dir (the workers of a
 * manager using dir as its IPC dir: fcgipm's and mod_fcgid's alike), from /proc/net/unix and
 * /proc/<pid>/fd/0.
 */
function socketHolders(dir) {
  const inodes = new Set();
  let table;
  try {
    table = fs.readFileSync('/proc/net/unix', 'utf8').split('\n');
  } catch {
    return [];
  }
  for (const row of table.slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path
    const cols = row.trim().split(/\s+/);
    if (cols.length >= 8 && cols[7].startsWith(dir + path.sep)) inodes.add(cols[6]);
  }
  if (inodes.size === 0) return [];
  const holders = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${entry}/fd/0`));
      if (m && inodes.has(m[1])) holders.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return holders;
}

/** Resolves to the promise's value, or to undefined after ms. */
function within(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Parent pid of pid from /proc/<pid>/stat, or null when it is gone. */
function parentPid(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** Live direct children of pid, from /proc. */
function childPids(pid) {
  const out = [];
  let entries;
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (/^\d+$/.test(entry) && parentPid(Number(entry)) === pid) out.push(Number(entry));
  }
  return out;
}

/** The executable of pid (/proc/<pid>/exe), or undefined when it is gone or not readable. */
function exeOf(pid) {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/**
 * A server's own processes: leader and the members of its process group that run the same
 * executable (nginx's master and workers, Apache's parent and children), not the apps it
 * started (they run another executable).
 */
function sameExeGroup(leader) {
  const exe = exeOf(leader);
  if (exe === undefined) return [];
  return groupMembers(leader).filter((pid) => pid === leader || exeOf(pid) === exe);
}

/** Sum of VmRSS of pids in KiB, from /proc/<pid>/status; a process gone meanwhile counts 0. */
function rssKiB(pids) {
  let sum = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) sum += Number(m[1]);
    } catch {
      // Gone meanwhile.
    }
  }
  return sum;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The handles started and not yet stopped (to stop what one part of a run left behind). */
function liveHandles() {
  return [...live];
}

function isAborting() {
  return aborting;
}

/**
 * Marks the run as aborting (no new process starts) and stops everything still running.
 * Resolves when all are stopped or after the grace periods, whichever is first.
 */
function stopAll() {
  aborting = true;
  const handles = [...live];
  const grace = Math.max(STOP_GRACE, ...handles.map((h) => h.stopGrace));
  return within(Promise.all(handles.map((h) => h.stop().catch(() => []))), grace + KILL_WAIT + 1000);
}

module.exports = {
  STOP_GRACE,
  KILL_WAIT,
  startProcess,
  signal,
  groupMembers,
  socketHolders,
  parentPid,
  childPids,
  exeOf,
  sameExeGroup,
  rssKiB,
  within,
  freePort,
  liveHandles,
  isAborting,
  stopAll,
};
