import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from '../support/ports.ts';

const root = resolve(import.meta.dirname, '../..');

export interface GyreProcess {
  readonly url: string;
  /** The admin's API token, from the data directory (written on the first start). */
  readonly token: string;
  /** Resolves with the exit code, or the signal's name, once the process has ended. */
  readonly exited: Promise<number | string>;
  running(): boolean;
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, then the exit. */
  stop(): Promise<number | string>;
}

export interface GyreOptions {
  readonly dataDir: string;
  /** Unset: embedded PGlite in the data directory. */
  readonly databaseUrl?: string;
  /** Kept across restarts, so that clients find the same address. */
  readonly port?: number;
  readonly readyWithinMs?: number;
  /** More of its environment (the VM service's endpoint and agent command, …). */
  readonly env?: Readonly<Record<string, string>>;
}

let built = false;
/** Builds dist/ if a source changed (scripts/setup.mjs), once, before the first start: a build is no part of a start's time. */
const ensureBuilt = () => {
  if (built) return;
  execFileSync(process.execPath, [join(root, 'scripts', 'setup.mjs')], { cwd: root, stdio: 'inherit', timeout: 600_000 });
  built = true;
};

/**
 * `gyre serve` as a child process, as an operator starts it (bin/gyre.mjs, the compiled build), without
 * the local agent: resolves once `/readyz` answers 200 and the admin token is on disk.
 */
export const startGyre = async (options: GyreOptions): Promise<GyreProcess> => {
  ensureBuilt();
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, [join(root, 'bin', 'gyre.mjs'), 'serve'], {
    cwd: root,
    env: {
      ...process.env,
      GYRE_DATA_DIR: options.dataDir,
      GYRE_DATABASE_URL: options.databaseUrl ?? '',
      GYRE_PORT: String(port),
      GYRE_LOCAL_AGENT: 'false',
      GYRE_LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (d: Buffer) => (tail = (tail + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let ended: number | string | undefined;
  const exited = new Promise<number | string>((r) => child.on('exit', (code, signal) => r((ended = code ?? signal ?? 'unknown'))));
  const url = `http://127.0.0.1:${port}`;
  const tokenFile = join(options.dataDir, 'admin-token');
  const deadline = Date.now() + (options.readyWithinMs ?? 90_000);
  for (;;) {
    if (ended !== undefined) throw new Error(`gyre exited (${ended}) before it was ready:\n${tail}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gyre was not ready within ${options.readyWithinMs ?? 90_000} ms:\n${tail}`);
    }
    const ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready && existsSync(tokenFile)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    token: readFileSync(tokenFile, 'utf8').trim(),
    exited,
    running: () => ended === undefined,
    kill: (signal) => void child.kill(signal),
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
};

export interface Readiness {
  readonly status: number;
  readonly body: { status?: string; reason?: string; projections?: Array<{ name: string; caughtUp: boolean }> } | null;
}

export const readiness = async (url: string): Promise<Readiness> => {
  const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: (await r.json().catch(() => null)) as Readiness['body'] };
};

/** Polls `/readyz` until `until` holds of its answer; throws with the last answer when the deadline passes. */
export const waitForReadiness = async (url: string, until: (r: Readiness) => boolean, withinMs: number): Promise<Readiness> => {
  const deadline = Date.now() + withinMs;
  let last: Readiness | string = 'no answer';
  while (Date.now() < deadline) {
    try {
      const r = await readiness(url);
      if (until(r)) return r;
      last = r;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`/readyz did not reach the expected state within ${withinMs} ms; last answer: ${JSON.stringify(last)}`);
};

/** Every read model has reached the log's end (and nothing appends any more): what the read models hold is final. */
export const caughtUp = (r: Readiness) => r.status === 200 && (r.body?.projections ?? []).length > 0 && r.body!.projections!.every((p) => p.caughtUp);
