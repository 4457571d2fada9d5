import { InvalidArgumentError, LimitError, ProtocolError } from '../errors';
import { decodePairs } from './name-value';

export interface ParamsCollectorOptions {
  /** Most content bytes the whole stream may carry; more is a LimitError. */
  maxBytes: number;
}

/**
 * Reassembles one PARAMS stream (spec §5.2), or the pairs of a GET_VALUES record. A pair may
 * straddle records (§3.4), so the pairs are decoded only when the empty record ends the
 * stream: every byte is copied at most once and parsed once, and a stream that is a single
 * record (the usual case) is decoded straight from that record's content. Until the end it
 * holds the contents it was given as they are (RecordDecoder views), bounded by maxBytes.
 *
 * Never throws for peer input; once it has returned an error it returns that error forever.
 */
export class ParamsCollector {
  private readonly maxBytes: number;
  private readonly parts: Buffer[] = [];
  private length = 0;
  private finished = false;
  private error: LimitError | ProtocolError | undefined;

  constructor(options: ParamsCollectorOptions) {
    const max = options.maxBytes;
    if (!Number.isInteger(max) || max < 0) {
      throw new InvalidArgumentError(`maxBytes must be a non-negative integer, got ${max}`);
    }
    this.maxBytes = max;
  }

  /** Content bytes received so far. */
  get receivedBytes(): number {
    return this.length;
  }

  /**
   * The content of one record; empty content ends the stream. Returns undefined while the
   * stream goes on, the pairs at its end, or an error (truncated pair, stream over maxBytes,
   * a record after the end).
   */
  push(content: Buffer): Array<[string, string]> | undefined | LimitError | ProtocolError {
    if (this.error) return this.error;
    if (this.finished) {
      return this.fail(new ProtocolError('PARAMS record after the empty record that ended the stream (spec §3.3)'));
    }
    if (content.length === 0) return this.finish();
    this.length += content.length;
    if (this.length > this.maxBytes) {
      return this.fail(new LimitError(`PARAMS stream exceeds ${this.maxBytes} bytes`, this.maxBytes));
    }
    this.parts.push(content);
    return undefined;
  }

  private finish(): Array<[string, string]> | ProtocolError {
    this.finished = true;
    const whole = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.length);
    this.parts.length = 0;
    try {
      return decodePairs(whole);
    } catch (err) {
      if (err instanceof ProtocolError) return this.fail(err);
      throw err;
    }
  }

  private fail<E extends LimitError | ProtocolError>(err: E): E {
    this.error = err;
    this.parts.length = 0;
    return err;
  }
}
