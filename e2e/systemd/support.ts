import { type NspawnContainer, nspawnUnavailable, waitUntil } from '@st/testing';

/** Why systemd containers cannot run here, or undefined. */
export const unavailable = nspawnUnavailable();
/** Skipped where containers cannot run, unless CI asked for these tests (then the reason fails them). */
export const skip = unavailable !== undefined && process.env.ST_REQUIRE_NSPAWN !== '1';
/** For the describe title: says why it was skipped. */
export const skipNote = skip ? ` (skipped: ${unavailable}; ST_REQUIRE_NSPAWN=1 makes it fail instead)` : '';

/** For beforeAll: fails when CI required the tests but they cannot run. */
export function requireContainers(): void {
  if (unavailable) throw new Error(`ST_REQUIRE_NSPAWN=1 but systemd containers cannot run here: ${unavailable}`);
}

export const SHOWN = ['Type', 'ActiveState', 'SubState', 'Result', 'MainPID', 'NRestarts', 'ExecMainStatus', 'StatusText', 'UnitFileState'];

/** Waits until a unit's properties pass `check`; the failure shows them and the unit's journal. */
export async function waitForUnit(
  c: NspawnContainer,
  unit: string,
  what: string,
  check: (u: Record<string, string>) => boolean,
  timeoutMs: number,
): Promise<Record<string, string>> {
  try {
    return await waitUntil(what, async () => {
      const u = await c.show(unit, SHOWN);
      return check(u) ? u : undefined;
    }, timeoutMs, 100);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nnow: ${JSON.stringify(await c.show(unit, SHOWN))}\njournal:\n${await c.journal(unit)}`);
  }
}

/** The user a process inside runs as: its uid and the name NSS gives it (systemd's for dynamic users). */
export async function processUser(c: NspawnContainer, pid: string): Promise<{ uid: number; name: string; groups: string[] }> {
  const status = await c.run(['cat', `/proc/${pid}/status`]);
  const uid = /^Uid:\s+(\d+)/m.exec(status)![1];
  const groups = (/^Groups:\s*(.*)$/m.exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
  return { uid: Number(uid), name: (await c.run(['getent', 'passwd', uid])).split(':')[0], groups };
}
