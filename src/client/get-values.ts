import net from 'node:net';
import { RecordType } from '../protocol/constants';
import { encodeGetValues } from '../protocol/encoder';
import { decodePairs } from '../protocol/name-value';
import { RecordDecoder } from '../protocol/record-decoder';

/** The management variables of FastCGI spec §4.1. */
export const CAPACITY_VARIABLES = ['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'] as const;

/**
 * Asks an app for FastCGI management variables (FCGI_GET_VALUES, spec §4.1) on a connection
 * of its own. Resolves with the values, or undefined when the app closes the connection or
 * says nothing within timeoutMs — libfcgi 2.4.2 ignores a GET_VALUES that precedes a
 * request, php-cgi answers at once (MAX_REQS = PHP_FCGI_CHILDREN). Never rejects.
 */
export function queryValues(path: string, names: readonly string[], timeoutMs: number): Promise<Map<string, string> | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const socket = net.createConnection({ path });
    const finish = (values: Map<string, string> | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(values);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const decoder = new RecordDecoder((record) => {
      if (record.type !== RecordType.GET_VALUES_RESULT || record.requestId !== 0) return;
      try {
        finish(new Map(decodePairs(record.content)));
      } catch {
        finish(undefined);
      }
    });
    socket.on('connect', () => socket.write(encodeGetValues(names)));
    socket.on('data', (chunk: Buffer) => {
      if (decoder.push(chunk)) finish(undefined);
    });
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
  });
}

/** Requests one backend takes at once according to its answer: MAX_REQS, else MAX_CONNS; undefined if neither is a positive number. */
export function capacityFrom(values: Map<string, string> | undefined): number | undefined {
  for (const name of ['FCGI_MAX_REQS', 'FCGI_MAX_CONNS']) {
    const n = Number(values?.get(name));
    if (Number.isInteger(n) && n > 0) return n;
  }
  return undefined;
}
