// The baseline: an OpenSSH reverse tunnel (`ssh -R`), the classic way to reach a port inside a
// session. A private sshd (own config, host key, authorized key, pid file, all in a temp dir)
// listens on 127.0.0.1; `ssh -N -R 127.0.0.1:P:127.0.0.1:<mock>` logs in to it, so connections to
// 127.0.0.1:P are accepted by sshd and carried over the SSH connection to the mock model server.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './net.mjs';

const SSHD_CANDIDATES = ['/usr/sbin/sshd', '/usr/local/sbin/sshd'];

function findSshd() {
  return SSHD_CANDIDATES.find((p) => existsSync(p));
}

function hasCommand(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Makes sure sshd, ssh and ssh-keygen exist; installs openssh-server/-client with apt-get when
 * they are missing and we are root. Returns undefined when ready, or why not.
 */
export function ensureOpenSsh(log) {
  if (findSshd() && hasCommand('ssh') && hasCommand('ssh-keygen')) return undefined;
  if (process.getuid?.() !== 0) return 'openssh-server/openssh-client are not installed and the bench is not root (cannot apt-get install)';
  if (!hasCommand('apt-get')) return 'openssh-server/openssh-client are not installed and apt-get is not available';
  log('installing openssh-server and openssh-client with apt-get (once) ...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', 'openssh-server', 'openssh-client']]) {
    const r = spawnSync('apt-get', args, { env, encoding: 'utf8', timeout: 180_000 });
    if (r.status !== 0) return `apt-get ${args[0]} failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ')}`;
  }
  if (!findSshd() || !hasCommand('ssh')) return 'apt-get install finished but sshd/ssh are still missing';
  return undefined;
}

/**
 * Starts sshd and the reverse tunnel to `targetPort`. `dialPortFor(sshdPort)` gives the port ssh
 * connects to (default sshd's own; the far section puts a delay proxy there). Returns
 * { port, sshd, ssh } (the forwarded port and both process entries) or throws with the reason.
 */
export async function startSshTunnel(procs, targetPort, { log, timeoutMs = 15_000, dialPortFor = (sshdPort) => sshdPort } = {}) {
  const why = ensureOpenSsh(log);
  if (why) throw new Error(why);
  const sshdPath = findSshd();
  if (process.getuid?.() !== 0) throw new Error('the private sshd must run as root (it logs root in)');
  // The privilege-separation directory sshd insists on.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const dir = procs.tmpDir('ssh');
  const hostKey = join(dir, 'host_ed25519');
  const userKey = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'st-bench-host', '-f', hostKey], { stdio: 'ignore' });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'st-bench-user', '-f', userKey], { stdio: 'ignore' });
  const authorized = join(dir, 'authorized_keys');
  execFileSync('cp', [`${userKey}.pub`, authorized]);

  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const sshdPort = await freePort();
    const forwardPort = await freePort();
    const config = join(dir, 'sshd_config');
    // The 10k section sends 10,000 concurrent connections over this one SSH connection; nothing
    // here has to be raised for that: MaxSessions counts session channels (shell/exec; `ssh -N`
    // opens none, forwarded connections are forwarded-tcpip channels), MaxStartups counts
    // unauthenticated connections (there is one), and there is no per-connection cap on forwarded
    // channels in sshd_config or ssh_config. What does bound it is compiled in: at most
    // CHANNELS_MAX_CHANNELS = 16,384 channels per connection (more is fatal for the connection),
    // the forwarded port's listen backlog SSH_LISTEN_BACKLOG = 128 (a full queue drops SYNs,
    // retried after ~1 s), and the open-file limit, which sshd and its session processes inherit
    // from the bench (UsePAM no: no limits.conf); lib/streams-10k.mjs checks it.
    writeFileSync(
      config,
      [
        `Port ${sshdPort}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${authorized}`,
        'UsePAM no',
        'PermitRootLogin yes',
        'StrictModes no',
        'GatewayPorts no',
        'AllowTcpForwarding yes',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PrintMotd no',
        'UseDNS no',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    // -t checks the configuration and keys first, with a readable message.
    const check = spawnSync(sshdPath, ['-t', '-f', config], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`sshd -t rejected the bench config: ${(check.stderr || check.stdout).trim()}`);

    const sshd = procs.spawn('sshd', sshdPath, ['-f', config, '-D', '-e'], { group: true });
    try {
      await waitForPort(sshdPort, sshd, 5000);
    } catch (err) {
      lastError = err;
      await procs.stop(sshd, 500);
      continue;
    }
    const ssh = procs.spawn(
      'ssh -R',
      'ssh',
      [
        '-N',
        '-F', '/dev/null',
        '-R', `127.0.0.1:${forwardPort}:127.0.0.1:${targetPort}`,
        '-p', String(await dialPortFor(sshdPort)),
        '-i', userKey,
        '-o', 'StrictHostKeyChecking=no',
        '-o', 'UserKnownHostsFile=/dev/null',
        '-o', 'ExitOnForwardFailure=yes',
        '-o', 'BatchMode=yes',
        '-o', 'IdentitiesOnly=yes',
        '-o', 'LogLevel=ERROR',
        'root@127.0.0.1',
      ],
      { group: true },
    );
    try {
      await waitForHttp(`http://127.0.0.1:${forwardPort}/v1/models`, ssh, timeoutMs);
      return { port: forwardPort, sshd, ssh };
    } catch (err) {
      lastError = err;
      await procs.stop(ssh, 500);
      await procs.stop(sshd, 500);
    }
  }
  throw lastError ?? new Error('ssh tunnel did not come up');
}

async function waitForPort(port, entry, timeoutMs) {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (entry.exited) throw new Error(`${entry.name} exited (code ${entry.code}): ${entry.tail.trim()}`);
    const ok = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${entry.name} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms: ${entry.tail.trim()}`);
}

/** Polls `url` until it answers 200; fails early when `entry` (the process that serves it) exits. */
export async function waitForHttp(url, entry, timeoutMs, headers = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (entry?.exited) throw new Error(`${entry.name} exited (code ${entry.code}, signal ${entry.signal}): ${entry.tail.trim()}`);
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})${entry ? `; ${entry.name} said: ${entry.tail.trim() || '(nothing)'}` : ''}`);
}
