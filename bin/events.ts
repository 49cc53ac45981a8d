import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { connectEventStoreDb, redacted } from '../adapters/eventstore/eventstoredb.ts';
import { createPostgresEventStore } from '../adapters/eventstore/postgres.ts';
import { openDatabase } from '../adapters/database/sql.ts';
import type { Config } from '../api/config.ts';
import { copyEvents } from '../application/events-copy.ts';
import { CliError } from '../cli/client.ts';
import { GyreError } from '../domain/errors.ts';

/**
 * `gyre events copy --to esdb://…`: the events of this installation's SQL database (GYRE_DATABASE_URL, else the
 * embedded one in GYRE_DATA_DIR), with Gyre stopped, into an empty EventStoreDB. Not through a server: the embedded
 * database opens in one process at a time.
 */
export const events = async (config: Config, action: string | undefined, to: string | undefined, progress: (line: string) => void): Promise<string> => {
  if (action !== 'copy') throw new CliError(`unknown events command "${action ?? ''}": gyre events copy --to esdb://host:2113`);
  if (!to) throw new CliError('gyre events copy needs --to esdb://host:2113?tls=false (the EventStoreDB to copy into)');
  const pglite = join(resolve(config.GYRE_DATA_DIR), 'pglite');
  if (!config.GYRE_DATABASE_URL && !existsSync(pglite)) throw new CliError(`no Gyre installation at ${pglite}: set GYRE_DATA_DIR (or GYRE_DATABASE_URL)`);
  const db = openDatabase(config.GYRE_DATABASE_URL ? { url: config.GYRE_DATABASE_URL } : { dataDir: pglite });
  try {
    const source = await createPostgresEventStore(db);
    const target = await connectEventStoreDb(to, { variable: '--to' }).catch((e: Error) => {
      throw new CliError(e.message);
    });
    try {
      let done = 0;
      const copied = await copyEvents({
        source,
        target,
        db,
        from: config.GYRE_DATABASE_URL ? 'postgresql' : 'embedded',
        onProgress: (n) => {
          done = n;
          progress(`copied ${n.toLocaleString('en')} events`);
        },
      }).catch((e: Error) => {
        if (e instanceof GyreError) throw e;
        throw new CliError(`the copy stopped after ${done.toLocaleString('en')} events (${e.message}): run the same command again to go on`);
      });
      return [
        `copied ${copied.events.toLocaleString('en')} events into ${redacted(to)}.`,
        `Start Gyre with GYRE_EVENTSTORE_URL set to it and the same ${config.GYRE_DATABASE_URL ? 'GYRE_DATABASE_URL' : 'GYRE_DATA_DIR'} (it keeps the data keys of secrets):`,
        'its read models are built again from the new log, and its reactors go on where they were.',
      ].join('\n');
    } finally {
      await Promise.allSettled([target.close(), source.close()]);
    }
  } finally {
    await db.destroy();
  }
};
