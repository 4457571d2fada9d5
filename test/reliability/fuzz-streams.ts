/**
 * Generators for the fuzzing cases (fuzz-*.test.ts): FastCGI record streams as a web server
 * would send them, the same streams mutated the ways a broken or hostile peer breaks them, and
 * raw bytes. Record bytes are built by hand here (not with src/protocol's encoder), so that the
 * decoder is not only checked against its own writer.
 */
import fc from 'fast-check';
import { RecordType, Role } from '../../src/protocol/constants';
import { cutAt as cutAtOffsets } from '../protocol/support';

/** One record as generated: padding is any length, filled with any byte. */
export interface RecordSpec {
  readonly type: number;
  readonly requestId: number;
  readonly content: Buffer;
  readonly padding: number;
}

/** A generated stream and where its records start (for the mutations that aim at a header). */
export interface Stream {
  readonly bytes: Buffer;
  readonly records: readonly RecordSpec[];
  readonly offsets: readonly number[];
}

export type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly xor: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'delete'; readonly at: number; readonly length: number }
  | { readonly kind: 'version'; readonly record: number; readonly value: number }
  | { readonly kind: 'type'; readonly record: number; readonly value: number }
  | { readonly kind: 'requestId'; readonly record: number; readonly value: number }
  | { readonly kind: 'contentLength'; readonly record: number; readonly value: number }
  | { readonly kind: 'padding'; readonly record: number; readonly value: number };

/** The eight header bytes and what follows, exactly as specified (no alignment added). */
export function recordBytes(r: RecordSpec, paddingByte = 0xa5, version = 1): Buffer {
  // allocUnsafe: small buffers come from Node's pool; the GC was a fifth of the CPU profile.
  const out = Buffer.allocUnsafe(8 + r.content.length + r.padding);
  out.fill(paddingByte, 8 + r.content.length);
  out[0] = version;
  out[1] = r.type;
  out.writeUInt16BE(r.requestId, 2);
  out.writeUInt16BE(r.content.length, 4);
  out[6] = r.padding;
  out[7] = 0;
  r.content.copy(out, 8);
  return out;
}

export function streamOf(records: readonly RecordSpec[]): Stream {
  const parts = records.map((r) => recordBytes(r));
  const offsets: number[] = [];
  let pos = 0;
  for (const p of parts) {
    offsets.push(pos);
    pos += p.length;
  }
  return { bytes: Buffer.concat(parts, pos), records, offsets };
}

/** A name-value length field (spec §3.4): one byte below 128, else four with the top bit set. */
function lengthField(n: number): Buffer {
  if (n < 128) return Buffer.from([n]);
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE((n | 0x80000000) >>> 0);
  return b;
}

export function pairsBytes(pairs: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of pairs) {
    parts.push(lengthField(name.length), lengthField(value.length), Buffer.from(name, 'latin1'), Buffer.from(value, 'latin1'));
  }
  return Buffer.concat(parts);
}

/**
 * Content of a given length whose bytes vary, without generating each byte: a 61-byte pattern
 * from the seed, repeated by Buffer#fill (a per-byte loop over 64 KiB cost more than the rest
 * of a case).
 */
function patterned(length: number, seed: number): Buffer {
  const pattern = Buffer.allocUnsafe(61);
  let x = seed | 1;
  for (let i = 0; i < pattern.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    pattern[i] = x & 0xff;
  }
  return length === 0 ? Buffer.alloc(0) : Buffer.allocUnsafe(length).fill(pattern);
}

/**
 * Byte strings (latin1), lengths crossing the one-byte/four-byte boundary at 127/128. Built
 * from a seed rather than char by char: a string arbitrary cost three times the rest of a case.
 */
const byteString = fc.oneof(
  { weight: 6, arbitrary: fc.record({ n: fc.nat({ max: 12 }), s: fc.integer() }).map(({ n, s }) => patterned(n, s).toString('latin1')) },
  { weight: 1, arbitrary: fc.record({ n: fc.integer({ min: 120, max: 400 }), c: fc.integer({ min: 0, max: 255 }) }).map(({ n, c }) => String.fromCharCode(c).repeat(n)) },
);
export const pairsArb: fc.Arbitrary<Array<[string, string]>> = fc.array(fc.tuple(byteString, byteString), { maxLength: 6 });

/**
 * Pair bytes whose length fields lie: lengths past the end, four-byte lengths with the top bit
 * (up to 2^31 - 1), a length field cut in the middle — framed in a well-formed record, so only
 * the name-value decoder can catch them.
 */
export const hostilePairsArb: fc.Arbitrary<Buffer> = fc
  .array(
    fc.record({
      name: fc.oneof(fc.integer({ min: 0, max: 127 }), fc.integer({ min: 128, max: 0x7fffffff }), fc.constant(0x7fffffff)),
      value: fc.oneof(fc.integer({ min: 0, max: 127 }), fc.integer({ min: 128, max: 0x7fffffff }), fc.constant(0x7fffffff)),
      data: fc.integer({ min: 0, max: 64 }),
      cut: fc.integer({ min: 0, max: 9 }),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map((items) => {
    const parts: Buffer[] = [];
    for (const it of items) {
      const head = Buffer.concat([lengthField(it.name), lengthField(it.value)]);
      parts.push(it.cut < head.length ? head.subarray(0, it.cut) : head, Buffer.alloc(it.data, 0x41));
    }
    return Buffer.concat(parts);
  });

/** mulberry32: a small seeded PRNG, for content built from one generated seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Well-formed pair bytes from a seed: names and values of 0-12 bytes mostly, some across the
 * 127/128 boundary and up to 400. As record content, ten times cheaper to generate than pairsArb.
 */
const seededPairsArb: fc.Arbitrary<Buffer> = fc.record({ count: fc.integer({ min: 1, max: 6 }), s: fc.integer() }).map(({ count, s }) => {
  const rand = prng(s);
  const length = (): number => {
    const r = rand();
    if (r < 0.7) return Math.floor(rand() * 13);
    if (r < 0.9) return 120 + Math.floor(rand() * 20);
    return Math.floor(rand() * 401);
  };
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < count; i++) pairs.push([patterned(length(), s + i).toString('latin1'), patterned(length(), s - i).toString('latin1')]);
  return pairsBytes(pairs);
});

const KNOWN_TYPES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

const contentArb: fc.Arbitrary<Buffer> = fc.oneof(
  // Short contents mostly from a seed (cheap to generate); some byte by byte (shrink well).
  { weight: 6, arbitrary: fc.record({ n: fc.nat({ max: 24 }), s: fc.integer() }).map(({ n, s }) => patterned(n, s)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)) },
  { weight: 3, arbitrary: seededPairsArb },
  { weight: 1, arbitrary: hostilePairsArb },
  { weight: 2, arbitrary: fc.record({ n: fc.integer({ min: 25, max: 4000 }), s: fc.integer() }).map(({ n, s }) => patterned(n, s)) },
  { weight: 1, arbitrary: fc.integer().map((s) => patterned(65535, s)) },
);

export const recordArb: fc.Arbitrary<RecordSpec> = fc.record({
  type: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...KNOWN_TYPES) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  requestId: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0, 1, 2) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 65535 }) }),
  content: contentArb,
  padding: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 7 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
});

/** Positions are fractions of whatever length the stream has, so they fit any stream. */
const where = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const recordIndex = fc.nat({ max: 63 });

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: where, xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: where }),
  fc.record({ kind: fc.constant('insert' as const), at: where, bytes: fc.uint8Array({ minLength: 1, maxLength: 24 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: where, length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('version' as const), record: recordIndex, value: fc.integer({ min: 0, max: 255 }).filter((v) => v !== 1) }),
  fc.record({ kind: fc.constant('type' as const), record: recordIndex, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('requestId' as const), record: recordIndex, value: fc.integer({ min: 0, max: 65535 }) }),
  fc.record({
    kind: fc.constant('contentLength' as const),
    record: recordIndex,
    value: fc.oneof(fc.constant(0xffff), fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
  }),
  fc.record({ kind: fc.constant('padding' as const), record: recordIndex, value: fc.integer({ min: 0, max: 255 }) }),
);

/** Applies mutations in order; header mutations aim at a record start of the original stream. */
export function mutate(stream: Stream, mutations: readonly Mutation[]): Buffer {
  let bytes = Buffer.from(stream.bytes);
  for (const m of mutations) {
    const at = (f: number): number => Math.floor(f * (bytes.length + 1));
    switch (m.kind) {
      case 'flip':
        if (bytes.length > 0) bytes[Math.min(at(m.at), bytes.length - 1)]! ^= m.xor;
        break;
      case 'truncate':
        bytes = bytes.subarray(0, at(m.at));
        break;
      case 'insert': {
        const p = at(m.at);
        bytes = Buffer.concat([bytes.subarray(0, p), m.bytes, bytes.subarray(p)]);
        break;
      }
      case 'delete': {
        const p = at(m.at);
        bytes = Buffer.concat([bytes.subarray(0, p), bytes.subarray(p + m.length)]);
        break;
      }
      default: {
        if (stream.offsets.length === 0) break;
        const h = stream.offsets[m.record % stream.offsets.length]!;
        if (h + 8 > bytes.length) break;
        if (m.kind === 'version') bytes[h] = m.value;
        else if (m.kind === 'type') bytes[h + 1] = m.value;
        else if (m.kind === 'requestId') bytes.writeUInt16BE(m.value, h + 2);
        else if (m.kind === 'contentLength') bytes.writeUInt16BE(m.value, h + 4);
        else bytes[h + 6] = m.value;
      }
    }
  }
  return bytes;
}

/** Cut points as fractions of the stream length; duplicates give empty chunks (allowed). */
export const cutsArb: fc.Arbitrary<number[]> = fc.oneof(
  { weight: 4, arbitrary: fc.array(where, { maxLength: 8 }) },
  { weight: 1, arbitrary: fc.array(where, { minLength: 20, maxLength: 60 }) },
);

/** Cuts `buf` at fractions of its length (0 to 1), as the protocol tests cut at offsets. */
export function cutAt(buf: Buffer, fractions: readonly number[]): Buffer[] {
  return cutAtOffsets(buf, fractions.map((f) => Math.floor(f * (buf.length + 1))));
}

// ---- requests as a web server sends them (the front end's input) ---------------------------

/** One request of a well-behaved web server: BEGIN_REQUEST, PARAMS in any cuts, STDIN. */
export interface RequestSpec {
  readonly requestId: number;
  readonly keepConn: boolean;
  readonly pairs: Array<[string, string]>;
  readonly body: Buffer;
  /** Where PARAMS content is cut into records (a pair may straddle two, spec §3.4). */
  readonly paramCuts: number[];
  readonly stdinCuts: number[];
}

export const requestArb: fc.Arbitrary<RequestSpec> = fc.record({
  requestId: fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 65535 }) }),
  keepConn: fc.constant(true),
  pairs: pairsArb,
  body: fc.oneof(
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.record({ n: fc.integer({ min: 41, max: 70000 }), s: fc.integer() }).map(({ n, s }) => patterned(n, s)) },
  ),
  paramCuts: fc.array(where, { maxLength: 3 }),
  stdinCuts: fc.array(where, { maxLength: 3 }),
});

/** Splits content into stream records at the cuts (and at 65535), then the empty record. */
function streamRecords(type: number, requestId: number, content: Buffer, cuts: readonly number[]): RecordSpec[] {
  const out: RecordSpec[] = [];
  for (const piece of cutAt(content, cuts)) {
    for (let s = 0; s < piece.length; s += 0xffff) {
      out.push({ type, requestId, content: piece.subarray(s, s + 0xffff), padding: -piece.length & 7 });
    }
  }
  out.push({ type, requestId, content: Buffer.alloc(0), padding: 0 });
  return out;
}

export function requestRecords(r: RequestSpec, role: number = Role.RESPONDER): RecordSpec[] {
  const begin = Buffer.alloc(8);
  begin.writeUInt16BE(role, 0);
  begin[2] = r.keepConn ? 1 : 0;
  return [
    { type: RecordType.BEGIN_REQUEST, requestId: r.requestId, content: begin, padding: 0 },
    ...streamRecords(RecordType.PARAMS, r.requestId, pairsBytes(r.pairs), r.paramCuts),
    ...streamRecords(RecordType.STDIN, r.requestId, r.body, r.stdinCuts),
  ];
}

// ---- seeds --------------------------------------------------------------------------------

/**
 * The run's base seed: FCGIPM_FUZZ_SEED when set (to replay a run), else the UTC date as
 * YYYYMMDD, so every run of one day explores the same cases and CI explores new ones each day.
 */
export function baseSeed(): number {
  const fromEnv = process.env.FCGIPM_FUZZ_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const v = Number(fromEnv);
    if (!Number.isInteger(v) || v < 0) throw new Error(`FCGIPM_FUZZ_SEED must be a non-negative integer, got ${fromEnv}`);
    return v % 21_474_836;
  }
  const d = new Date();
  return d.getUTCFullYear() * 10_000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
}

/** Slice k's fast-check seed: the base seed with two digits appended (20261204 → 2026120403). */
export function sliceSeed(base: number, slice: number): number {
  return base * 100 + slice;
}

/** Whether requestRecords(r) cuts a name-value pair across two PARAMS records (spec §3.4 allows it). */
export function pairStraddles(r: RequestSpec): boolean {
  const bounds = new Set<number>([0]);
  let pos = 0;
  for (const pair of r.pairs) {
    pos += pairsBytes([pair]).length;
    bounds.add(pos);
  }
  return r.paramCuts.some((f) => !bounds.has(Math.floor(f * (pos + 1))));
}
