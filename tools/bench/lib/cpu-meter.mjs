// How much CPU went where during a measurement: our processes (by pid tree) versus everything
// else on the machine. On a shared 2-core box another job compiling or running tests can halve
// a figure, so every phase records the "foreign" CPU it competed with and the report flags it.
import { readFileSync } from 'node:fs';
import { treeCpuMs } from './procs.mjs';

const JIFFY_MS = 10; // USER_HZ = 100 on Linux

/** Machine-wide user+nice+system and steal time so far, in ms (all CPUs summed). */
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: (f[0] + f[1] + f[2]) * JIFFY_MS, steal: (f[7] ?? 0) * JIFFY_MS };
}

function selfCpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export class CpuMeter {
  /** @param {() => number[]} ourPids roots of every process tree the bench started */
  constructor(ourPids) {
    this.ourPids = ourPids;
  }

  snapshot(extraPids = {}) {
    const snap = { at: performance.now(), machine: machineCpu(), ours: treeCpuMs(this.ourPids()) + selfCpuMs(), groups: {} };
    for (const [name, pids] of Object.entries(extraPids)) snap.groups[name] = pids.length > 0 ? treeCpuMs(pids) : undefined;
    return snap;
  }

  /**
   * CPU between two snapshots, in cores (1 = one core busy the whole time): foreign (not ours),
   * steal (the hypervisor's), and per named group in ms.
   */
  static delta(a, b) {
    const wall = b.at - a.at;
    const busy = b.machine.busy - a.machine.busy;
    const ours = b.ours - a.ours;
    const groups = {};
    for (const name of Object.keys(a.groups)) {
      groups[name] = a.groups[name] === undefined ? undefined : b.groups[name] - a.groups[name];
    }
    return {
      wallMs: wall,
      foreignCores: wall > 0 ? Math.max(0, busy - ours) / wall : 0,
      stealCores: wall > 0 ? (b.machine.steal - a.machine.steal) / wall : 0,
      groups,
    };
  }

  /** Foreign load right now, averaged over `ms`. */
  async foreignLoad(ms = 1000) {
    const a = this.snapshot();
    await new Promise((r) => setTimeout(r, ms));
    return CpuMeter.delta(a, this.snapshot()).foreignCores;
  }
}
