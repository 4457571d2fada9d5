import type { LimitError, ProtocolError } from '../../src/errors';
import { RecordType } from '../../src/protocol/constants';
import { ParamsCollector } from '../../src/protocol/params-collector';
import { RecordDecoder, type FcgiRecord } from '../../src/protocol/record-decoder';

/** A record as the tests compare it: content copied out of whatever chunk it viewed. */
export interface PlainRecord {
  type: number;
  requestId: number;
  content: Buffer;
}

export interface RawRecordSpec {
  type: number;
  requestId: number;
  content?: Buffer | string;
  padding?: number;
  /** Byte used for padding (any value must be skipped). */
  paddingByte?: number;
  version?: number;
}

/**
 * Builds record bytes by hand, independently of src/protocol's writer, so decoder tests do not
 * just check the encoder against itself. Padding is whatever the test asks for.
 */
export function rawRecord(spec: RawRecordSpec): Buffer {
  const content = typeof spec.content === 'string' ? Buffer.from(spec.content, 'latin1') : (spec.content ?? Buffer.alloc(0));
  const padding = spec.padding ?? 0;
  const header = Buffer.from([
    spec.version ?? 1,
    spec.type,
    spec.requestId >> 8,
    spec.requestId & 0xff,
    content.length >> 8,
    content.length & 0xff,
    padding,
    0,
  ]);
  return Buffer.concat([header, content, Buffer.alloc(padding, spec.paddingByte ?? 0xa5)]);
}

export interface DecodeOutcome {
  records: PlainRecord[];
  error: ProtocolError | undefined;
  midRecord: boolean;
  bufferedBytes: number;
}

/** Feeds chunks to a fresh RecordDecoder, stopping at the first error as a caller would. */
export function decodeChunks(chunks: Iterable<Buffer>, maxBufferedBytes?: number): DecodeOutcome {
  const records: PlainRecord[] = [];
  const onRecord = (r: FcgiRecord): void => {
    records.push({ type: r.type, requestId: r.requestId, content: Buffer.from(r.content) });
  };
  const decoder = new RecordDecoder(onRecord, maxBufferedBytes === undefined ? undefined : { maxBufferedBytes });
  let error: ProtocolError | undefined;
  for (const chunk of chunks) {
    error = decoder.push(chunk);
    if (error) break;
  }
  return { records, error, midRecord: decoder.midRecord, bufferedBytes: decoder.bufferedBytes };
}

/** Cuts `buf` at the given offsets (sorted or not, duplicates give empty chunks). */
export function cutAt(buf: Buffer, offsets: readonly number[]): Buffer[] {
  const points = [...offsets].map((o) => Math.max(0, Math.min(buf.length, o))).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

export function byteByByte(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
  return out;
}

/** mulberry32: a tiny seeded PRNG so a failing chunking can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random chunk sizes from 1 to maxChunk, reproducible from the seed. */
export function randomChunks(buf: Buffer, seed: number, maxChunk: number): Buffer[] {
  const rand = prng(seed);
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const n = 1 + Math.floor(rand() * maxChunk);
    out.push(buf.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

/** A request/response as a receiver reassembles it: what the split-point tests compare. */
export interface Transcript {
  records: string[];
  params: Array<[string, string]> | undefined;
  streams: Record<string, string>;
  error: string | undefined;
}

/**
 * Decodes a byte stream the way fcgipm's two sides do: RecordDecoder for records,
 * ParamsCollector for PARAMS, stream contents concatenated per type. Any thrown exception
 * fails the test, which is the point: nothing here may throw on peer input.
 */
export function transcript(chunks: Iterable<Buffer>, maxParamsBytes = 1 << 20): Transcript {
  const records: string[] = [];
  const streams: Record<string, Buffer[]> = {};
  const collector = new ParamsCollector({ maxBytes: maxParamsBytes });
  let params: Array<[string, string]> | undefined;
  let error: ProtocolError | LimitError | undefined;
  const decoder = new RecordDecoder((r) => {
    records.push(`${r.type}/${r.requestId}/${r.content.length}`);
    if (r.type === RecordType.PARAMS) {
      const got = collector.push(r.content);
      if (Array.isArray(got)) params = got;
      else if (got) error ??= got;
    } else {
      (streams[r.type] ??= []).push(Buffer.from(r.content));
    }
  });
  for (const chunk of chunks) {
    const err = decoder.push(chunk);
    if (err) {
      error ??= err;
      break;
    }
  }
  const joined: Record<string, string> = {};
  for (const [type, parts] of Object.entries(streams)) joined[type] = Buffer.concat(parts).toString('hex');
  return { records, params, streams: joined, error: error?.message };
}
