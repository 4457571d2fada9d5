/**
 * Byte strings: paths as latin1 strings, one char per byte, the convention of cgi-env's
 * decodePath and of FastCGI params ("%C3%A9" is the two chars \xC3 \xA9).
 */

/** Config text (Unicode) → the byte string the request side compares against. */
export function textToBytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** A byte string → the text a spawned command line takes; undefined when it is not UTF-8. */
export function bytesToText(bytes: string): string | undefined {
  const buf = Buffer.from(bytes, 'latin1');
  const text = buf.toString('utf8');
  return Buffer.from(text, 'utf8').equals(buf) ? text : undefined;
}
