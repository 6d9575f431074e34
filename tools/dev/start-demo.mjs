#!/usr/bin/env node
// `npm start`: the whole path on one machine. Builds if needed, then starts the mock model server,
// mints the demo user's credentials (st-server demo-init), starts st-server (broker + gateway) and
// st-agent (dialing the broker, replaying requests against the mock), waits until a request goes
// through the tunnel and prints a ready-to-paste curl line. Ctrl-C stops everything.
//
// Settings (environment): ST_HOST (127.0.0.1), ST_HTTP_PORT (8080), ST_GRPC_PORT (50051),
// ST_DATA_DIR (./.data), ST_PUBLIC_URL (http://ST_HOST:ST_HTTP_PORT). Two copies run side by side
// with different ports and data directories. The children's JSON logs go to <data dir>/logs/.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Child, DemoError, STARTUP_TIMEOUT_MS, shown } from './demo-child.mjs';
import { ROOT, NotReadyError, ensureReady } from './ensure-ready.mjs';

/** How long children get after SIGTERM before they are killed. */
const STOP_TIMEOUT_MS = 6_000;
/** Grace periods handed to the children, so that Ctrl-C takes a few seconds at most. */
const CHILD_GRACE_MS = '2000';
/**
 * st-server's grace outlasts st-agent's drain: an answer the agent gives up on reaches the client
 * as an error event through a server still relaying, instead of both cutting at once (issue 7).
 */
const SERVER_GRACE_MS = '3000';
/** npm forwards Ctrl-C to us while the terminal sends it too: signals this close are one. */
const SIGNAL_DEBOUNCE_MS = 1_000;
const DEFAULT_MODEL = 'mock-llama-3-8b';

const say = (line) => process.stderr.write(`start-demo: ${line}\n`);


function readSettings(env) {
  const portOf = (name, fallback) => {
    const raw = env[name] || String(fallback);
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value > 65535) throw new DemoError(`${name} must be a port from 0 to 65535 (got ${JSON.stringify(raw)})`);
    return value;
  };
  const settings = {
    host: env.ST_HOST || '127.0.0.1',
    httpPort: portOf('ST_HTTP_PORT', 8080),
    grpcPort: portOf('ST_GRPC_PORT', 50051),
    dataDir: resolve(process.cwd(), env.ST_DATA_DIR || './.data'),
    publicUrl: env.ST_PUBLIC_URL ? env.ST_PUBLIC_URL.replace(/\/+$/, '') : undefined,
    model: (env.ST_MOCK_MODELS || DEFAULT_MODEL).split(',')[0].trim() || DEFAULT_MODEL,
  };
  if (settings.httpPort !== 0 && settings.httpPort === settings.grpcPort) {
    throw new DemoError(`ST_HTTP_PORT and ST_GRPC_PORT are both ${settings.httpPort}: give them different ports`);
  }
  return settings;
}

/** Where to reach a host we listen on from this machine (a wildcard address is not a destination). */
function dialHost(host) {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}
const urlHost = (host) => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);


/** Resolves when host:port can be bound; rejects with a clear message when it is taken. */
function checkPortFree(host, port, variable) {
  if (port === 0) return Promise.resolve();
  return new Promise((resolvePromise, reject) => {
    const probe = createServer();
    probe.once('error', (err) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new DemoError(
            `port ${port} on ${host} is already in use (${variable}). Is another \`npm start\` or st-server running? ` +
              `Stop it, or choose free ports with ST_HTTP_PORT and ST_GRPC_PORT (and a data directory of its own with ST_DATA_DIR).`,
          ),
        );
      } else if (err.code === 'EADDRNOTAVAIL') {
        reject(new DemoError(`cannot listen on ${host} (ST_HOST): no such address on this machine`));
      } else {
        reject(new DemoError(`cannot listen on ${host}:${port} (${variable}): ${err.message}`));
      }
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolvePromise()));
  });
}

/** Refuses a second demo on the same data directory: demo-init would revoke the first one's key. */
function takeDataDirLock(dataDir) {
  const file = join(dataDir, 'start-demo.pid');
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (pid && pid !== process.pid) {
      process.kill(pid, 0);
      throw new DemoError(
        `another npm start (pid ${pid}) is using ${shown(dataDir)}. Stop it, or give this one its own ST_DATA_DIR and ports.`,
      );
    }
  } catch (err) {
    if (err instanceof DemoError) throw err;
    // No file, or its process is gone (ESRCH): the directory is ours.
  }
  writeFileSync(file, `${process.pid}\n`);
  return () => {
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
    } catch {
      // already gone
    }
  };
}

async function main() {
  const settings = readSettings(process.env);
  ensureReady();

  const { host, dataDir } = settings;
  const logDir = join(dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const releaseLock = takeDataDirLock(dataDir);

  const children = [];
  let stopping = false;
  let firstSignalAt = 0;

  /** SIGTERM to `group`, then SIGKILL to whatever is left after STOP_TIMEOUT_MS. */
  const stopGroup = async (group) => {
    for (const child of group) if (child.running) child.proc.kill('SIGTERM');
    const all = Promise.all(group.map((c) => c.exited));
    let timer;
    const timedOut = await Promise.race([all.then(() => false), new Promise((r) => (timer = setTimeout(() => r(true), STOP_TIMEOUT_MS)))]);
    clearTimeout(timer);
    if (!timedOut) return;
    for (const child of group) {
      if (child.running) {
        say(`${child.name} did not stop within ${STOP_TIMEOUT_MS / 1000} s: killing it`);
        child.proc.kill('SIGKILL');
      }
    }
    await all;
  };

  const stopAll = async (exitCode) => {
    stopping = true;
    // Agent and server first, so that open answers can finish within their grace periods while
    // the model server is still there; then the mock.
    const mockLast = (c) => c.name === 'st-mock-model';
    await stopGroup(children.filter((c) => !mockLast(c)));
    await stopGroup(children.filter(mockLast));
    await Promise.all(children.map((c) => c.closeLog()));
    releaseLock();
    if (exitCode === 0) say('stopped');
    process.exit(exitCode);
  };

  const onSignal = (signal) => {
    const now = Date.now();
    if (stopping) {
      if (now - firstSignalAt < SIGNAL_DEBOUNCE_MS) return;
      say(`second ${signal}: killing everything`);
      for (const child of children) if (child.running) child.proc.kill('SIGKILL');
      releaseLock();
      process.exit(130);
    }
    firstSignalAt = now;
    say(`${signal}: stopping st-agent, st-server and the mock model…`);
    void stopAll(0);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGHUP', () => onSignal('SIGHUP'));
  // `kill <npm pid>`: npm passes SIGTERM to the `sh -c` it runs us in, which dies without passing
  // it on. We notice by being re-parented, and stop as if we had been sent SIGTERM ourselves.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent && !stopping) onSignal('SIGTERM (npm was stopped)');
  }, 500).unref();
  // Last resort (an exception of ours): leave no child behind.
  process.on('exit', () => {
    for (const child of children) if (child.running) child.proc.kill('SIGKILL');
  });

  const fail = async (message, child) => {
    if (stopping) return;
    say(`FAILED: ${message}`);
    if (child) process.stderr.write(`${child.report()}\n`);
    await stopAll(1);
  };

  const start = (name, script, env) => {
    const child = new Child(name, script, env, join(logDir, `${name}.log`));
    children.push(child);
    child.exited.then(() => {
      if (!stopping) void fail(`${name} exited unexpectedly (${child.describeExit()})`, child);
    });
    return child;
  };

  try {
    await checkPortFree(host, settings.httpPort, 'ST_HTTP_PORT');
    await checkPortFree(host, settings.grpcPort, 'ST_GRPC_PORT');

    // The model server the agent fronts: the mock, on a free loopback port.
    const mockEnv = {
      ...process.env,
      ST_MOCK_HOST: '127.0.0.1',
      ST_MOCK_PORT: '0',
      ST_MOCK_TOKEN_DELAY_MS: process.env.ST_MOCK_TOKEN_DELAY_MS || '30',
      ST_MOCK_MAX_TOKENS: process.env.ST_MOCK_MAX_TOKENS || '40',
      ST_MOCK_MODELS: process.env.ST_MOCK_MODELS || DEFAULT_MODEL,
    };
    delete mockEnv.ST_MOCK_API_KEY;
    const mock = start('st-mock-model', 'apps/mock-model/bin/st-mock-model.js', mockEnv);
    const mockUrl = await mock.waitFor((line) => /^st-mock-model listening on (\S+)$/.exec(line)?.[1], 'its URL');

    // Fresh credentials for the demo user and its tunnel (earlier ones stop working).
    const serverEnv = {
      ...process.env,
      ST_HOST: host,
      ST_HTTP_PORT: String(settings.httpPort),
      ST_GRPC_PORT: String(settings.grpcPort),
      ST_DATA_DIR: dataDir,
      ST_SHUTDOWN_GRACE_MS: process.env.ST_SHUTDOWN_GRACE_MS || SERVER_GRACE_MS,
    };
    const init = spawnSync(process.execPath, [join(ROOT, 'apps/server/bin/st-server.js'), 'demo-init'], {
      cwd: ROOT,
      env: serverEnv,
      encoding: 'utf8',
      timeout: STARTUP_TIMEOUT_MS,
    });
    let demo;
    try {
      demo = JSON.parse(init.stdout.trim().split('\n').pop());
    } catch {
      // reported below
    }
    if (init.status !== 0 || !demo?.tunnelId || !demo?.apiKey || !demo?.agentToken) {
      throw new DemoError(`st-server demo-init failed (${init.error?.message ?? `exit ${init.status ?? init.signal}`}):\n${init.stderr || init.stdout}`);
    }

    // Broker and gateway in one process.
    const server = start('st-server', 'apps/server/bin/st-server.js', serverEnv);
    let loggedHttpPort;
    server.watchers.add((line) => {
      if (!line.startsWith('{')) return;
      try {
        const entry = JSON.parse(line);
        if (entry.msg === 'st-server ready' && entry.httpPort) loggedHttpPort = entry.httpPort;
      } catch {
        // not a log line
      }
    });
    const ready = await server.waitFor((line) => /^st-server ready: gateway (\S+) grpc (\S+):(\d+)$/.exec(line) ?? undefined, 'ready');
    const [, publicUrl, grpcHost, grpcPort] = ready;
    // The URL to check readiness on, from here; the public URL may sit behind a proxy.
    let localUrl = publicUrl;
    if (settings.publicUrl) {
      if (settings.httpPort === 0) await server.waitFor((line) => (loggedHttpPort ? true : undefined), 'its HTTP port', 3_000).catch(() => {});
      localUrl = `http://${urlHost(dialHost(host))}:${loggedHttpPort ?? settings.httpPort}`;
    }
    const brokerUrl = `http://${urlHost(dialHost(grpcHost))}:${grpcPort}`;

    // The agent, as it would run inside a compute session.
    const agentEnv = {
      ...process.env,
      ST_BROKER_URL: brokerUrl,
      ST_TUNNEL_TOKEN: demo.agentToken,
      ST_UPSTREAM_URL: mockUrl,
      ST_DRAIN_GRACE_MS: process.env.ST_DRAIN_GRACE_MS || CHILD_GRACE_MS,
    };
    delete agentEnv.ST_TUNNEL_TOKEN_FILE;
    start('st-agent', 'apps/agent/bin/st-agent.js', agentEnv);

    // Ready when a request crosses the whole path: gateway → broker → agent → model.
    const modelsUrl = `${localUrl}/t/${demo.tunnelId}/v1/models`;
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    let last = 'no answer';
    for (;;) {
      if (stopping) return;
      try {
        const res = await fetch(modelsUrl, { headers: { authorization: `Bearer ${demo.apiKey}` }, signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status === 200) break;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = err.cause?.code ?? err.message;
      }
      if (Date.now() > deadline) throw new DemoError(`the tunnel did not answer GET ${modelsUrl} with 200 within ${STARTUP_TIMEOUT_MS / 1000} s (last: ${last}); logs are in ${shown(logDir)}/`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const base = `${publicUrl}/t/${demo.tunnelId}/v1`;
    const body = JSON.stringify({ model: settings.model, stream: true, messages: [{ role: 'user', content: 'Hello' }] });
    process.stdout.write(
      [
        '',
        'Session Tunnels demo is running:',
        `  mock model   ${mockUrl} (model ${settings.model}), reached only through the tunnel`,
        `  st-agent     tunnel ${demo.tunnelId}, dialing the broker at ${brokerUrl}`,
        `  st-server    gateway ${publicUrl}${localUrl !== publicUrl ? ` (listening on ${localUrl})` : ''}, broker (gRPC) ${grpcHost}:${grpcPort}`,
        `  logs         ${shown(logDir)}/{st-mock-model,st-server,st-agent}.log`,
        '',
        `OpenAI base URL (for SDKs): ${base}`,
        `API key:                    ${demo.apiKey}`,
        `Web console:                ${publicUrl}/ (sign in with the API key)`,
        '',
        'Stream a chat answer through the tunnel:',
        `curl -N ${base}/chat/completions -H 'Authorization: Bearer ${demo.apiKey}' -H 'Content-Type: application/json' -d '${body}'`,
        '',
        'The demo user as AI Chat sees it (providers with live status, and every provider behind one URL):',
        `  ST_SERVER=${grpcHost}:${grpcPort} ST_API_KEY=${demo.apiKey} npx stctl providers list`,
        `  curl ${publicUrl}/v1/models -H 'Authorization: Bearer ${demo.apiKey}'`,
        '',
        // A fresh admin token each start, like the key: paste the line, then `npx stctl users list`.
        ...(demo.adminToken
          ? ['Admin token for stctl users … (new each start; the earlier one no longer works):', `export ST_ADMIN_TOKEN=${demo.adminToken}`, '']
          : ['Admin commands use the ST_ADMIN_TOKEN you set.', '']),
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
  } catch (err) {
    if (!(err instanceof DemoError)) throw err;
    const culprit = children.find((c) => !c.running) ?? children.find((c) => err.message.startsWith(c.name));
    await fail(err.message, culprit);
  }
}

main().catch((err) => {
  if (err instanceof DemoError || err instanceof NotReadyError) {
    say(`FAILED: ${err.message}`);
  } else {
    say(`FAILED: ${err?.stack ?? err}`);
  }
  process.exit(1);
});
