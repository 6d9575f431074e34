import type { Command } from 'commander';
import type { CommandContext, Handler } from './command-context';
import type { Role } from './control-plane-client';

/** Loaded when a command runs, not when the command tree is built for `--help`. */
const output = () => import('./command-output');

type Act = (role: Role, handler: Handler) => (...args: unknown[]) => Promise<void>;

/** `stctl users …`: users and their API keys, with the admin token (ST_ADMIN_TOKEN). */
export function addUserCommands(program: Command, act: Act): void {
  const users = program.command('users').description('users and their API keys (admin: needs ST_ADMIN_TOKEN)');

  users
    .command('create')
    .description('create a user and its first API key (shown once)')
    .argument('<name>', 'unique user name (letters, digits, ".", "_", "-")')
    .action(
      act('admin', async (ctx: CommandContext, name: string) => {
        const { userJson, userFields, renderFields } = await output();
        const { user, apiKey } = await ctx.client.createUser(name);
        ctx.print({ ...userJson(user), apiKey }, () => `${userFields(user)}${renderFields([['API key', apiKey]])}${SHOWN_ONCE}`);
      }),
    );

  users
    .command('list')
    .description('list the users')
    .action(
      act('admin', async (ctx: CommandContext) => {
        const { userJson, usersTable } = await output();
        const res = await ctx.client.listUsers();
        ctx.print({ users: res.users.map(userJson) }, () => usersTable(res.users));
      }),
    );

  users
    .command('create-key')
    .description("mint another API key for a user (shown once); the user's other keys keep working")
    .argument('<user-id>', 'the user ("u-…")')
    .action(
      act('admin', async (ctx: CommandContext, userId: string) => {
        const { renderFields } = await output();
        const res = await ctx.client.createApiKey(userId);
        ctx.print({ apiKey: res.apiKey }, () => `${renderFields([['API key', res.apiKey]])}${SHOWN_ONCE}`);
      }),
    );

  users
    .command('revoke-keys')
    .description('revoke every API key of a user at once')
    .argument('<user-id>', 'the user ("u-…")')
    .action(
      act('admin', async (ctx: CommandContext, userId: string) => {
        const res = await ctx.client.revokeApiKeys(userId);
        ctx.print({ revoked: res.revoked }, () => `Revoked ${res.revoked} API key${res.revoked === 1 ? '' : 's'} of ${userId}.\n`);
      }),
    );
}

const SHOWN_ONCE = 'The API key is shown only this once: store it now (the user sets it as ST_API_KEY).\n';
