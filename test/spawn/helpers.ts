import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger, type Logger } from '../../src/log';

export const PROBE = path.resolve(__dirname, '..', '..', 'fixtures', 'fcgi-apps', 'build', 'probe.fcgi');

export function requireProbe(): string {
  if (!fs.existsSync(PROBE)) throw new Error(`${PROBE} is missing: run "npm run fixtures" (make -C fixtures/fcgi-apps)`);
  return PROBE;
}

/** A fresh directory under os.tmpdir(); remove it with removeTempDir. */
export function makeTempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fcgipm-spawn-'));
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export const INFO = 30;
export const WARN = 40;

/** A real pino logger (createLogger) writing into memory, with a way to wait for a line. */
export class CapturedLog {
  readonly records: LogRecord[] = [];
  readonly logger: Logger;
  private waiters: { match: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];

  constructor() {
    this.logger = createLogger({
      level: 'debug',
      destination: {
        write: (chunk: string): void => {
          for (const text of chunk.split('\n')) {
            if (text !== '') this.add(JSON.parse(text) as LogRecord);
          }
        },
      },
    });
  }

  /** Resolves with the first record (already logged or still to come) that matches. */
  waitFor(match: (r: LogRecord) => boolean): Promise<LogRecord> {
    const found = this.records.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  output(stream: 'stdout' | 'stderr'): LogRecord[] {
    return this.records.filter((r) => r.msg === 'worker output' && r.stream === stream);
  }

  private add(record: LogRecord): void {
    this.records.push(record);
    const ready = this.waiters.filter((w) => w.match(record));
    this.waiters = this.waiters.filter((w) => !w.match(record));
    for (const w of ready) w.resolve(record);
  }
}

export interface ProbeReport {
  pid: number;
  uid: number;
  gid: number;
  pgid: number;
  argv: string[];
  peername: string;
  acceptconn: string;
  nonblock: string;
  sockname: string;
  fds: number[];
  fdTargets: Map<number, string>;
  cwd: string;
  /** `rlimit NAME SOFT HARD` lines, by NAME (nofile, core, as, nproc). */
  rlimits: Record<string, { soft: number | 'unlimited'; hard: number | 'unlimited' }>;
  nice: number;
  umask: number;
  groups: number[];
  env: Record<string, string>;
}

function rlimitValue(text: string | undefined): number | 'unlimited' {
  return text === 'unlimited' ? 'unlimited' : Number(text);
}

/** Parses the `key value` report the probe fixture writes (see fixtures/fcgi-apps/probe.c). */
export function readProbeReport(file: string): ProbeReport {
  const report: ProbeReport = {
    pid: 0,
    uid: -1,
    gid: -1,
    pgid: 0,
    argv: [],
    peername: '',
    acceptconn: '',
    nonblock: '',
    sockname: '',
    fds: [],
    fdTargets: new Map(),
    cwd: '',
    rlimits: {},
    nice: NaN,
    umask: -1,
    groups: [],
    env: {},
  };
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  if (!lines.includes('end')) throw new Error(`${file}: incomplete probe report`);
  for (const line of lines) {
    const space = line.indexOf(' ');
    const key = space < 0 ? line : line.slice(0, space);
    const value = space < 0 ? '' : line.slice(space + 1);
    switch (key) {
      case 'pid':
        report.pid = Number(value);
        break;
      case 'ids': {
        const [uid, gid, pgid] = value.split(' ').map(Number);
        report.uid = uid!;
        report.gid = gid!;
        report.pgid = pgid!;
        break;
      }
      case 'argv':
        report.argv.push(value.slice(value.indexOf(' ') + 1));
        break;
      case 'peername':
      case 'acceptconn':
      case 'nonblock':
      case 'sockname':
      case 'cwd':
        report[key] = value;
        break;
      case 'fds':
        report.fds = value === '' ? [] : value.split(',').map(Number);
        break;
      case 'rlimit': {
        const [name, soft, hard] = value.split(' ');
        report.rlimits[name!] = { soft: rlimitValue(soft), hard: rlimitValue(hard) };
        break;
      }
      case 'nice':
        report.nice = Number(value);
        break;
      case 'umask':
        report.umask = parseInt(value, 8);
        break;
      case 'groups':
        report.groups = value === '' ? [] : value.split(',').map(Number);
        break;
      case 'fd': {
        const at = value.indexOf(' ');
        report.fdTargets.set(Number(value.slice(0, at)), value.slice(at + 1));
        break;
      }
      case 'env': {
        const eq = value.indexOf('=');
        report.env[value.slice(0, eq)] = value.slice(eq + 1);
        break;
      }
      default:
        break;
    }
  }
  return report;
}

/** The flags line of /proc/self/fdinfo/<fd> (octal open flags; 02000000 is O_CLOEXEC). */
export function fdFlags(fd: number): number {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const match = /^flags:\s+([0-7]+)$/m.exec(info);
  if (!match) throw new Error(`no flags in /proc/self/fdinfo/${fd}`);
  return parseInt(match[1]!, 8);
}

export const O_CLOEXEC = 0o2000000;
export const O_NONBLOCK = 0o4000;

export function isCloexec(fd: number): boolean {
  return (fdFlags(fd) & O_CLOEXEC) !== 0;
}
