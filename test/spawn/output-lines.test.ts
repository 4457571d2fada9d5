import fc from 'fast-check';
import { PassThrough } from 'node:stream';
import { MAX_LINE_BYTES, OutputLines, captureOutput, renderBytes } from '../../src/spawn/output-lines';
import { CapturedLog, INFO, WARN } from './helpers';

/** Inverse of renderBytes for escaped lines: `\\` is a backslash, `\xNN` a raw byte. */
function unescape(text: string): Buffer {
  const parts: Buffer[] = [];
  let run = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') {
      parts.push(Buffer.from(run, 'utf8'));
      run = '';
      if (text[i + 1] === '\\') {
        parts.push(Buffer.from('\\'));
        i += 1;
      } else {
        parts.push(Buffer.from([parseInt(text.slice(i + 2, i + 4), 16)]));
        i += 3;
      }
    } else {
      run += text[i];
    }
  }
  parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}

let log: CapturedLog;

beforeEach(() => {
  log = new CapturedLog();
});

function lines(stream: 'stdout' | 'stderr' = 'stdout'): unknown[] {
  return log.output(stream).map((r) => r.line);
}

describe('OutputLines', () => {
  test('splits on newlines across chunks, drops CR of CRLF, skips empty lines', () => {
    const out = new OutputLines({ logger: log.logger, stream: 'stdout' });
    out.push(Buffer.from('first li'));
    out.push(Buffer.from('ne\nsecond\r\n\n\nthi'));
    expect(lines()).toEqual(['first line', 'second']);
    out.push(Buffer.from('rd\n'));
    expect(lines()).toEqual(['first line', 'second', 'third']);
    expect(log.output('stdout').every((r) => r.level === INFO && r.stream === 'stdout')).toBe(true);
  });

  test('stderr is logged at warn', () => {
    const err = new OutputLines({ logger: log.logger, stream: 'stderr' });
    err.push(Buffer.from('PHP Warning: something\n'));
    expect(log.output('stderr')).toEqual([expect.objectContaining({ level: WARN, stream: 'stderr', line: 'PHP Warning: something' })]);
  });

  test('flush logs a final line without newline', () => {
    const out = new OutputLines({ logger: log.logger, stream: 'stdout' });
    out.push(Buffer.from('done\npartial'));
    expect(lines()).toEqual(['done']);
    out.flush();
    out.flush();
    expect(lines()).toEqual(['done', 'partial']);
  });

  test('a multi-byte character split across chunks stays whole', () => {
    const out = new OutputLines({ logger: log.logger, stream: 'stdout' });
    const euro = Buffer.from('price: 5 €\n');
    out.push(euro.subarray(0, euro.length - 3));
    out.push(euro.subarray(euro.length - 3));
    expect(log.output('stdout')).toEqual([expect.objectContaining({ line: 'price: 5 €' })]);
    expect(log.output('stdout')[0]?.escaped).toBeUndefined();
  });

  test('a 100 000-char line arrives whole in one log line, whatever the chunking', () => {
    const out = new OutputLines({ logger: log.logger, stream: 'stdout' });
    const big = Buffer.from('y'.repeat(100_000) + '\n');
    for (let i = 0; i < big.length; i += 4096) out.push(big.subarray(i, i + 4096));
    expect(lines()).toEqual(['y'.repeat(100_000)]);
  });

  test('only a line over the bound is split, each piece but the last marked continued, on character boundaries', () => {
    const out = new OutputLines({ logger: log.logger, stream: 'stdout', maxLineBytes: 10 });
    out.push(Buffer.from('0123456789\n'));
    out.push(Buffer.from('abcdefghi€xyz\n'));
    const records = log.output('stdout');
    expect(records.map((r) => [r.line, r.continued])).toEqual([
      ['0123456789', undefined],
      ['abcdefghi', true],
      ['€xyz', undefined],
    ]);
    expect(MAX_LINE_BYTES).toBe(1024 * 1024);
  });

  test('invalid UTF-8 is rendered losslessly and marked escaped', () => {
    const out = new OutputLines({ logger: log.logger, stream: 'stderr' });
    out.push(Buffer.concat([Buffer.from('a\\b '), Buffer.from([0xff, 0xc3]), Buffer.from(' é\n')]));
    const [record] = log.output('stderr');
    expect(record).toMatchObject({ line: 'a\\\\b \\xff\\xc3 é', escaped: true });
  });
});

describe('renderBytes', () => {
  test('valid UTF-8 is returned as is', () => {
    expect(renderBytes(Buffer.from('plain \\ text ✓'))).toEqual({ text: 'plain \\ text ✓', escaped: false });
  });

  test('rejects overlong forms and surrogates like a strict decoder', () => {
    expect(renderBytes(Buffer.from([0xc0, 0xaf])).text).toBe('\\xc0\\xaf');
    expect(renderBytes(Buffer.from([0xed, 0xa0, 0x80])).text).toBe('\\xed\\xa0\\x80');
    expect(renderBytes(Buffer.from([0xf4, 0x90, 0x80, 0x80])).text).toBe('\\xf4\\x90\\x80\\x80');
  });

  test('any byte string round-trips (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const buf = Buffer.from(bytes);
        const { text, escaped } = renderBytes(buf);
        expect(escaped ? unescape(text) : Buffer.from(text, 'utf8')).toEqual(buf);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('captureOutput', () => {
  test('logs until the stream ends and resolves after the last partial line', async () => {
    const stream = new PassThrough();
    const done = captureOutput(stream, { logger: log.logger, stream: 'stdout' });
    stream.write('one\ntw');
    stream.end('o');
    await done;
    expect(lines()).toEqual(['one', 'two']);
  });

  test('resolves when the stream is destroyed', async () => {
    const stream = new PassThrough();
    const done = captureOutput(stream, { logger: log.logger, stream: 'stderr' });
    stream.write('cut short');
    stream.destroy();
    await done;
    expect(lines('stderr')).toEqual(['cut short']);
  });
});
