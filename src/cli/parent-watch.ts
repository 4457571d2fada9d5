/**
 * Stop when the process that started fcgipm goes away, for launchers that do not pass their
 * signals on. `npx fcgipm run …` (npm exec, npm 10 and 11) runs fcgipm under `sh -c`; on
 * SIGTERM npm signals that shell, which dies and leaves fcgipm and its workers running,
 * re-parented (`npm start` runs scripts the same way). npm marks the environment of what it
 * runs with npm_lifecycle_event, so only then is the parent watched: under a shell script
 * that starts fcgipm in the background and exits, fcgipm must live on.
 */

/** How often the parent is looked at; a stop a second late is fine for an interactive npx. */
const POLL_MS = 1_000;

/** Whether fcgipm was started by npm (npx, npm exec, npm run). */
export function startedByNpm(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.npm_lifecycle_event !== undefined && env.npm_lifecycle_event !== '';
}

/**
 * Calls `onParentGone` once, when process.ppid changes (the parent died and fcgipm was
 * re-parented to init or a subreaper). Returns a function that stops watching.
 */
export function watchParent(onParentGone: (formerParent: number) => void, pollMs = POLL_MS): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onParentGone(parent);
  }, pollMs);
  // Never what keeps fcgipm alive.
  timer.unref();
  return () => clearInterval(timer);
}
