#!/usr/bin/env -S node --import tsx
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../api/config.ts';
import { CliError } from '../cli/client.ts';
import { projections } from '../cli/projections.ts';
import { users } from '../cli/users.ts';
import { GyreError, ValidationError } from '../domain/errors.ts';
import { loadAgent, loadEvents, loadServer } from './load.ts';

const usage = `usage: gyre <command>

commands:
  serve                        start Gyre (embedded PostgreSQL in $GYRE_DATA_DIR, default ./.gyre)
  agent                        run jobs on this build machine for a Gyre server (gyre agent --help)
  users list                   list accounts
  users suspend <login>        suspend an account: its sessions and tokens stop at once
  users activate <login>       activate a suspended account (needs a free seat)
  users delete <login>         delete an account (the audit history stays)
  projections rebuild [name…]  build read models (every one, or those named) again from the log
                               beside the live ones while Gyre serves; shows progress and returns
                               once each is swapped in
  events copy --to <esdb://…>  copy every event of this installation (stopped) into an empty
                               EventStoreDB, then start Gyre with GYRE_EVENTSTORE_URL

options for users and projections:
  --host <url>    Gyre's URL (or GYRE_URL; default http://127.0.0.1:8080)
  --token <t>     an admin's API token (or GYRE_TOKEN)
  --json          answer in JSON instead of a table
`;

const serve = async () => {
  const config = loadConfig();
  // each command loads only what it runs: a build machine's agent never loads the server
  const { createGyre } = await loadServer();
  const gyre = await createGyre(config);
  const stop = async () => {
    await gyre.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await gyre.app.listen({ port: config.GYRE_PORT, host: config.GYRE_HOST });
  const admin = await gyre.bootstrap();
  if (admin) {
    // printed once, to the terminal, not through the log
    process.stdout.write(`\nGyre created the admin account. Its API token (shown once, also in ${admin.file}):\n\n  ${admin.token}\n\n`);
  }
};

const client = async (args: string[]) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { host: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const [group, action, login, ...more] = positionals;
  const host = values.host || process.env.GYRE_URL || 'http://127.0.0.1:8080';
  const token = values.token || process.env.GYRE_TOKEN;
  if (!token) throw new CliError('no API token: pass --token or set GYRE_TOKEN (the first admin token is in .gyre/admin-token)');
  if (group === 'users') return users({ host, token }, action, login, values.json ?? false);
  if (group === 'projections')
    return projections(
      { host, token },
      action,
      [login, ...more].filter((n): n is string => n !== undefined),
      values.json ?? false,
    );
  throw new CliError(`unknown command "${group}"\n\n${usage}`);
};

const main = async () => {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'serve') return serve();
  if (command === 'events') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { to: { type: 'string' } } });
    const { events } = await loadEvents();
    const progress = (line: string) => void process.stderr.write(`${line}\n`);
    return void process.stdout.write(`${await events(loadConfig(), positionals[0], values.to, progress)}\n`);
  }
  if (command === 'agent') {
    const { agentUsage, parseAgentFlags, runBuildAgent } = await loadAgent();
    if (rest.includes('--help') || rest.includes('-h')) return void process.stdout.write(agentUsage);
    await runBuildAgent(parseAgentFlags(rest));
    process.exit(0);
  }
  if (!command || command === 'help' || command === '--help') {
    process.stdout.write(usage);
    return;
  }
  process.stdout.write(`${await client([command, ...rest])}\n`);
};

main().catch((e) => {
  if (e instanceof ConfigError || e instanceof CliError || e instanceof ValidationError || String((e as { code?: string }).code).startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`gyre: ${e.message}\n`);
    process.exit(e instanceof ConfigError ? 78 : 2);
  }
  // a refusal that says what to do (a machine too large, a token Gyre refused): the message, not a stack
  if (e instanceof GyreError) {
    process.stderr.write(`gyre: ${e.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`gyre: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
