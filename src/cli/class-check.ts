import type { Config } from '../config/types';
import { InvalidArgumentError } from '../errors';
import type { ProcessClass } from '../pm/process-class';
import { rootRefusal } from '../pm/manager';
import { resolvePoolOptions } from '../pm/pool-options';
import { Router } from '../routing/router';
import { checkExecutable } from './run-server';

export interface ClassProblem {
  /** file:line of the app, wrapper or auth rule that names the class. */
  readonly origin: string;
  readonly message: string;
}

/**
 * Why a process class could never start, or undefined: its settings as the pool layer takes
 * them (user and group looked up, limits checked) and the refusal of root workers, by the
 * same functions the pool is made with (PoolRegistry, Manager.addPool).
 */
function classProblem(spec: ProcessClass): string | undefined {
  try {
    checkExecutable(spec.command);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  // The same input PoolRegistry.poolFor gives the manager.
  try {
    return rootRefusal(resolvePoolOptions(spec.poolInput()));
  } catch (err) {
    return `${spec.command}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * Every class a configuration names that could never start: `serve` refuses to start on any
 * (before it listens), and `check-config` reports the same ones, so the two refuse exactly the
 * same files.
 */
export function configClassProblems(config: Config): ClassProblem[] {
  const router = new Router(config);
  const named = [
    ...router.configuredSpecs().map((spec) => ({ spec, origin: spec.origin ?? config.source })),
    ...router.configuredAuthSpecs(),
  ];
  const out: ClassProblem[] = [];
  for (const { spec, origin } of named) {
    const message = classProblem(spec);
    if (message !== undefined) out.push({ origin, message });
  }
  return out;
}

/** "site.yaml:12: pool x: …" (no place for the command line's one app, whose flags say it). */
export function formatClassProblem(p: ClassProblem): string {
  return p.origin.includes(':') ? `${p.origin}: ${p.message}` : p.message;
}

/** Throws, naming every class that could never start, so nothing starts or is swapped in. */
export function refuseUnstartableClasses(config: Config): void {
  const problems = configClassProblems(config);
  if (problems.length > 0) throw new InvalidArgumentError(problems.map(formatClassProblem).join('\n'));
}
