import path from 'node:path';
import type { Config, ListenTarget } from '../config/types';
import { InvalidArgumentError } from '../errors';
import { parseListenAddress, parseListenTarget } from './run-args';
import { unknownOption } from './unknown-option';

export const SERVE_USAGE = `usage: fcgipm serve --config FILE.yaml [--watch] [--http ADDR] [--fastcgi ADDR] [--admin ADDR]
                    [--admin-token-file PATH]

Serves every site, app and wrapper of the configuration file (docs/config.md).
SIGHUP (or SIGUSR2) re-reads the file: a valid one takes effect with a new generation of
workers, an invalid one is logged with every problem and the running configuration stays.
SIGUSR1 reopens the log file (logFile); SIGTERM, SIGINT or SIGQUIT stop gracefully.

  --config FILE.yaml      the configuration file
  --watch                 reload whenever the file changes (an editor's save, a deploy's rename)
  --http HOST:PORT        HTTP front end instead of the file's listen.http ("off" disables)
  --fastcgi ADDR          FastCGI front end instead of listen.fastcgi: unix:/path or HOST:PORT
                          ("off" disables)
  --admin HOST:PORT       status listener instead of listen.admin ("off" disables)
  --admin-token-file PATH the admin listener's token file instead of listen.adminTokenFile
`;

type ListenerKey = 'http' | 'fastcgi' | 'admin';

export interface ServeArgs {
  readonly file: string;
  readonly watch: boolean;
  /** Listeners given on the command line; an entry holding undefined is "off". */
  readonly listen: Readonly<Partial<Record<ListenerKey, ListenTarget | undefined>>>;
  /** --admin-token-file, resolved against the current directory as every path flag. */
  readonly adminTokenFile?: string;
}

/** Parses `fcgipm serve` arguments (without "serve"). Throws InvalidArgumentError naming the option. */
export function parseServeArgs(argv: readonly string[]): ServeArgs {
  let file: string | undefined;
  let watch = false;
  let adminTokenFile: string | undefined;
  const listen: Partial<Record<ListenerKey, ListenTarget | undefined>> = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0 && arg.startsWith('--')) return arg.slice(eq + 1);
      i += 1;
      const v = argv[i];
      if (v === undefined) throw new InvalidArgumentError(`${name}: missing value`);
      return v;
    };
    switch (name) {
      case '--config':
        file = value();
        break;
      case '--watch':
        if (name !== arg) throw new InvalidArgumentError('--watch takes no value');
        watch = true;
        break;
      case '--http':
      case '--admin': {
        // The same parsing as run's flags: the HTTP and status listeners take HOST:PORT only.
        const v = value();
        const address = v === 'off' ? undefined : parseListenAddress(v, name);
        listen[name.slice(2) as ListenerKey] = address && { kind: 'tcp', host: address.host, port: address.port };
        break;
      }
      case '--admin-token-file':
        adminTokenFile = path.resolve(value());
        break;
      case '--fastcgi': {
        const v = value();
        listen.fastcgi = v === 'off' ? undefined : parseListenTarget(v, name);
        break;
      }
      default:
        throw new InvalidArgumentError(arg.startsWith('-') ? unknownOption(name, SERVE_USAGE) : `unexpected argument "${arg}"`);
    }
  }
  if (file === undefined || file === '') throw new InvalidArgumentError('serve needs --config FILE.yaml');
  return { file, watch, listen, ...(adminTokenFile !== undefined ? { adminTokenFile } : {}) };
}

/** The configuration with the command line's listeners (and admin token file) over the file's. */
export function withListenOverrides(config: Config, listen: ServeArgs['listen'], adminTokenFile?: string): Config {
  if (Object.keys(listen).length === 0 && adminTokenFile === undefined) return config;
  return { ...config, listen: { ...config.listen, ...listen, ...(adminTokenFile !== undefined ? { adminTokenFile } : {}) } };
}
