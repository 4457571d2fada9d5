/**
 * Types for the parts of fastcgi-parser 0.1.5 (2010, no typings) the differential tests use.
 * Read from node_modules/fastcgi-parser/lib/fastcgi.js.
 */
declare module 'fastcgi-parser' {
  export interface OracleHeader {
    version: number;
    type: number;
    recordId: number;
    contentLength: number;
    paddingLength: number;
  }
  export interface OracleRecord {
    header: OracleHeader;
    body: unknown;
  }
  export class parser {
    encoding: 'utf8' | 'ascii' | 'binary';
    state: number;
    onRecord: (record: OracleRecord) => void;
    onHeader: (header: OracleHeader) => void;
    onParam: (name: string, value: string) => void;
    onBody: (buffer: Buffer, start: number, end: number) => void;
    onError: (err: Error) => void;
    execute(buffer: Buffer, start?: number, end?: number): void;
    reset(): void;
  }
  export class writer {
    encoding: 'utf8' | 'ascii' | 'binary';
    writeHeader(header: OracleHeader): void;
    writeParams(params: Array<[string, string]>): void;
    writeBody(body: Buffer | string): void;
    tobuffer(): Buffer;
  }
  export function getParamLength(params: Array<[string, string]>): number;
}
