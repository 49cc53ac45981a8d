#!/usr/bin/env -S node --import tsx
import { createGyre } from '../api/app.ts';
import { ConfigError, loadConfig } from '../api/config.ts';

const usage = `usage: gyre <command>

commands:
  serve     start Gyre (embedded PostgreSQL in $GYRE_DATA_DIR, default ./.gyre)
`;

const serve = async () => {
  const config = loadConfig();
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

const main = async () => {
  const [command] = process.argv.slice(2);
  if (command === 'serve') return serve();
  process.stderr.write(usage);
  process.exit(command ? 2 : 0);
};

main().catch((e) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`gyre: ${e.message}\n`);
    process.exit(78);
  }
  process.stderr.write(`gyre: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
