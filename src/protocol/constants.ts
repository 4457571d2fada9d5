/**
 * FastCGI 1.0 wire constants (Open Market FastCGI Specification, 1996; the section numbers in
 * this folder refer to it). Values only — no behaviour.
 */

/** §3.3: the only version there is; a receiver rejects anything else. */
export const FCGI_VERSION_1 = 1;

/** §3.3: version, type, requestId (2), contentLength (2), paddingLength, reserved. */
export const FCGI_HEADER_LEN = 8;

/** §3.3: contentLength is two bytes, so one record carries at most this much content. */
export const FCGI_MAX_CONTENT_LENGTH = 0xffff;

/** §3.3: paddingLength is one byte. */
export const FCGI_MAX_PADDING_LENGTH = 0xff;

/** The largest record the format can express: header + 65535 content + 255 padding. */
export const FCGI_MAX_RECORD_LENGTH = FCGI_HEADER_LEN + FCGI_MAX_CONTENT_LENGTH + FCGI_MAX_PADDING_LENGTH;

/** §3.3: management records (GET_VALUES, UNKNOWN_TYPE) use request id 0. */
export const FCGI_NULL_REQUEST_ID = 0;

/** §5.1: BEGIN_REQUEST flag — the server keeps the connection open after END_REQUEST. */
export const FCGI_KEEP_CONN = 1;

/** §3.3 / §8: record types. */
export const RecordType = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
} as const;
export type RecordTypeValue = (typeof RecordType)[keyof typeof RecordType];

/** §5.1: BEGIN_REQUEST roles. */
export const Role = { RESPONDER: 1, AUTHORIZER: 2, FILTER: 3 } as const;
export type RoleValue = (typeof Role)[keyof typeof Role];

/** §5.5: END_REQUEST protocolStatus. */
export const ProtocolStatus = { REQUEST_COMPLETE: 0, CANT_MPX_CONN: 1, OVERLOADED: 2, UNKNOWN_ROLE: 3 } as const;
export type ProtocolStatusValue = (typeof ProtocolStatus)[keyof typeof ProtocolStatus];

/** §4.1: the variable names a server may ask for with GET_VALUES. */
export const ManagementVariable = {
  MAX_CONNS: 'FCGI_MAX_CONNS',
  MAX_REQS: 'FCGI_MAX_REQS',
  MPXS_CONNS: 'FCGI_MPXS_CONNS',
} as const;
