/**
 * What an unknown key in the YAML probably meant: the message for a key the schema does not
 * allow where it is written.
 */
import { editDistance } from './edit-distance';
import { SCHEMA, type KeySpec, type Section } from './schema';

const SECTION_NAMES: Readonly<Record<Section, string>> = {
  top: 'at the top level',
  listen: 'under listen',
  site: 'in a site',
  wrapper: 'in a wrapper',
  app: 'in an app',
  auth: 'in an auth rule',
  authApp: 'in an authenticator, authorizer or access checker',
  pool: 'in pool settings',
  rlimits: 'under rlimits',
};

const squash = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * The key an operator probably meant: the same word in another spelling (max_processes,
 * MaxProcesses), the mod_fcgid directive or php-fpm setting it replaces (FcgidIdleTimeout,
 * pm.max_children), or a near miss by edit distance (maxProcess).
 */
export function suggestKey(word: string, candidates: readonly KeySpec[]): string | undefined {
  const w = squash(word);
  if (w === '') return undefined;
  const exact = candidates.find((c) => squash(c.key) === w);
  if (exact) return exact.key;
  for (const c of candidates) {
    for (const name of `${c.modFcgid},${c.phpFpm}`.split(/[,/]/)) {
      const n = squash(name.replace(/\(.*\)|….*$|".*"/g, '').trim());
      if (n !== '' && (n === w || n === `fcgid${w}` || `fcgid${n}` === w)) return c.key;
    }
  }
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, squash(c.key));
    if (d < bestDistance) {
      bestDistance = d;
      best = c.key;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(w.length / 3)) ? best : undefined;
}

/** The problem for `key` written in `section`: a did-you-mean, or the section it belongs in. */
export function unknownKeyMessage(key: string, section: Section, allowed: readonly KeySpec[]): string {
  const guess = suggestKey(key, allowed);
  if (guess !== undefined) return `unknown key ${JSON.stringify(key)} (did you mean ${guess}?)`;
  const elsewhere = SCHEMA.find((s) => s.key === key);
  if (elsewhere) return `key ${JSON.stringify(key)} is not allowed ${SECTION_NAMES[section]} (it goes ${SECTION_NAMES[elsewhere.section]})`;
  return `unknown key ${JSON.stringify(key)}`;
}
