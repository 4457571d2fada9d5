import { ProtocolError } from '../errors';

/**
 * Name-value pairs (spec §3.4): nameLength, valueLength, nameData, valueData. A length below
 * 128 is one byte; anything longer is four bytes, big-endian, with the top bit of the first
 * byte set (so at most 2^31 - 1).
 *
 * Strings are byte strings: one char per byte, latin1, the same convention Node's http module
 * uses for header values and URLs. That makes decode → encode lossless for any bytes a web
 * server sends (PARAMS are bytes, not text: a request path need not be UTF-8), so the FastCGI
 * front end can forward PARAMS unchanged. A caller holding Unicode text (a
 * path from the config) converts it first: `Buffer.from(text, 'utf8').toString('latin1')`.
 * A string containing a char above U+00FF cannot be a byte string; rather than truncate each
 * such char to its low byte, the encoder writes that whole string as UTF-8.
 */

const NOT_LATIN1 = /[\u0100-\uffff]/;

/** The byte layout of a list of pairs, measured once so the writer needs no second guess. */
export interface PairsLayout {
  readonly pairs: ReadonlyArray<readonly [string, string]>;
  /** Byte length of every name and value, in order (2 per pair). */
  readonly lengths: readonly number[];
  /** Some string has a char above U+00FF and is written as UTF-8. */
  readonly anyUtf8: boolean;
  /** Total encoded bytes. */
  readonly byteLength: number;
}

function lengthFieldSize(length: number): number {
  return length > 127 ? 4 : 1;
}

/** Measures pairs for writePairs. Iterates `pairs` once (it may be a one-shot generator). */
export function measurePairs(pairs: Iterable<readonly [string, string]>): PairsLayout {
  const list = Array.isArray(pairs) ? (pairs as ReadonlyArray<readonly [string, string]>) : Array.from(pairs);
  const lengths: number[] = new Array<number>(list.length * 2);
  let anyUtf8 = false;
  let byteLength = 0;
  for (let i = 0; i < list.length; i++) {
    const pair = list[i] as readonly [string, string];
    for (let j = 0; j < 2; j++) {
      const s = pair[j] as string;
      let n = s.length;
      if (NOT_LATIN1.test(s)) {
        anyUtf8 = true;
        n = Buffer.byteLength(s, 'utf8');
      }
      lengths[i * 2 + j] = n;
      byteLength += lengthFieldSize(n) + n;
    }
  }
  return { pairs: list, lengths, anyUtf8, byteLength };
}

function writeLength(buf: Buffer, offset: number, length: number): number {
  if (length <= 127) {
    buf[offset] = length;
    return offset + 1;
  }
  if (length > 0x7fffffff) {
    throw new RangeError(`name-value length ${length} does not fit 31 bits (spec §3.4)`);
  }
  buf.writeUInt32BE((length | 0x80000000) >>> 0, offset);
  return offset + 4;
}

/** Writes measured pairs at `offset`; returns the offset after the last byte written. */
export function writePairs(buf: Buffer, offset: number, layout: PairsLayout): number {
  const { pairs, lengths, anyUtf8 } = layout;
  let pos = offset;
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i] as readonly [string, string];
    const nameLength = lengths[i * 2] as number;
    const valueLength = lengths[i * 2 + 1] as number;
    pos = writeLength(buf, pos, nameLength);
    pos = writeLength(buf, pos, valueLength);
    const name = pair[0];
    const value = pair[1];
    pos += buf.write(name, pos, nameLength, anyUtf8 && NOT_LATIN1.test(name) ? 'utf8' : 'latin1');
    pos += buf.write(value, pos, valueLength, anyUtf8 && NOT_LATIN1.test(value) ? 'utf8' : 'latin1');
  }
  return pos;
}

/** Encodes pairs into one Buffer (the content of a PARAMS stream, not yet split in records). */
export function encodePairs(pairs: Iterable<readonly [string, string]>): Buffer {
  const layout = measurePairs(pairs);
  const buf = Buffer.allocUnsafe(layout.byteLength);
  writePairs(buf, 0, layout);
  return buf;
}

function truncated(what: string, offset: number): ProtocolError {
  return new ProtocolError(`truncated name-value pair: ${what} at byte ${offset} runs past the end (spec §3.4)`);
}

/**
 * Decodes a complete pair stream (all records of a PARAMS stream joined, or one GET_VALUES
 * record). Throws ProtocolError when a pair's lengths or data run past the end — the one
 * function in this folder that throws on peer input, because it is handed a complete buffer
 * and has nothing to wait for; ParamsCollector wraps it and returns the error instead.
 */
export function decodePairs(buf: Buffer): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const end = buf.length;
  // One latin1 string for the whole buffer, then substrings: measured 4-5x faster than a
  // Buffer#toString per name and value on a 38-variable PARAMS block (bench/protocol.js).
  // The price: a kept substring of 13+ chars keeps this whole string alive, which is at most
  // the PARAMS stream the caller accepted.
  const text = buf.toString('latin1', 0, end);
  let pos = 0;
  while (pos < end) {
    const start = pos;
    let nameLength = buf[pos] as number;
    if (nameLength > 127) {
      if (pos + 4 > end) throw truncated('a 4-byte name length', start);
      nameLength = buf.readUInt32BE(pos) & 0x7fffffff;
      pos += 4;
    } else {
      pos += 1;
    }
    if (pos >= end) throw truncated('the value length', start);
    let valueLength = buf[pos] as number;
    if (valueLength > 127) {
      if (pos + 4 > end) throw truncated('a 4-byte value length', start);
      valueLength = buf.readUInt32BE(pos) & 0x7fffffff;
      pos += 4;
    } else {
      pos += 1;
    }
    if (nameLength + valueLength > end - pos) {
      throw truncated(`a pair of ${nameLength}+${valueLength} bytes`, start);
    }
    const valueStart = pos + nameLength;
    pos = valueStart + valueLength;
    out.push([text.slice(valueStart - nameLength, valueStart), text.slice(valueStart, pos)]);
  }
  return out;
}
