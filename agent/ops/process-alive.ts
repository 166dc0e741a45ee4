/**
 * Whether a process still exists. Job processes leave files named by their pid (session counts, metric
 * snapshots); the worker uses this to tell a live process's file from a stale one. EPERM means the
 * process exists but belongs to someone else: it is alive.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
