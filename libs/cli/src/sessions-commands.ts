import type { Command } from 'commander';
import type { Session } from '@st/proto';
import type { CommandContext, Handler } from './command-context';
import type { Role } from './control-plane-client';

/** Loaded when a command runs, not when the command tree is built for `--help`. */
const output = () => import('./command-output');

type Act = (role: Role, handler: Handler) => (...args: unknown[]) => Promise<void>;

/** `stctl sessions …`: the caller's compute sessions, with the API key (ST_API_KEY). */
export function addSessionCommands(program: Command, act: Act): void {
  const sessions = program.command('sessions').description('your compute sessions (needs ST_API_KEY)');
  const printSession = async (ctx: CommandContext, session: Session) => {
    const { sessionJson, sessionFields } = await output();
    ctx.print(sessionJson(session), () => sessionFields(session));
  };

  sessions
    .command('start')
    .description('start a new session')
    .requiredOption('--name <name>', 'session name, unique among your sessions')
    .action(
      act('user', async (ctx: CommandContext, options: { name: string }) => {
        await printSession(ctx, await ctx.client.startSession(options.name));
      }),
    );

  sessions
    .command('restart')
    .description('start a stopped session again, and the tunnels that stopping it stopped')
    .argument('<id>', 'the session ("s-…")')
    .action(
      act('user', async (ctx: CommandContext, id: string) => {
        const { sessionJson, sessionFields, renderFields } = await output();
        const { session, restartedTunnelIds } = await ctx.client.restartSession(id);
        ctx.print(
          { ...sessionJson(session), restartedTunnels: restartedTunnelIds },
          () => `${sessionFields(session)}${renderFields([['Restarted tunnels', restartedTunnelIds.join(', ') || '-']])}`,
        );
      }),
    );

  sessions
    .command('stop')
    .description('stop a session: its tunnels stop and their agents are dropped')
    .argument('<id>', 'the session ("s-…")')
    .action(
      act('user', async (ctx: CommandContext, id: string) => {
        await printSession(ctx, await ctx.client.stopSession(id));
      }),
    );

  sessions
    .command('get')
    .description('show a session')
    .argument('<id>', 'the session ("s-…")')
    .action(
      act('user', async (ctx: CommandContext, id: string) => {
        await printSession(ctx, await ctx.client.getSession(id));
      }),
    );

  sessions
    .command('list')
    .description('list your sessions')
    .action(
      act('user', async (ctx: CommandContext) => {
        const { sessionJson, sessionsTable } = await output();
        const res = await ctx.client.listSessions();
        ctx.print({ sessions: res.sessions.map(sessionJson) }, () => sessionsTable(res.sessions));
      }),
    );
}
