import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import type { Tunnel } from '@st/proto';
import type { CommandContext, Handler } from './command-context';
import type { Role } from './control-plane-client';
import { usageError } from './exit-codes';

/** Loaded when a command runs, not when the command tree is built for `--help`. */
const output = () => import('./command-output');

type Act = (role: Role, handler: Handler) => (...args: unknown[]) => Promise<void>;

interface CreateOptions {
  session: string;
  port?: number;
  host?: string;
  name?: string;
  openai?: boolean;
  upstreamKeyFile?: string;
}

/** `--port`: an integer from 1 to 65535. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError('expected a port number from 1 to 65535.');
  }
  return port;
}

/**
 * The upstream API key, read from a file and trimmed. Never from argv: command lines end up in
 * shell history and `ps` output.
 */
export async function readUpstreamKey(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw usageError(`cannot read --upstream-key-file ${file}: ${(err as Error).message}`);
  }
  const key = text.trim();
  if (key === '') throw usageError(`--upstream-key-file ${file} is empty`);
  if (/\s/.test(key)) throw usageError(`--upstream-key-file ${file} holds more than one word: it must hold only the key`);
  return key;
}

/** `stctl tunnels …`: the caller's tunnels, with the API key (ST_API_KEY). */
export function addTunnelCommands(program: Command, act: Act): void {
  const tunnels = program.command('tunnels').description('your tunnels into sessions (needs ST_API_KEY)');
  const printTunnel = async (ctx: CommandContext, tunnel: Tunnel) => {
    const { tunnelJson, tunnelFields } = await output();
    ctx.print(tunnelJson(tunnel), () => tunnelFields(tunnel));
  };

  tunnels
    .command('create')
    .description('create a started tunnel to a port inside a session; prints its agent token (shown once)')
    .requiredOption('--session <id>', 'the session ("s-…")')
    .option('--port <port>', 'port of the model server inside the session (server default: 8000)', parsePort)
    .option('--host <host>', 'host of the model server inside the session (server default: localhost)')
    .option('--name <name>', 'tunnel name, unique among your tunnels (server default: <session name>-<port>)')
    .option('--openai', 'make the tunnel an AI Chat provider (only /v1/ paths are forwarded)')
    .option('--upstream-key-file <file>', "file holding the model server's own API key (sent upstream by the agent; never shown again)")
    .action(
      act('user', async (ctx: CommandContext, options: CreateOptions) => {
        const { tunnelJson, tunnelFields, renderFields } = await output();
        const upstreamApiKey = options.upstreamKeyFile === undefined ? '' : await readUpstreamKey(options.upstreamKeyFile);
        const res = await ctx.client.createTunnel({
          sessionId: options.session,
          name: options.name ?? '',
          remotePort: options.port ?? 0,
          remoteHost: options.host ?? '',
          openai: options.openai === true,
          upstreamApiKey,
        });
        ctx.print(
          { ...tunnelJson(res.tunnel), agentToken: res.agentToken },
          () =>
            `${tunnelFields(res.tunnel)}${renderFields([['Agent token', res.agentToken]])}` +
            'The agent token is shown only this once: run st-agent in the session with ST_TUNNEL_TOKEN set to it.\n',
        );
      }),
    );

  tunnels
    .command('list')
    .description('list your tunnels')
    .option('--session <id>', 'only the tunnels of this session')
    .action(
      act('user', async (ctx: CommandContext, options: { session?: string }) => {
        const { tunnelJson, tunnelsTable } = await output();
        const res = await ctx.client.listTunnels(options.session ?? '');
        ctx.print({ tunnels: res.tunnels.map(tunnelJson) }, () => tunnelsTable(res.tunnels));
      }),
    );

  tunnels
    .command('get')
    .description('show a tunnel')
    .argument('<id>', 'the tunnel ("t-…")')
    .action(
      act('user', async (ctx: CommandContext, id: string) => {
        await printTunnel(ctx, await ctx.client.getTunnel(id));
      }),
    );

  tunnels
    .command('start')
    .description('start a stopped tunnel (its session must be running)')
    .argument('<id>', 'the tunnel ("t-…")')
    .action(
      act('user', async (ctx: CommandContext, id: string) => {
        await printTunnel(ctx, await ctx.client.startTunnel(id));
      }),
    );

  tunnels
    .command('stop')
    .description('stop a tunnel: its agents are dropped and requests answer 503')
    .argument('<id>', 'the tunnel ("t-…")')
    .action(
      act('user', async (ctx: CommandContext, id: string) => {
        await printTunnel(ctx, await ctx.client.stopTunnel(id));
      }),
    );

  tunnels
    .command('rotate-token')
    .description('replace the agent token (shown once): the old one stops working and its agents are dropped at once')
    .argument('<id>', 'the tunnel ("t-…")')
    .action(
      act('user', async (ctx: CommandContext, id: string) => {
        const { renderFields } = await output();
        const res = await ctx.client.rotateTunnelToken(id);
        ctx.print(
          { id: res.tunnel.id, agentToken: res.agentToken },
          () =>
            renderFields([['ID', res.tunnel.id], ['Agent token', res.agentToken]]) +
            'The new agent token is shown only this once: restart st-agent with ST_TUNNEL_TOKEN set to it (the old token no longer works).\n',
        );
      }),
    );

  tunnels
    .command('delete')
    .description('delete a tunnel: its agent token stops working at once')
    .argument('<id>', 'the tunnel ("t-…")')
    .action(
      act('user', async (ctx: CommandContext, id: string) => {
        await ctx.client.deleteTunnel(id);
        ctx.print({ deleted: id }, () => `Deleted tunnel ${id}.\n`);
      }),
    );
}
