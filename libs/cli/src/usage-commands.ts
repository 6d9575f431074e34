import { type Command, InvalidArgumentError, Option } from 'commander';
import type { CommandContext, Handler } from './command-context';
import type { Role } from './control-plane-client';

/** Loaded when a command runs, not when the command tree is built for `--help`. */
const output = () => import('./usage-output');

type Act = (role: Role, handler: Handler) => (...args: unknown[]) => Promise<void>;

interface UsageOptions {
  since?: Date;
  by?: 'tunnel' | 'model';
  allUsers?: boolean;
}

const RELATIVE = /^(\d{1,6})([mhdw])$/;
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--since`: an ISO 8601 date or time (`2026-01-31`, `2026-01-31T12:00:00Z`), or a span back from now (`90m`, `24h`, `7d`, `2w`). */
export function parseSince(value: string, now = Date.now()): Date {
  const text = value.trim();
  const relative = RELATIVE.exec(text);
  if (relative) return new Date(now - Number(relative[1]) * UNIT_MS[relative[2]]);
  const at = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) throw new InvalidArgumentError('expected an ISO 8601 date or time (2026-01-31, 2026-01-31T12:00:00Z) or a span such as 24h or 7d.');
  return new Date(at);
}

/** `stctl usage`: token usage counted by the gateways (API key: your own; --all-users: the admin's view). */
export function addUsageCommands(program: Command, act: Act): void {
  program
    .command('usage')
    .description('token usage of your AI Chat traffic, per tunnel and model (needs ST_API_KEY; --all-users: ST_ADMIN_TOKEN)')
    .option('--since <when>', 'only usage since then: an ISO 8601 date or time, or 24h, 7d, … back from now (hour precision)', (v) => parseSince(v))
    .addOption(new Option('--by <grouping>', 'one row per tunnel or per model (default: per tunnel and model)').choices(['tunnel', 'model']))
    .option('--all-users', "every user's usage, one row per user and group (the admin token)")
    .action((...args: unknown[]) => {
      // The credential depends on the flag: a user's key, or the admin token for everyone's.
      const options = args[args.length - 2] as UsageOptions;
      return act(options.allUsers ? 'admin' : 'user', showUsage)(...args);
    });
}

async function showUsage(ctx: CommandContext, options: UsageOptions): Promise<void> {
  const { usageJson, usageTable } = await output();
  const groupBy = options.by === 'tunnel' ? 1 : options.by === 'model' ? 2 : 0;
  const res = await ctx.client.getUsage({ since: options.since, groupBy, allUsers: options.allUsers === true });
  const allUsers = options.allUsers === true;
  ctx.print({ usage: res.usage.map((row) => usageJson(row, groupBy, allUsers)) }, () => usageTable(res.usage, groupBy, allUsers));
}
