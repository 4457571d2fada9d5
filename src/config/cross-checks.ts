/**
 * Checks across entries, once each has been read: the same host in two sites, the same
 * wrapper suffix, app prefix or auth prefix twice in a site, and pool limits that contradict
 * each other only once the layers are merged.
 */
import { mergePoolSettings } from './merge';
import { poolSettingProblems } from './pool-checks';
import type { Config, PoolSettings } from './types';
import type { Item, YamlNode, YamlSource } from './yaml-source';

/** A process class found while reading, checked once every layer is known. */
export interface ClassRef {
  readonly node: YamlNode;
  readonly path: string;
  readonly site: number;
  readonly command: string | undefined;
  readonly own: PoolSettings;
}

/** Where a name was first given, for "also at … (line n)". */
export interface Seen {
  readonly path: string;
  readonly line: number;
}

/**
 * The problem when `host` was already claimed by another site, else undefined (and the host
 * is claimed for `site`). `defaulted`: the site gave no hosts and answers "*" by default.
 */
export function claimHost(hosts: Map<string, Seen>, host: string, site: Seen, defaulted: boolean): string | undefined {
  const before = hosts.get(host);
  if (!before) {
    hosts.set(host, site);
    return undefined;
  }
  const other = `${before.path} (line ${before.line})`;
  return host === '*'
    ? `this site answers every host ("*"${defaulted ? ', the default when hosts is not given' : ''}), and so does ${other}; only one site may`
    : `host ${JSON.stringify(host)} is also served by ${other}; a host belongs to one site`;
}

/** Reports the second and later items with the same key, naming both lines. */
export function reportDuplicates<T>(src: YamlSource, items: ReadonlyArray<Item<T>>, what: string, keyOf: (item: { value: T }) => string, advice: string): void {
  const seen = new Map<string, { node: YamlNode; path: string }>();
  for (const item of items) {
    const k = keyOf(item);
    const before = seen.get(k);
    if (!before) {
      seen.set(k, item);
      continue;
    }
    src.problem(item.node, item.path, `duplicate ${what} ${k}: ${before.path} (line ${src.where(before.node).line}) and ${item.path} (line ${src.where(item.node).line}); ${advice}`);
  }
}

/**
 * Limits that contradict each other once the layers are merged (defaults < site <
 * commands < the class's own), as the pool layer would merge them: found here rather than
 * by the first request to that class.
 */
export function checkClasses(src: YamlSource, classes: readonly ClassRef[], config: Config): void {
  for (const c of classes) {
    const site = config.sites[c.site];
    const fromCommand = c.command !== undefined && Object.hasOwn(config.commands, c.command) ? config.commands[c.command] : undefined;
    const s = mergePoolSettings(config.defaults, site?.pool, fromCommand, c.own);
    const say = (message: string): void => src.problem(c.node, c.path, `${message} (merged from defaults, the site${fromCommand ? ', commands' : ''} and this entry)`);
    for (const problem of poolSettingProblems(s, (key) => key)) say(problem);
  }
}
