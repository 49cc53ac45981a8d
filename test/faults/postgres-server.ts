import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/ports.ts';

/**
 * A PostgreSQL server of the suite's own, in a temporary directory on a free port: never the machine's
 * shared one, so it can be stopped and restarted at will. PostgreSQL refuses to run as root; as root,
 * it runs as the `postgres` account. fsync is off: the faults here are Gyre's and the server's
 * restarts, never a power loss, which fsync is for.
 */
export interface PostgresServer {
  /** The `postgres` database on it. */
  readonly url: string;
  readonly port: number;
  /** pg_ctl stop -m fast: connections are ended, and the server is gone until start(). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it (immediately) and removes its files. */
  dispose(): Promise<void>;
}

const binaries = () => {
  const base = '/usr/lib/postgresql';
  const version = readdirSync(base).sort((a, b) => Number(b) - Number(a))[0];
  if (!version) throw new Error(`no PostgreSQL under ${base}: install the postgresql package`);
  return join(base, version, 'bin');
};

export const startPostgres = async (): Promise<PostgresServer> => {
  const bin = binaries();
  const dir = mkdtempSync(join(tmpdir(), 'gyre-faults-pg-'));
  const asRoot = userInfo().uid === 0;
  if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
  // never synchronous: the load runs on this process's event loop meanwhile
  const run = async (tool: string, args: string[]) => {
    const [command, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
    await promisify(execFile)(command, argv as string[], { timeout: 60_000 });
  };
  const port = await freePort();
  const data = join(dir, 'data');
  await run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
  const start = () => run('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']),
    start,
    dispose: async () => {
      // already stopped: pg_ctl says so, and there is nothing to stop
      await run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
