import type { ChildProcess } from 'node:child_process';
import { waitFor } from './wait.js';

/** Stops a detached process group we started (SIGINT, then SIGKILL after 20 s): never by name. */
export async function stopProcessGroup(child: ChildProcess | undefined): Promise<void> {
  if (!child?.pid) return;
  const pid = child.pid;
  try {
    process.kill(-pid, 'SIGINT');
  } catch {
    return; // already gone
  }
  await waitFor('the process group to stop', () => child.exitCode !== null || child.signalCode !== null, 20_000).catch(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
}
