/** A real Gyre for the benchmarks that run jobs: wired by createGyre on a fresh bench database. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGyre } from '../api/app.ts';
import { loadConfig } from '../api/config.ts';
import { benchDir, freshDatabase, type Backend } from './support.ts';

/**
 * A whole Gyre on a fresh database of the given kind, its admin bootstrapped, with a GraphQL client
 * (over app.inject, through authentication and the resolvers as an HTTP request would go).
 */
export const benchGyre = async (backend: Backend, env: Record<string, string>) => {
  const db = await freshDatabase(backend);
  mkdirSync(benchDir, { recursive: true });
  const dataDir = mkdtempSync(join(benchDir, 'gyre-'));
  const gyre = await createGyre(loadConfig({ GYRE_DATA_DIR: dataDir, GYRE_LOG_LEVEL: 'silent', GYRE_LOCAL_AGENT: 'false', ...env }), {
    db,
    logger: process.env.BENCH_LOG ? { level: process.env.BENCH_LOG } : false,
  });
  const admin = await gyre.bootstrap();
  if (!admin) throw new Error('bootstrap created no admin on an empty database');
  const gql = async <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const res = await gyre.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.token}` },
      payload: { query, variables },
    });
    const body = res.json() as { data: T; errors?: unknown[] };
    if (body.errors) throw new Error(`GraphQL answered ${JSON.stringify(body.errors)}`);
    return body.data;
  };
  return {
    gyre,
    db,
    gql,
    /** The admin's API token. */
    token: admin.token,
    async stop() {
      await gyre.close();
      await db.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
};

/** A git repository in a temporary directory holding `.circleci/config.yml`, for a project whose gitUrl is a local path. */
export const benchRepo = async (config: string) => {
  mkdirSync(benchDir, { recursive: true });
  const dir = mkdtempSync(join(benchDir, 'repo-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.email=bench@example.com', '-c', 'user.name=Bench', '-c', 'init.defaultBranch=main', ...args], {
      cwd: dir,
      encoding: 'utf8',
    });
  git('init', '--quiet');
  mkdirSync(join(dir, '.circleci'));
  writeFileSync(join(dir, '.circleci', 'config.yml'), config);
  git('add', '-A');
  git('commit', '--quiet', '-m', 'bench');
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
};
