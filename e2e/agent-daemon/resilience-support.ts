import type { ManagedProcess } from '@st/testing';
import { waitUntil } from '@st/testing';

/** One line of st-agent's (pino) JSON log. */
export interface LogEntry {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** Every JSON log line of `proc` whose `msg` matches `msg`, parsed, in order. */
export function logEntries(proc: ManagedProcess, msg: RegExp): LogEntry[] {
  const out: LogEntry[] = [];
  for (const line of proc.lines) {
    if (line.stream !== 'stdout' || !line.text.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line.text) as LogEntry;
      if (typeof entry.msg === 'string' && msg.test(entry.msg)) out.push(entry);
    } catch {
      // Not a log line.
    }
  }
  return out;
}

/** Waits until `proc` has logged at least `count` lines matching `msg`; fails with its output. */
export async function waitForEntries(proc: ManagedProcess, msg: RegExp, count = 1, timeoutMs = 10_000): Promise<LogEntry[]> {
  try {
    return await waitUntil(`${count} log line(s) matching ${msg}`, () => {
      if (proc.exit) throw new Error(`${proc.name} exited`);
      const entries = logEntries(proc, msg);
      return entries.length >= count ? entries : undefined;
    }, timeoutMs, 50);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${proc.describe()}`);
  }
}

