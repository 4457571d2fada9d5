/**
 * Fuzzing the record decoder (src/protocol/: RecordDecoder, ParamsCollector, decodePairs and
 * the fixed-size bodies) with fast-check: over 1,000,000 generated cases in slices of their
 * own seed — well-formed record streams, the same streams mutated (flipped bytes, truncated,
 * bytes inserted or deleted, bad versions, random types and ids, content lengths up to 65535,
 * padding up to 255, name-value pairs whose lengths run past the end, four-byte lengths with the
 * top bit) and raw bytes, each cut into chunks any way. A failing slice prints fast-check's
 * seed and path; FCGIPM_FUZZ_SEED=<base> replays the whole run (see fuzz-streams.ts).
 */
import fc from 'fast-check';
import * as peerLib from 'fastcgi-parser';
import { FcgipmError, LimitError, ProtocolError } from '../../src/errors';
import { decodeBeginRequest, decodeEndRequest, decodeUnknownType } from '../../src/protocol/bodies';
import { FCGI_MAX_RECORD_LENGTH, RecordType } from '../../src/protocol/constants';
import { decodePairs } from '../../src/protocol/name-value';
import { ParamsCollector } from '../../src/protocol/params-collector';
import { RecordDecoder, type FcgiRecord } from '../../src/protocol/record-decoder';
import { n, recordFigure } from './figures';
import { baseSeed, cutAt, cutsArb, mutate, mutationArb, pairsArb, pairsBytes, recordArb, sliceSeed, streamOf, type RecordSpec } from './fuzz-streams';

/** 12 slices of 85,000: 1,020,000 cases. */
const SLICES = 12;
const RUNS_PER_SLICE = 85_000;
/** The peer runs on the cases of one slice (its byte-at-a-time loop is the slow part). */
const PEER_RUNS = 10_000;
/** A ParamsCollector bound low enough that generated streams cross it (the LimitError path). */
const MAX_PARAMS_BYTES = 64 * 1024;

const BASE = baseSeed();

interface Case {
  bytes: Buffer;
  /** The records encoded, when the bytes were not mutated: what must come out. */
  valid: readonly RecordSpec[] | undefined;
  cuts: number[];
}

const caseArb: fc.Arbitrary<Case> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ records: fc.array(recordArb, { maxLength: 6 }), cuts: cutsArb }).map(({ records, cuts }) => ({ bytes: streamOf(records).bytes, valid: records, cuts })) },
  {
    weight: 6,
    arbitrary: fc
      .record({ records: fc.array(recordArb, { minLength: 1, maxLength: 6 }), mutations: fc.array(mutationArb, { minLength: 1, maxLength: 3 }), cuts: cutsArb })
      .map(({ records, mutations, cuts }) => ({ bytes: mutate(streamOf(records), mutations), valid: undefined, cuts })),
  },
  {
    weight: 2,
    arbitrary: fc.record({ raw: fc.uint8Array({ maxLength: 600 }), one: fc.boolean(), cuts: cutsArb }).map(({ raw, one, cuts }) => {
      const bytes = Buffer.from(raw);
      if (one && bytes.length > 0) bytes[0] = 1;
      return { bytes, valid: undefined, cuts };
    }),
  },
);

interface Decoded {
  records: FcgiRecord[];
  error: ProtocolError | undefined;
  midRecord: boolean;
  bufferedBytes: number;
}

/**
 * Feeds the chunks to a fresh decoder and checks, after every push, what must hold whatever the
 * input: nothing thrown, an error only as a ProtocolError with its stable code and kept from then
 * on, at most one partial record held, never more than was pushed.
 */
function decode(chunks: readonly Buffer[], streamFragments: boolean): Decoded {
  const records: FcgiRecord[] = [];
  const decoder = new RecordDecoder((r) => records.push(r), { streamFragments });
  let error: ProtocolError | undefined;
  let pushed = 0;
  for (const chunk of chunks) {
    pushed += chunk.length;
    const got = decoder.push(chunk);
    if (error) {
      if (got !== error) throw new Error('a failed decoder returned another outcome');
      continue;
    }
    if (got !== undefined) {
      if (!(got instanceof ProtocolError) || got.code !== 'FCGIPM_ERR_PROTOCOL') throw new Error(`not a typed protocol error: ${String(got)}`);
      error = got;
    }
    if (decoder.bufferedBytes > FCGI_MAX_RECORD_LENGTH || decoder.bufferedBytes > pushed) {
      throw new Error(`decoder holds ${decoder.bufferedBytes} bytes after ${pushed} pushed`);
    }
  }
  // Every whole record takes at least its 8 header bytes: no record is made from nothing.
  if (!streamFragments && records.length * 8 > pushed) throw new Error(`${records.length} records from ${pushed} bytes`);
  return { records, error, midRecord: decoder.midRecord, bufferedBytes: decoder.bufferedBytes };
}

/** Consecutive content of one (type, id) joined: fragment mode and whole records compare equal. */
function canonical(records: readonly FcgiRecord[]): Array<{ key: string; content: Buffer[] }> {
  const out: Array<{ key: string; content: Buffer[] }> = [];
  let last: FcgiRecord | undefined;
  for (const r of records) {
    if (last && r.content.length > 0 && last.content.length > 0 && last.type === r.type && last.requestId === r.requestId) {
      out[out.length - 1]!.content.push(r.content);
    } else {
      out.push({ key: `${r.type}/${r.requestId}`, content: [r.content] });
    }
    last = r;
  }
  return out;
}

function sameCanonical(a: ReturnType<typeof canonical>, b: ReturnType<typeof canonical>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.key !== b[i]!.key || !Buffer.concat(a[i]!.content).equals(Buffer.concat(b[i]!.content))) return false;
  }
  return true;
}

function sameRecords(a: readonly FcgiRecord[], b: readonly FcgiRecord[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.type !== y.type || x.requestId !== y.requestId || !x.content.equals(y.content)) return false;
  }
  return true;
}

/** Only the decoders' own typed errors may come out of a body or pair decoder. */
function typed(err: unknown): FcgipmError {
  if (err instanceof ProtocolError && err.code === 'FCGIPM_ERR_PROTOCOL') return err;
  if (err instanceof LimitError && err.code === 'FCGIPM_ERR_LIMIT') return err;
  throw err;
}

/**
 * What fcgipm's two sides do with the records: PARAMS into a ParamsCollector per request,
 * pairs of GET_VALUES, the fixed-size bodies. Returns whether any layer refused the input.
 */
function interpret(records: readonly FcgiRecord[]): { refused: boolean; params: Map<number, Array<[string, string]>> } {
  const collectors = new Map<number, ParamsCollector>();
  const params = new Map<number, Array<[string, string]>>();
  let refused = false;
  for (const r of records) {
    try {
      switch (r.type) {
        case RecordType.PARAMS: {
          let c = collectors.get(r.requestId);
          if (!c) collectors.set(r.requestId, (c = new ParamsCollector({ maxBytes: MAX_PARAMS_BYTES })));
          const got = c.push(r.content);
          if (c.receivedBytes > MAX_PARAMS_BYTES + 0xffff) throw new Error(`collector holds ${c.receivedBytes} bytes`);
          if (Array.isArray(got)) {
            let chars = 0;
            for (const [k, v] of got) chars += k.length + v.length;
            if (chars > c.receivedBytes) throw new Error(`${chars} chars of pairs from ${c.receivedBytes} bytes`);
            params.set(r.requestId, got);
          } else if (got !== undefined) {
            typed(got);
            refused = true;
          }
          break;
        }
        case RecordType.GET_VALUES:
        case RecordType.GET_VALUES_RESULT:
          decodePairs(r.content);
          break;
        case RecordType.BEGIN_REQUEST:
          decodeBeginRequest(r.content);
          break;
        case RecordType.END_REQUEST:
          decodeEndRequest(r.content);
          break;
        case RecordType.UNKNOWN_TYPE:
          decodeUnknownType(r.content);
          break;
        default:
      }
    } catch (err) {
      typed(err);
      refused = true;
    }
  }
  return { refused, params };
}

/** The property: true, or an exception that fast-check reports with its seed and path. */
function check(c: Case): boolean {
  const whole = decode([c.bytes], false);
  const chunks = cutAt(c.bytes, c.cuts);
  const cut = decode(chunks, false);
  // The decoder promises an outcome that does not depend on how the socket cut the bytes.
  if (!sameRecords(whole.records, cut.records)) throw new Error('records differ between one chunk and the chunking');
  if (whole.error?.message !== cut.error?.message) throw new Error(`error differs: ${whole.error?.message} / ${cut.error?.message}`);
  if (whole.midRecord !== cut.midRecord || whole.bufferedBytes !== cut.bufferedBytes) throw new Error('partial record differs');
  const fragments = decode(chunks, true);
  if (fragments.error?.message !== whole.error?.message) throw new Error('fragment mode: error differs');
  if (!whole.midRecord && !sameCanonical(canonical(fragments.records), canonical(whole.records))) {
    throw new Error('fragment mode: stream content differs');
  }
  interpret(whole.records);
  if (c.valid) {
    if (whole.error || whole.midRecord) throw new Error(`a well-formed stream failed: ${whole.error?.message ?? 'mid-record'}`);
    const expected = c.valid.map((r) => ({ type: r.type, requestId: r.requestId, content: r.content }));
    if (!sameRecords(whole.records, expected)) throw new Error('a well-formed stream did not decode to what was encoded');
  }
  return true;
}

/** A stream of PARAMS records cut anywhere, then STDIN: the pairs reassemble whatever the cuts. */
const paramsCaseArb = fc.record({ pairs: pairsArb, recordCuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { maxLength: 4 }), cuts: cutsArb });

function checkParams(p: { pairs: Array<[string, string]>; recordCuts: number[]; cuts: number[] }): boolean {
  const content = pairsBytes(p.pairs);
  const records: RecordSpec[] = cutAt(content, p.recordCuts)
    .filter((piece) => piece.length > 0)
    .map((piece) => ({ type: RecordType.PARAMS, requestId: 1, content: piece, padding: -piece.length & 7 }));
  records.push({ type: RecordType.PARAMS, requestId: 1, content: Buffer.alloc(0), padding: 0 });
  const got = decode(cutAt(streamOf(records).bytes, p.cuts), false);
  const { refused, params } = interpret(got.records);
  if (got.error || refused) throw new Error('well-formed PARAMS refused');
  expect(params.get(1)).toEqual(p.pairs);
  return true;
}

interface Tally {
  cases: number;
  seconds: number;
  failures: number;
  seeds: number[];
}
const tally: Tally = { cases: 0, seconds: 0, failures: 0, seeds: [] };

/**
 * Runs one slice without stack traces: capturing one for each of the hundreds of thousands of
 * ProtocolErrors the cases provoke was a tenth of the CPU profile. A failure is replayed from
 * its seed and path, stacks and all.
 */
function withoutStacks<R>(f: () => R): R {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return f();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function runSlice<T>(arb: fc.Arbitrary<T>, predicate: (t: T) => boolean, seed: number, numRuns: number): fc.RunDetails<[T]> {
  const started = process.hrtime.bigint();
  const details = withoutStacks(() => fc.check(fc.property(arb, predicate), { seed, numRuns }));
  tally.seconds += Number(process.hrtime.bigint() - started) / 1e9;
  tally.cases += details.numRuns;
  tally.seeds.push(seed);
  if (details.failed) tally.failures += 1;
  return details;
}

describe('record decoder under 1,000,000+ generated cases', () => {
  beforeAll(() => {
    console.log(`fuzz-decoder: base seed ${BASE} (FCGIPM_FUZZ_SEED=${BASE} replays this run); slice k uses seed ${BASE}00 + k`);
  });

  for (let slice = 0; slice < SLICES; slice++) {
    const seed = sliceSeed(BASE, slice);
    test(`slice ${slice}: ${n(RUNS_PER_SLICE)} streams, seed ${seed}`, () => {
      const details = runSlice(caseArb, check, seed, RUNS_PER_SLICE);
      if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? 'failed');
    }, 60_000);
  }

  test(`slice ${SLICES}: PARAMS streams cut into records anywhere reassemble to their pairs`, () => {
    const details = runSlice(paramsCaseArb, checkParams, sliceSeed(BASE, SLICES), 20_000);
    if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? 'failed');
  }, 60_000);

  test('the figure: cases, seconds, failures, and fastcgi-parser on the same input', () => {
    // The peer decodes the cases of slice 0 again. For each case our decoders refused, did it
    // flag anything (onError or a throw), or hand the garbage on as records?
    let refusedByUs = 0;
    let flaggedByPeer = 0;
    let peerThrew = 0;
    const started = process.hrtime.bigint();
    withoutStacks(() => fc.check(
      fc.property(caseArb, (c) => {
        const ours = decode([c.bytes], false);
        const refused = ours.error !== undefined || interpret(ours.records).refused;
        const peer = new peerLib.parser();
        peer.encoding = 'binary';
        let flagged = false;
        peer.onError = () => (flagged = true);
        try {
          for (const chunk of cutAt(c.bytes, c.cuts)) peer.execute(chunk);
        } catch {
          peerThrew += 1;
          flagged = true;
        }
        if (refused) {
          refusedByUs += 1;
          if (flagged) flaggedByPeer += 1;
        }
        return true;
      }),
      { seed: sliceSeed(BASE, 0), numRuns: PEER_RUNS },
    ));
    const peerSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const perSecond = tally.cases / tally.seconds;
    recordFigure({
      section: 'fuzzing',
      case: 'record decoder (RecordDecoder, ParamsCollector, name-value pairs, bodies)',
      userSees: 'no crash, no hang, no unbounded buffer on any input: bad bytes give a typed error (FCGIPM_ERR_PROTOCOL / FCGIPM_ERR_LIMIT); good bytes decode to what was sent however they are cut',
      measured:
        `${n(tally.cases)} cases in ${tally.seeds.length} slices (seeds ${tally.seeds[0]}…${tally.seeds[tally.seeds.length - 1]}), ` +
        `${tally.seconds.toFixed(1)} s (${n(perSecond)} cases/s), ${tally.failures} failures`,
      peer:
        `fastcgi-parser 0.1.5 on the ${n(PEER_RUNS)} cases of slice 0: of the ${n(refusedByUs)} inputs fcgipm's decoders refuse it flagged ${n(flaggedByPeer)} ` +
        `and passed ${n(refusedByUs - flaggedByPeer)} on as records without an error; ${n(peerThrew)} throws (${peerSeconds.toFixed(1)} s)`,
    });
    expect(tally.failures).toBe(0);
    expect(tally.cases).toBeGreaterThanOrEqual(1_000_000);
    // The peer's figure is the evidence: a lenient decoder lets most malformed input through.
    expect(refusedByUs).toBeGreaterThan(PEER_RUNS / 2);
  }, 60_000);
});
