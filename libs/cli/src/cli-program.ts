import { Command, CommanderError } from 'commander';
import { makeAction, type CliIo, type Handler, type RunState } from './command-context';
import type { Role } from './control-plane-client';
import { DEFAULT_SERVER } from './default-server';
import { EXIT_ERROR, EXIT_OK, EXIT_USAGE } from './exit-codes';
import { addProviderCommands } from './providers-commands';
import { addSessionCommands } from './sessions-commands';
import { addTunnelCommands } from './tunnels-commands';
import { addUsageCommands } from './usage-commands';
import { addUserCommands } from './users-commands';
import { CLI_VERSION } from './version';

const ENVIRONMENT_HELP = `
Environment:
  ST_SERVER       control plane gRPC address, host:port (default ${DEFAULT_SERVER}); --server overrides it
  ST_API_KEY      your API key ("st_key_…"): sessions, tunnels, providers and usage commands
  ST_ADMIN_TOKEN  the admin token: users commands, usage --all-users

Exit codes:
  0 ok, 1 request refused, 2 bad command line, 3 missing or refused credentials,
  4 not found (or not yours), 5 control plane unreachable

Examples:
  ST_ADMIN_TOKEN=… stctl users create alice
  ST_API_KEY=st_key_… stctl sessions start --name dev
  stctl tunnels create --session s-… --port 8000 --openai --json
  stctl providers watch --json
  stctl usage --since 7d --by model --json
`;

/**
 * The whole command tree. Commander reports through `io` and throws instead of exiting (the
 * caller maps that to an exit code); each action records its exit code in `state`.
 */
export function buildProgram(io: CliIo, state: RunState): Command {
  const program = new Command('stctl');
  // Inherited by every command added below: set them first.
  program
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true);
  program
    .description('Session Tunnels command line: users, sessions, tunnels and AI Chat providers')
    .version(CLI_VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option('--json', 'print exactly one JSON object (watch: one per line) instead of a table')
    .option('--server <address>', `control plane gRPC address (default: $ST_SERVER or ${DEFAULT_SERVER})`)
    .addHelpText('after', ENVIRONMENT_HELP);

  const act = (role: Role, handler: Handler) => makeAction(io, state, role, handler);
  addUserCommands(program, act);
  addSessionCommands(program, act);
  addTunnelCommands(program, act);
  addProviderCommands(program, act);
  addUsageCommands(program, act);
  return program;
}

/**
 * Runs stctl with `argv` (without node and the script) and returns the exit code. Nothing here
 * exits the process or prints to the console directly, so tests drive it in-process.
 */
export async function runCli(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const fullIo: CliIo = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    env: io.env ?? process.env,
    signal: io.signal,
    outputClosed: io.outputClosed,
  };
  // A reader that went away (`| head -1`) makes writes to process.stdout fail with EPIPE, as an
  // 'error' event that would otherwise crash the process: stop writing and end quietly instead.
  const closed = new AbortController();
  const onStdoutError = () => closed.abort();
  if (fullIo.stdout === process.stdout) {
    process.stdout.on('error', onStdoutError);
    fullIo.outputClosed ??= closed.signal;
  }
  const state: RunState = { exitCode: EXIT_OK };
  const program = buildProgram(fullIo, state);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    // --help and --version "fail" with exit code 0; every other commander error is a usage error
    // (commander has already printed it, with a suggestion when one fits).
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    fullIo.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_ERROR;
  } finally {
    // Left attached on purpose once stdout broke: a late write must not crash the process.
    if (!closed.signal.aborted) process.stdout.off('error', onStdoutError);
  }
  return state.exitCode;
}
