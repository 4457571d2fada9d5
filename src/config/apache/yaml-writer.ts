/**
 * The YAML that import-apache prints: the drafts as fcgipm configuration keys, each value
 * with a comment naming the Apache directive and file:line it came from.
 */
import { Document, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';
import type { ImportDraft, PoolDraft, Sourced } from './drafts';

/** The drafts as a YAML document, each value with the directive it came from as a comment. */
export function writeYaml(files: readonly string[], draft: ImportDraft): string {
  const { top, defaults, defaultEnv, commands, sites } = draft;
  const doc = new Document();
  const root = doc.createNode({}) as YAMLMap;
  const put = (map: YAMLMap, key: string, value: unknown, comment?: string, flow = true): void => {
    const node = doc.createNode(value, { flow });
    const pair = doc.createPair(key, node);
    if (comment !== undefined) {
      if (flow || typeof value !== 'object') (node as Scalar).comment = ` ${comment}`;
      else (pair.key as Scalar).commentBefore = ` ${comment}`;
    }
    map.add(pair);
  };
  const poolInto = (map: YAMLMap, pool: PoolDraft, env: Map<string, Sourced<string>>, envKey: string): void => {
    for (const [key, v] of pool) put(map, key, v.value, v.from);
    if (env.size > 0) {
      const envMap = doc.createNode({}) as YAMLMap;
      for (const [name, v] of env) put(envMap, name, v.value, v.from);
      const pair = doc.createPair(envKey, envMap);
      map.add(pair);
    }
  };

  for (const [key, v] of top) put(root, key, v.value, v.from);
  if (defaults.size > 0 || defaultEnv.size > 0) {
    const map = doc.createNode({}) as YAMLMap;
    poolInto(map, defaults, defaultEnv, 'env');
    const pair = doc.createPair('defaults', map);
    (pair.key as Scalar).commentBefore = ' server-level Fcgid* directives: every class starts from these';
    root.add(pair);
  }
  if (commands.size > 0) {
    const map = doc.createNode({}) as YAMLMap;
    for (const [command, c] of commands) {
      const settings = doc.createNode({}) as YAMLMap;
      poolInto(settings, c.pool, c.env, 'env');
      const pair = doc.createPair(command, settings);
      (pair.key as Scalar).commentBefore = ` FcgidCmdOptions, ${c.from}`;
      map.add(pair);
    }
    root.add(doc.createPair('commands', map));
  }
  const list = doc.createNode([]) as YAMLSeq;
  for (const site of sites) {
    const map = doc.createNode({}) as YAMLMap;
    map.commentBefore = ` ${site.label}`;
    put(map, 'hosts', site.hosts.map((h) => h.value), [...new Set(site.hosts.map((h) => h.from))].join('; '));
    if (site.documentRoot) put(map, 'documentRoot', site.documentRoot.value, site.documentRoot.from);
    if (site.directoryIndex) put(map, 'directoryIndex', site.directoryIndex.value, site.directoryIndex.from);
    if (site.handlers.size > 0) put(map, 'handlers', [...site.handlers.keys()], [...new Set(site.handlers.values())].join('; '));
    if (site.wrappers.size > 0) {
      const seq = doc.createNode([]) as YAMLSeq;
      for (const w of site.wrappers.values()) {
        const wm = doc.createNode({}) as YAMLMap;
        wm.commentBefore = ` ${w.from}`;
        put(wm, 'suffix', w.suffix);
        put(wm, 'command', w.command);
        if (w.args.length > 0) put(wm, 'args', [...w.args]);
        if (w.virtual) put(wm, 'virtual', true);
        seq.add(wm);
      }
      map.add(doc.createPair('wrappers', seq));
    }
    if (site.auth.size > 0) {
      const seq = doc.createNode([]) as YAMLSeq;
      for (const rule of site.auth.values()) {
        const rm = doc.createNode({}) as YAMLMap;
        put(rm, 'prefix', rule.prefix);
        for (const role of ['authenticator', 'authorizer', 'accessChecker'] as const) {
          const r = rule.roles[role];
          if (!r) continue;
          const app = doc.createNode({}) as YAMLMap;
          put(app, 'command', r.value.command);
          if (r.value.args.length > 0) put(app, 'args', [...r.value.args]);
          const pair = doc.createPair(role, app);
          (pair.key as Scalar).commentBefore = ` ${r.from}`;
          rm.add(pair);
        }
        seq.add(rm);
      }
      map.add(doc.createPair('auth', seq));
    }
    if (site.passHeaders.size > 0) put(map, 'passHeaders', [...site.passHeaders.keys()], [...new Set(site.passHeaders.values())].join('; '));
    if (site.maxRequestBody) put(map, 'maxRequestBody', site.maxRequestBody.value, `${site.maxRequestBody.from}; over it fcgipm answers 413 (mod_fcgid: 500)`);
    poolInto(map, site.pool, site.env, 'initialEnv');
    list.add(map);
  }
  root.add(doc.createPair('sites', list));
  doc.contents = root;
  doc.commentBefore = [
    ` fcgipm configuration imported from Apache (fcgipm import-apache ${files.join(' ')}).`,
    ' Check it with: fcgipm check-config FILE.yaml. Front ends are not part of the Apache',
    ' configuration: listen.http defaults to 127.0.0.1:8080; for Apache or nginx in front set',
    ' listen.fastcgi (see docs/config.md).',
  ].join('\n');
  return doc.toString({ lineWidth: 0 });
}
