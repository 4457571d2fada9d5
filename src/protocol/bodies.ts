import { ProtocolError } from '../errors';
import { FCGI_KEEP_CONN } from './constants';

/**
 * Decoders for the fixed-size record bodies. Each body is exactly 8 bytes (spec §5.1, §5.5,
 * §4.2); any other length means the peer and we disagree on the format, so each throws
 * ProtocolError rather than guess.
 */

function checkLength(name: string, content: Buffer, section: string): void {
  if (content.length !== 8) {
    throw new ProtocolError(`${name} body is ${content.length} bytes, expected 8 (spec ${section})`);
  }
}

/** FCGI_BeginRequestBody (§5.1): roleB1, roleB0, flags, reserved[5]. */
export function decodeBeginRequest(content: Buffer): { role: number; flags: number; keepConn: boolean } {
  checkLength('BEGIN_REQUEST', content, '§5.1');
  const flags = content.readUInt8(2);
  return { role: content.readUInt16BE(0), flags, keepConn: (flags & FCGI_KEEP_CONN) !== 0 };
}

/**
 * FCGI_EndRequestBody (§5.5): appStatusB3..B0, protocolStatus, reserved[3]. appStatus is read
 * unsigned: an app that exits with -1 reports 4294967295.
 */
export function decodeEndRequest(content: Buffer): { appStatus: number; protocolStatus: number } {
  checkLength('END_REQUEST', content, '§5.5');
  return { appStatus: content.readUInt32BE(0), protocolStatus: content.readUInt8(4) };
}

/** FCGI_UnknownTypeBody (§4.2): the type the app did not understand, reserved[7]. */
export function decodeUnknownType(content: Buffer): { type: number } {
  checkLength('UNKNOWN_TYPE', content, '§4.2');
  return { type: content.readUInt8(0) };
}
