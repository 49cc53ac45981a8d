/**
 * Servers as child processes, for the benchmarks that meet Gyre over HTTP as a user does: `gyre serve`
 * (bin/gyre.mjs, the compiled server) and the anchor (anchor-server.ts, a bare fastify + mercurius).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from '../test/support/ports.ts';
import type { Backend, Storage } from './support.ts';

const root = resolve(import.meta.dirname, '..');

export interface ServerProcess {
  readonly url: string;
  readonly pid: number;
  /** What the process wrote to stderr so far (the last 64 KB). */
  errors(): string;
  /** Stops it with SIGTERM; resolves with its exit code. */
  stop(): Promise<number | null>;
  /** Freezes it (SIGSTOP), so that it takes no processor time while another is measured; `resume` thaws it. */
  pause(): void;
  resume(): void;
}

export interface GyreProcess extends ServerProcess {
  /** The admin's API token, from the data directory. */
  readonly token: string;
  /** Milliseconds from the spawn to ready. */
  readonly timings: { readonly readyMs: number };
  /** Resolves once /readyz says every projection is at the end of the log. */
  caughtUp(): Promise<void>;
}

/** Resident memory of a process in MB, from /proc: now (VmRSS) and the peak since it started (VmHWM). */
export const memoryOf = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (key: string) => Math.round(Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024);
  return { rssMb: mb('VmRSS'), peakMb: mb('VmHWM') };
};

/** Resolves once `check` holds, looking every 25 ms; throws when `ms` pass first. */
export const until = async (check: () => boolean | Promise<boolean>, ms: number, what: string) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

/** Servers still running: killed when this process exits, even by an error. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) {
    child.kill('SIGCONT');
    child.kill('SIGTERM');
  }
});

/** How long a server may take to start (a fresh PGlite directory takes a while on a busy machine). */
const startMs = Number(process.env.BENCH_START_MS ?? 600_000);

const watch = (child: ChildProcess, url: string) => {
  running.add(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-65_536)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let done = false;
  void exited.then(() => {
    done = true;
    running.delete(child);
  });
  return {
    url,
    pid: child.pid!,
    errors: () => err,
    stop: () => {
      if (!done) {
        child.kill('SIGCONT');
        child.kill('SIGTERM');
      }
      return exited;
    },
    pause: () => process.kill(child.pid!, 'SIGSTOP'),
    resume: () => process.kill(child.pid!, 'SIGCONT'),
    hasExited: () => done,
  };
};

/** Whether Gyre answers /readyz with every projection at the end of the log. */
const caughtUp = async (url: string) => {
  try {
    const res = await fetch(`${url}/readyz`);
    const body = (await res.json()) as { projections?: Array<{ caughtUp: boolean }> };
    return res.status === 200 && (body.projections ?? []).every((p) => p.caughtUp);
  } catch {
    return false;
  }
};

let built = false;
/** `gyre` compiles the sources first when one changed: done before any start is timed. */
const buildOnce = () => {
  if (!built) execFileSync(process.execPath, [join(root, 'scripts', 'setup.mjs')], { cwd: root, stdio: 'ignore' });
  built = true;
};

/**
 * Starts `gyre serve` on some storage with the default configuration but for its port, data
 * directory, database and log level (BENCH_GYRE_LOG_LEVEL, default warn: no line per request); more
 * settings come from the environment or `env`. Resolves once /readyz answers with every projection
 * caught up and the admin's token is written; `onStart` sees the process's id as soon as it exists.
 */
export const startGyre = async (storage: Storage, env: Record<string, string> = {}, onStart?: (pid: number) => void): Promise<GyreProcess> => {
  buildOnce();
  const port = await freePort();
  const spawned = performance.now();
  // BENCH_GYRE_NODE_ARGS: Node's own options for the server, e.g. `--cpu-prof --cpu-prof-dir=tmp/profile`
  const nodeArgs = process.env.BENCH_GYRE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, join(root, 'bin', 'gyre.mjs'), 'serve'], {
    cwd: root,
    env: {
      ...process.env,
      GYRE_PORT: String(port),
      GYRE_HOST: '127.0.0.1',
      GYRE_DATA_DIR: storage.dataDir,
      GYRE_DATABASE_URL: storage.databaseUrl ?? '',
      GYRE_LOG_LEVEL: process.env.BENCH_GYRE_LOG_LEVEL ?? 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  onStart?.(child.pid!);
  const server = watch(child, `http://127.0.0.1:${port}`);
  const tokenFile = join(storage.dataDir, 'admin-token');
  try {
    await until(
      async () => {
        if (server.hasExited()) throw new Error(`gyre serve exited: ${server.errors()}`);
        return existsSync(tokenFile) && (await caughtUp(server.url));
      },
      startMs,
      'gyre serve to be ready',
    );
  } catch (e) {
    await server.stop();
    throw e;
  }
  const readyMs = performance.now() - spawned;
  return {
    url: server.url,
    pid: server.pid,
    errors: server.errors,
    stop: server.stop,
    pause: server.pause,
    resume: server.resume,
    token: readFileSync(tokenFile, 'utf8').trim(),
    timings: { readyMs },
    caughtUp: () => until(() => caughtUp(server.url), startMs, 'the projections to catch up'),
  };
};

/** Starts the anchor server (anchor-server.ts) on storage of the given kind; resolves once it listens. */
export const startAnchor = async (backend: Backend, storage: Storage): Promise<ServerProcess> => {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'anchor-server.ts'), backend, String(port), storage.databaseUrl ?? join(storage.dataDir, 'pglite')],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const server = watch(child, `http://127.0.0.1:${port}`);
  try {
    await until(
      async () => {
        if (server.hasExited()) throw new Error(`the anchor server exited: ${server.errors()}`);
        return fetch(`${server.url}/ready`).then(
          (r) => r.status === 200,
          () => false,
        );
      },
      startMs,
      'the anchor server to listen',
    );
  } catch (e) {
    await server.stop();
    throw e;
  }
  return { url: server.url, pid: server.pid, errors: server.errors, stop: server.stop, pause: server.pause, resume: server.resume };
};
