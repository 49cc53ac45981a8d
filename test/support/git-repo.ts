import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real git repository in a temporary directory, for projects whose gitUrl is a local path. */
export const gitRepo = () => {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-repo-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.email=dev@example.com', '-c', 'user.name=Dev', '-c', 'init.defaultBranch=main', ...args], {
      cwd: dir,
      encoding: 'utf8',
    }).trim();
  git('init', '--quiet');
  return {
    dir,
    git,
    /** Commits `.circleci/config.yml` (and a file to make each commit differ); returns the sha. */
    commit(config: string | null, message = 'change') {
      mkdirSync(join(dir, '.circleci'), { recursive: true });
      if (config === null) rmSync(join(dir, '.circleci', 'config.yml'), { force: true });
      else writeFileSync(join(dir, '.circleci', 'config.yml'), config);
      writeFileSync(join(dir, 'stamp'), `${Date.now()} ${Math.random()}`);
      git('add', '-A');
      git('commit', '--quiet', '-m', message);
      return git('rev-parse', 'HEAD');
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
};
