import type { Command } from 'commander';
import type { WatchProvidersResponse } from '@st/proto';
import type { CommandContext, Handler } from './command-context';
import type { Role } from './control-plane-client';
import { CliError, EXIT_OK, EXIT_UNAVAILABLE } from './exit-codes';

/** Loaded when a command runs, not when the command tree is built for `--help`. */
const output = () => import('./command-output');

type Act = (role: Role, handler: Handler) => (...args: unknown[]) => Promise<void>;

/** `stctl providers …`: AI Chat providers (tunnels with --openai), with the API key. */
export function addProviderCommands(program: Command, act: Act): void {
  const providers = program.command('providers').description('your AI Chat providers: tunnels with --openai (needs ST_API_KEY)');

  providers
    .command('list')
    .description('list your providers, by name')
    .action(
      act('user', async (ctx: CommandContext) => {
        const { providerJson, providersTable } = await output();
        const res = await ctx.client.listProviders();
        ctx.print({ providers: res.providers.map(providerJson) }, () => providersTable(res.providers));
      }),
    );

  providers
    .command('watch')
    .description('print provider changes as they happen (with --json: one object per line) until interrupted')
    .action(act('user', watchProviders));
}

/**
 * Ends the watch on io.signal (or else on SIGINT/SIGTERM of this process) and when stdout is
 * closed; returns the unsubscribe.
 */
function onStop(ctx: CommandContext, stop: () => void): () => void {
  const undo: (() => void)[] = [];
  const signals = [ctx.io.signal, ctx.io.outputClosed].filter((s): s is AbortSignal => s !== undefined);
  for (const signal of signals) {
    if (signal.aborted) queueMicrotask(stop);
    signal.addEventListener('abort', stop, { once: true });
    undo.push(() => signal.removeEventListener('abort', stop));
  }
  if (!ctx.io.signal) {
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    undo.push(() => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    });
  }
  return () => undo.forEach((u) => u());
}

/**
 * Streams WatchProviders: the existing providers as "added", a "synced" marker, then changes.
 * Exit 0 when interrupted; when the stream ends or breaks otherwise, the control plane went
 * away (exit 5) or refused the watch (the usual mapping). It does not reconnect.
 */
async function watchProviders(ctx: CommandContext): Promise<number> {
  const [{ status }, { isServiceError }, { jsonLine, providerEventJson, providerEventLine }] = await Promise.all([
    import('@grpc/grpc-js'),
    import('./grpc-errors'),
    output(),
  ]);
  const call = ctx.client.watchProviders();
  let stopped = false;
  let events = 0;
  const unsubscribe = onStop(ctx, () => {
    stopped = true;
    call.cancel();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      call.on('data', (event: WatchProvidersResponse) => {
        events += 1;
        ctx.io.stdout.write(ctx.json ? jsonLine(providerEventJson(event.change, event.provider)) : providerEventLine(event.change, event.provider));
      });
      call.on('error', (err: unknown) => {
        if (stopped) return resolve();
        const lost = isServiceError(err) && (err.code === status.CANCELLED || (err.code === status.UNAVAILABLE && events > 0));
        reject(lost ? new CliError(EXIT_UNAVAILABLE, `lost the control plane at ${ctx.call.address}: is st-server running? (ST_SERVER)`) : err);
      });
      call.on('end', () => {
        if (stopped) return resolve();
        reject(new CliError(EXIT_UNAVAILABLE, `the control plane at ${ctx.call.address} ended the watch (is st-server shutting down?)`));
      });
    });
  } finally {
    unsubscribe();
  }
  return EXIT_OK;
}
