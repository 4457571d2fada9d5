import { InvalidArgumentError, LimitError, ProtocolError } from '../../src/errors';
import { encodePairs } from '../../src/protocol/name-value';
import { ParamsCollector } from '../../src/protocol/params-collector';
import { cutAt } from './support';

const PAIRS: Array<[string, string]> = [
  ['SERVER_SOFTWARE', 'fcgipm'],
  ['HTTP_X_LONG', 'y'.repeat(1000)],
  ['N'.repeat(200), ''],
  ['EMPTY', ''],
];

describe('ParamsCollector', () => {
  it('returns undefined until the empty record, then the pairs', () => {
    const c = new ParamsCollector({ maxBytes: 10000 });
    expect(c.push(encodePairs(PAIRS))).toBeUndefined();
    expect(c.push(Buffer.alloc(0))).toEqual(PAIRS);
  });

  it('an empty stream gives no pairs', () => {
    expect(new ParamsCollector({ maxBytes: 0 }).push(Buffer.alloc(0))).toEqual([]);
  });

  it('reassembles pairs cut across records at every offset, and in three', () => {
    const body = encodePairs(PAIRS);
    for (let i = 0; i <= body.length; i++) {
      const c = new ParamsCollector({ maxBytes: body.length });
      for (const part of cutAt(body, [i, i + 7]).filter((p) => p.length > 0)) expect(c.push(part)).toBeUndefined();
      expect(c.push(Buffer.alloc(0))).toEqual(PAIRS);
    }
  });

  it('counts the content bytes received', () => {
    const c = new ParamsCollector({ maxBytes: 100 });
    c.push(encodePairs([['A', 'b']]));
    expect(c.receivedBytes).toBe(4);
    expect(c.push(Buffer.alloc(0))).toEqual([['A', 'b']]);
  });

  it('returns ProtocolError for a pair cut off by the end of the stream, and stays failed', () => {
    const body = encodePairs(PAIRS);
    const c = new ParamsCollector({ maxBytes: 10000 });
    c.push(body.subarray(0, body.length - 1));
    const err = c.push(Buffer.alloc(0));
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).message).toMatch(/truncated name-value pair/);
    expect(c.push(Buffer.from([1, 1, 65, 66]))).toBe(err);
  });

  it('returns LimitError when the stream exceeds maxBytes, and stays failed', () => {
    const c = new ParamsCollector({ maxBytes: 10 });
    expect(c.push(Buffer.alloc(6, 1))).toBeUndefined();
    const err = c.push(Buffer.alloc(5, 1));
    expect(err).toBeInstanceOf(LimitError);
    expect(err).toMatchObject({ code: 'FCGIPM_ERR_LIMIT', limit: 10, message: 'PARAMS stream exceeds 10 bytes' });
    expect(c.push(Buffer.alloc(0))).toBe(err);
  });

  it('accepts a stream of exactly maxBytes', () => {
    const body = encodePairs(PAIRS);
    const c = new ParamsCollector({ maxBytes: body.length });
    c.push(body);
    expect(c.push(Buffer.alloc(0))).toEqual(PAIRS);
  });

  it('returns ProtocolError for a record after the end of the stream', () => {
    const c = new ParamsCollector({ maxBytes: 100 });
    c.push(Buffer.alloc(0));
    expect(c.push(Buffer.from([1, 0, 65]))).toBeInstanceOf(ProtocolError);
  });

  it('throws InvalidArgumentError for a bad maxBytes', () => {
    expect(() => new ParamsCollector({ maxBytes: -1 })).toThrow(InvalidArgumentError);
    expect(() => new ParamsCollector({ maxBytes: Number.NaN })).toThrow(/maxBytes/);
  });
});
