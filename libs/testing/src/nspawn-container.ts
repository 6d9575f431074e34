import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { waitUntil } from './system-probes';

/**
 * A Debian bookworm booted by systemd-nspawn with systemd as PID 1, for testing systemd units
 * under a real systemd (Type=notify, the watchdog, DynamicUser, LoadCredential) rather than a
 * stand-in. The container shares the host's network, so what runs inside reaches servers that
 * the test started on 127.0.0.1.
 */

/** What the rootfs holds besides minbase: systemd as init, and libstdc++ for the host's node. */
const ROOTFS_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'libnss-systemd', 'libstdc++6'];
/** Written last into a finished rootfs; a rootfs without it (or with another list) is made again. */
const STAMP = '.st-rootfs-packages';
/** A PATH for commands inside the container: the host's environment must not leak in. */
const CONTAINER_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

/**
 * Where the rootfs is cached between runs, outside any clone: ST_TEST_ROOTFS if set, else
 * /var/cache/session-tunnels/rootfs-bookworm (the tests need root anyway, and CI on this machine
 * finds it there again).
 */
export function rootfsDir(): string {
  return process.env.ST_TEST_ROOTFS || '/var/cache/session-tunnels/rootfs-bookworm';
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin').split(':').some((dir) => dir && existsSync(join(dir, tool)));
}

function rootfsReady(dir: string): boolean {
  try {
    return readFileSync(join(dir, STAMP), 'utf8').trim() === ROOTFS_PACKAGES.join(',');
  } catch {
    return false;
  }
}

/**
 * Why containers cannot run here (undefined when they can): not root, or a tool missing. For
 * describe.skipIf; CI asks for the tests with ST_REQUIRE_NSPAWN=1 and then gets a failure instead.
 */
export function nspawnUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'systemd-nspawn needs Linux';
  if (process.getuid?.() !== 0) return 'systemd-nspawn needs root';
  for (const tool of ['systemd-nspawn', 'nsenter']) {
    if (!onPath(tool)) return `${tool} is missing (apt-get install systemd-container util-linux)`;
  }
  if (!rootfsReady(rootfsDir()) && !onPath('debootstrap')) return `no cached rootfs at ${rootfsDir()} and debootstrap is missing (apt-get install debootstrap)`;
  return undefined;
}

/** The Debian mirror apt uses on this machine (deb822 or one-line sources), for debootstrap. */
function aptMirror(): string {
  const files = ['/etc/apt/sources.list', ...listDir('/etc/apt/sources.list.d').map((f) => join('/etc/apt/sources.list.d', f))];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const uri = /^URIs:\s*(\S+)/m.exec(text)?.[1] ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(text)?.[1];
    if (uri && !uri.includes('security')) return uri;
  }
  return 'http://deb.debian.org/debian';
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Makes the rootfs with debootstrap unless it is cached (1-2.5 min, ~240 MB), into a temporary
 * directory renamed at the end, so an interrupted run never leaves a half rootfs in the cache.
 * Test files in parallel workers wait for one debootstrap instead of each running their own.
 */
export async function ensureRootfs(): Promise<string> {
  const dir = rootfsDir();
  if (rootfsReady(dir)) return dir;
  mkdirSync(dirname(dir), { recursive: true });
  const lock = `${dir}.lock`;
  await waitUntil(
    `the lock ${lock} (another test process is making the rootfs)`,
    () => rootfsReady(dir) || takeLock(lock),
    // Twice debootstrap's 1-2.5 min, within the specs' 300 s beforeAll.
    290_000,
    500,
  );
  try {
    if (!rootfsReady(dir)) await debootstrap(dir);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return dir;
}

/** mkdir is atomic: whoever makes the directory holds the lock; a dead holder's lock is taken over. */
function takeLock(lock: string): boolean {
  try {
    mkdirSync(lock);
    writeFileSync(join(lock, 'pid'), String(process.pid));
    return true;
  } catch {
    let holder = 0;
    try {
      holder = Number(readFileSync(join(lock, 'pid'), 'utf8'));
    } catch {
      // made but not yet written: its holder is alive
      return false;
    }
    if (holder && holder !== process.pid && !processAlive(holder)) rmSync(lock, { recursive: true, force: true });
    return false;
  }
}

async function debootstrap(dir: string): Promise<void> {
  const partial = `${dir}.partial-${process.pid}`;
  removeStalePartials(dir);
  const args = ['--variant=minbase', `--include=${ROOTFS_PACKAGES.join(',')}`, 'bookworm', partial, aptMirror()];
  await new Promise<void>((resolve, reject) => {
    execFile('debootstrap', args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`debootstrap ${args.join(' ')} failed: ${err.message}\n${(stdout + stderr).slice(-3000)}`));
      else resolve();
    });
  }).catch((err: unknown) => {
    rmSync(partial, { recursive: true, force: true });
    throw err;
  });
  writeFileSync(join(partial, STAMP), `${ROOTFS_PACKAGES.join(',')}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
}

/** Drops the half-made rootfs of runs that were killed meanwhile (~200 MB each). */
function removeStalePartials(dir: string): void {
  const prefix = `${basename(dir)}.partial-`;
  for (const entry of listDir(dirname(dir))) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number(entry.slice(prefix.length));
    if (pid === process.pid || !processAlive(pid)) rmSync(join(dirname(dir), entry), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface Bind {
  host: string;
  container: string;
}

export interface BootOptions {
  /** The machine name (also the hostname); unique per boot. */
  name?: string;
  /** Host paths shown read-only inside. */
  readOnly?: Bind[];
  /** How long the boot may take until `systemctl is-system-running` says running or degraded. */
  bootTimeoutMs?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

const live = new Set<NspawnContainer>();

// A worker that dies without afterAll must not leave a booted container behind.
process.once('exit', () => {
  for (const c of live) c.killNow();
});

export class NspawnContainer {
  private init = 0;
  private output = '';
  private exited = false;

  private constructor(
    readonly name: string,
    private readonly nspawn: ChildProcess,
  ) {
    nspawn.stdout?.setEncoding('utf8').on('data', (t: string) => this.keep(t));
    nspawn.stderr?.setEncoding('utf8').on('data', (t: string) => this.keep(t));
    nspawn.once('exit', () => (this.exited = true));
  }

  private keep(text: string): void {
    this.output = (this.output + text).slice(-8000);
  }

  /** The container's PID 1 as the host sees it. */
  get pid(): number {
    return this.init;
  }

  /**
   * Boots the cached rootfs with --volatile=overlay: every boot starts from the pristine rootfs
   * and its writes go to a tmpfs that is gone at poweroff, so nothing needs copying.
   */
  static async boot(options: BootOptions = {}): Promise<NspawnContainer> {
    const rootfs = await ensureRootfs();
    const name = options.name ?? `st-test-${process.pid}-${Date.now().toString(36)}`;
    const args = ['-D', rootfs, '-M', name, '--volatile=overlay', '-b', '--register=no', '--keep-unit', '--console=pipe'];
    for (const bind of options.readOnly ?? []) args.push(`--bind-ro=${bind.host}:${bind.container}`);
    // Unified cgroups: the legacy hierarchy hung a boot once in five here.
    const nspawn = spawn('systemd-nspawn', args, {
      env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const container = new NspawnContainer(name, nspawn);
    live.add(container);
    try {
      await container.waitBooted(options.bootTimeoutMs ?? 60_000);
    } catch (err) {
      await container.destroy();
      throw err;
    }
    return container;
  }

  private async waitBooted(timeoutMs: number): Promise<void> {
    this.init = await waitUntil(
      `the container's systemd (PID 1) to start${this.describe()}`,
      () => {
        if (this.exited) throw new Error(`systemd-nspawn exited${this.describe()}`);
        return systemdChildOf(this.nspawn.pid!);
      },
      timeoutMs,
      25,
    );
    await waitUntil(
      `systemctl is-system-running to say running or degraded${this.describe()}`,
      async () => {
        if (this.exited) throw new Error(`systemd-nspawn exited${this.describe()}`);
        const state = (await this.exec(['systemctl', 'is-system-running'])).stdout.trim();
        return state === 'running' || state === 'degraded' ? state : undefined;
      },
      timeoutMs,
      50,
    );
  }

  /** Runs a command inside (all of the container's namespaces), with a clean environment. */
  exec(args: string[], input?: string): Promise<ExecResult> {
    return new Promise((resolve) => {
      const child = execFile('nsenter', ['-t', String(this.init), '-a', ...args], { env: CONTAINER_ENV, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 255) : 0;
        resolve({ code, stdout, stderr: stderr || (err && code === 255 ? err.message : '') });
      });
      // A command may exit without reading its input (nsenter while the container boots): its
      // exit code says what happened, the EPIPE adds nothing.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(input ?? '');
    });
  }

  /** Like exec, but a non-zero exit is an error that shows the command and its output. */
  async run(args: string[], input?: string): Promise<string> {
    const result = await this.exec(args, input);
    if (result.code !== 0) throw new Error(`${args.join(' ')} exited ${result.code} in container ${this.name}\n${result.stdout}${result.stderr}`);
    return result.stdout;
  }

  /** Writes a file inside (through the container's own file system, so the overlay holds it). */
  async writeFile(path: string, content: string, mode = '0644'): Promise<void> {
    // install(1) cannot copy from a pipe: cat writes it, under a umask that never widens `mode`.
    await this.run(['sh', '-c', 'umask 077 && mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"', 'sh', path, mode], content);
  }

  /** `systemctl show -p …` of a unit, as a map. */
  async show(unit: string, properties: string[]): Promise<Record<string, string>> {
    const out = await this.run(['systemctl', 'show', unit, ...properties.map((p) => `--property=${p}`)]);
    const values: Record<string, string> = {};
    for (const line of out.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) values[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return values;
  }

  /** A unit's journal, for failure messages. */
  async journal(unit: string): Promise<string> {
    return (await this.exec(['journalctl', '--no-pager', '-o', 'cat', '-n', '60', '-u', unit])).stdout;
  }

  describe(): string {
    return `\n--- systemd-nspawn ${this.name} (pid ${this.nspawn.pid}, init ${this.init || '?'}) output ---\n${this.output}`;
  }

  /**
   * Powers the container off and waits for nspawn; kills nspawn and the container's PID 1 when
   * that takes too long (a killed nspawn leaves PID 1 running), then removes nspawn's leftover.
   */
  async destroy(timeoutMs = 15_000): Promise<void> {
    if (this.init && !this.exited) await this.exec(['systemctl', '--no-block', 'poweroff']);
    const gone = new Promise<void>((resolve) => (this.exited ? resolve() : this.nspawn.once('exit', () => resolve())));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([gone, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.killNow();
    live.delete(this);
  }

  /** SIGKILL to nspawn and PID 1 (each only if still there), and nspawn's leftover removed. */
  killNow(): void {
    for (const pid of [this.nspawn.pid, this.init]) {
      if (!pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(`/run/systemd/nspawn/propagate/${this.name}`, { recursive: true, force: true });
  }
}

/** The pid of the process named systemd whose parent is `parent` (nspawn forks the container's init). */
function systemdChildOf(parent: number): number | undefined {
  for (const entry of listDir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && comm === 'systemd') return Number(entry);
    } catch {
      // the process ended meanwhile
    }
  }
  return undefined;
}
