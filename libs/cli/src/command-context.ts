import type { Command } from 'commander';
import type { ControlPlaneClient, CliEnv, Role } from './control-plane-client';
import { EXIT_OK } from './exit-codes';
import type { CallContext } from './grpc-errors';
import { jsonLine } from './json-line';

/** Anything stdout-like: process.stdout, or a collector in tests. */
export interface CliWritable {
  write(chunk: string): unknown;
}

/** What a run of stctl reads and writes; tests pass their own instead of the process's. */
export interface CliIo {
  stdout: CliWritable;
  stderr: CliWritable;
  env: CliEnv;
  /**
   * Ends long-running commands (`providers watch`) with exit 0. Without it they end on SIGINT or
   * SIGTERM of this process.
   */
  signal?: AbortSignal;
  /** Aborted when stdout can take no more (`stctl providers watch | head -1`): long commands end with exit 0. */
  outputClosed?: AbortSignal;
}

/** The options every command takes (declared once on the program). */
export interface GlobalOptions {
  json?: boolean;
  server?: string;
}

/** What a command's handler works with. */
export interface CommandContext {
  io: CliIo;
  json: boolean;
  client: ControlPlaneClient;
  call: CallContext;
  /** The result: one JSON object on one line with --json, else the text for people. */
  print(json: unknown, human: () => string): void;
}

/** A command's handler: positional arguments then the command's own options; may return an exit code. */
export type Handler = (ctx: CommandContext, ...args: never[]) => Promise<number | void>;

/** The exit code of one run, set by whichever action ran. */
export interface RunState {
  exitCode: number;
}

/**
 * Wraps a handler as a commander action: resolves the address and credential, makes the client,
 * runs the handler, and turns any failure into `error: …` on stderr plus its exit code. The
 * client is closed afterwards, whatever happened, so the process can exit on its own.
 */
export function makeAction(io: CliIo, state: RunState, role: Role, handler: Handler): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const globals = command.optsWithGlobals<GlobalOptions>();
    let call: CallContext | undefined;
    let client: ControlPlaneClient | undefined;
    // Loaded here, not at the top: grpc-js and the generated stubs take longer to load than
    // `stctl --help` may take in all (issue 7: under 300 ms).
    const { ControlPlaneClient, resolveAddress, resolveCredential } = await import('./control-plane-client');
    const { toCliError } = await import('./grpc-errors');
    try {
      const address = resolveAddress(globals.server, io.env);
      const credential = resolveCredential(role, io.env);
      call = { address, credentialEnv: credential.context };
      client = new ControlPlaneClient({ address, secret: credential.secret });
      const json = globals.json === true;
      const ctx: CommandContext = {
        io,
        json,
        client,
        call,
        print: (value, human) => io.stdout.write(json ? jsonLine(value) : human()),
      };
      const code = await (handler as (ctx: CommandContext, ...rest: unknown[]) => Promise<number | void>)(ctx, ...args.slice(0, -1));
      state.exitCode = code ?? EXIT_OK;
    } catch (err) {
      const failure = toCliError(err, call);
      io.stderr.write(`error: ${failure.message}\n`);
      state.exitCode = failure.exitCode;
    } finally {
      client?.close();
    }
  };
}
