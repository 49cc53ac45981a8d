import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GyreError } from '../../domain/errors.ts';
import type { Checkout, Git } from './port.ts';

const run = promisify(execFile);

/** The repository could not be read (gone, no such branch, no access): the pipeline cannot start. */
export class GitError extends GyreError {
  constructor(message: string) {
    super(message, 'GIT_FAILED', 422);
  }
}

/**
 * Git through the `git` command: each repository is mirrored once into `<dir>/<hash>.git` and fetched
 * before each read, so a trigger sees the pushed revision. Anything git can clone works, a local
 * path included.
 */
export const createGit = (dir: string): Git => {
  mkdirSync(dir, { recursive: true });
  const queue = new Map<string, Promise<unknown>>();
  /** One fetch at a time per repository. */
  const serial = <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const next = (queue.get(key) ?? Promise.resolve()).catch(() => undefined).then(work);
    queue.set(key, next);
    return next;
  };
  const git = async (cwd: string | undefined, ...args: string[]) => {
    try {
      return (await run('git', args, { cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } })).stdout;
    } catch (e) {
      const stderr = String((e as { stderr?: string }).stderr ?? '').trim().split('\n').pop() ?? '';
      throw new GitError(`git ${args[0]} failed: ${stderr.replace(/https?:\/\/[^@\s]+@/g, 'https://…@')}`);
    }
  };
  return {
    read: (url, ref) =>
      serial(url, async (): Promise<Checkout> => {
        const mirror = join(dir, `${createHash('sha256').update(url).digest('hex').slice(0, 24)}.git`);
        if (!existsSync(mirror)) await git(undefined, 'clone', '--mirror', '--quiet', '--', url, mirror);
        else await git(mirror, 'fetch', '--prune', '--quiet', 'origin', '+refs/*:refs/*');
        const spec = ref.revision ?? (ref.tag ? `refs/tags/${ref.tag}` : `refs/heads/${ref.branch}`);
        const revision = (await git(mirror, 'rev-parse', '--verify', '--quiet', `${spec}^{commit}`).catch(() => {
          throw new GitError(`${ref.tag ? `tag ${ref.tag}` : ref.revision ? `revision ${ref.revision}` : `branch ${ref.branch}`} is not in the repository`);
        })).trim();
        const config = await git(mirror, 'show', `${revision}:.circleci/config.yml`).catch(() => null);
        const log = await git(mirror, 'log', '-1', '--format=%s%x00%b', revision);
        const [subject, body] = log.split('\0');
        return { revision, config, subject: (subject ?? '').trim(), body: (body ?? '').trim() };
      }),
  };
};
