import { AdminToken } from '@st/auth';
import { ConfigError, describeSettings } from '@st/config';
import { createLogger } from '@st/logging';
import { TRACING_SHUTDOWN_MS, activeTracer, shutdownTracing, startTracing } from '@st/telemetry';
import { openStore } from '@st/store';
import { ControlPlane } from './control-plane';
import { ADMIN_TOKEN_USAGE, runAdminTokenCommand } from './admin-token-command';
import { prepareDemo } from './demo-bootstrap';
import { type Role, SERVER_SETTINGS, loadServerConfig } from './server-config';

/**
 * The whole life of an st-server process: config, logger, control plane, signals. The apps'
 * main.ts files call this with the roles they stand for.
 */
export async function runServer(name: string, argv: string[], fixedRoles?: Role[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`Usage: ${name} [demo-init | ${ADMIN_TOKEN_USAGE}] [options]\n\nSettings (flag, environment variable, meaning):\n${describeSettings(SERVER_SETTINGS)}\n`);
    return;
  }
  const subcommand = argv[0] === 'demo-init' || argv[0] === 'admin-token' ? argv.shift() : undefined;
  // `--reset` belongs to the subcommand, not to the settings.
  const commandArgs = subcommand === 'admin-token' ? takeFlags(argv, ['--reset']) : [];
  let config;
  try {
    config = loadServerConfig({ argv });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (fixedRoles) config.role = fixedRoles;
  const logger = createLogger({ name });

  if (subcommand === 'demo-init') {
    // Prints the demo's fresh secrets as JSON for tools/dev/start-demo.mjs; nothing is logged.
    const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl });
    const demo = await prepareDemo(store);
    // A fresh admin token each demo start, like the key (none when ST_ADMIN_TOKEN decides it).
    const adminToken = config.adminToken ? undefined : await AdminToken.reset(store);
    await store.close();
    process.stdout.write(`${JSON.stringify({ ...demo, adminToken })}\n`);
    return;
  }
  if (subcommand === 'admin-token') {
    const out = { stdout: (t: string) => process.stdout.write(t), stderr: (t: string) => process.stderr.write(t) };
    process.exitCode = await runAdminTokenCommand(name, commandArgs, config, out);
    return;
  }

  // OTLP tracing when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set. service.name is the command's
  // name, or the one role's (`st-server --role gateway` traces as st-gateway, as st-gateway does).
  await startTracing(config.role.length === 1 ? `st-${config.role[0]}` : name, logger);
  let plane: ControlPlane;
  try {
    plane = await ControlPlane.start(config, logger);
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'st-server could not start');
    process.stderr.write(`${name}: ${(err as Error).message}\n`);
    // A missing or invalid setting (a replica's secret) is a configuration error: exit code 2.
    process.exit(err instanceof ConfigError ? 2 : 1);
  }
  logger.info(
    { roles: config.role, grpcPort: plane.grpcPort, httpPort: plane.httpPort ?? plane.discoveryHttpPort, publicUrl: plane.publicUrl, dataDir: config.dataDir },
    'st-server ready',
  );
  if (plane.createdAdminToken) {
    // Shown once: only its digest is kept (in the store). Lost? `st-server admin-token --reset`.
    process.stdout.write(`${name}: admin token (shown once, keep it; stctl reads ST_ADMIN_TOKEN): ${plane.createdAdminToken}\n`);
  }
  // Discovery's own HTTP port (Connect, probes) is named only where it has one, keeping the line
  // of the other layouts as scripts know it.
  const connect = plane.discoveryHttpPort !== undefined ? ` connect ${config.host}:${plane.discoveryHttpPort}` : '';
  process.stdout.write(
    `${name} ready: gateway ${plane.httpPort !== undefined ? plane.publicUrl : '-'} grpc ${plane.grpcPort !== undefined ? `${config.host}:${plane.grpcPort}` : '-'}${connect}\n`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting at once');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    const hard = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownGraceMs + 1500 + (activeTracer() ? TRACING_SHUTDOWN_MS : 0));
    hard.unref();
    plane.stop().then(
      () => shutdownTracing().then(() => process.exit(0)),
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** Removes `flags` from `argv` and returns the ones that were there. */
function takeFlags(argv: string[], flags: string[]): string[] {
  const taken = argv.filter((a) => flags.includes(a));
  argv.splice(0, argv.length, ...argv.filter((a) => !flags.includes(a)));
  return taken;
}
