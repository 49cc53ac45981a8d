import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GitError, type Checkout, type Git } from './port.ts';

const run = promisify(execFile);

export { GitError };

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
  // git sees none of Gyre's own environment (its master key above all), and gives up after two minutes
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', LANG: 'C' };
  const git = async (cwd: string | undefined, ...args: string[]) => {
    try {
      return (await run('git', args, { cwd, maxBuffer: 64 * 1024 * 1024, env, timeout: 120_000 })).stdout;
    } catch (e) {
      const stderr =
        String((e as { stderr?: string }).stderr ?? '')
          .trim()
          .split('\n')
          .pop() ?? '';
      throw new GitError(`git ${args[0]} failed: ${stderr.replace(/https?:\/\/[^@\s]+@/g, 'https://…@')}`);
    }
  };
  return {
    read: (url, ref, options = {}) =>
      serial(url, async (): Promise<Checkout> => {
        const mirror = join(dir, `${createHash('sha256').update(url).digest('hex').slice(0, 24)}.git`);
        // branches and tags, and only the one pull request's ref asked for: GitHub keeps one for every pull request ever opened
        if (!existsSync(mirror)) await git(undefined, 'init', '--bare', '--quiet', mirror);
        const pull = ref.pullRequest == null ? null : `refs/pull/${Math.trunc(ref.pullRequest)}/head`;
        await git(mirror, 'fetch', '--prune', '--quiet', '--', url, '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*');
        if (pull) {
          await git(mirror, 'fetch', '--quiet', '--', url, `+${pull}:${pull}`).catch(() => {
            throw new GitError(`pull request #${ref.pullRequest} has no ${pull} in the repository`, 'ref-not-found');
          });
        }
        const named = pull ?? (ref.tag ? `refs/tags/${ref.tag}` : `refs/heads/${ref.branch}`);
        const what = pull ? `pull request #${ref.pullRequest}` : ref.tag ? `tag ${ref.tag}` : `branch ${ref.branch}`;
        const head = (
          await git(mirror, 'rev-parse', '--verify', '--quiet', `${named}^{commit}`).catch(() => {
            throw new GitError(`${what} is not in the repository`, 'ref-not-found');
          })
        ).trim();
        let revision = head;
        if (ref.revision) {
          revision = (
            await git(mirror, 'rev-parse', '--verify', '--quiet', `${ref.revision}^{commit}`).catch(() => {
              throw new GitError(`revision ${ref.revision} is not in the repository`, 'ref-not-found');
            })
          ).trim();
          // a revision is built as a branch only if it is on that branch, and as a tag only if it is the tag
          const on = ref.tag
            ? revision === head
            : await git(mirror, 'merge-base', '--is-ancestor', revision, head).then(
                () => true,
                () => false,
              );
          if (!on) throw new GitError(`revision ${ref.revision} is not on ${what}`, 'ref-not-found');
        }
        const log = await git(mirror, 'log', '-1', '--format=%s%x00%b', revision);
        const [subject, body] = log.split('\0');
        const read = { revision, subject: (subject ?? '').trim(), body: (body ?? '').trim() };
        const blob = `${revision}:.circleci/config.yml`;
        const size = await git(mirror, 'cat-file', '-s', blob).then(Number, () => null);
        if (size === null) return { ...read, config: null };
        if (options.maxConfigBytes !== undefined && size > options.maxConfigBytes) return { ...read, config: null, configTooLarge: size };
        return { ...read, config: await git(mirror, 'show', blob) };
      }),
    async checkout(url, revision, directory, options = {}) {
      mkdirSync(directory, { recursive: true });
      await git(directory, 'init', '--quiet');
      // a checkout as CircleCI makes it: with its origin, so a job's git push and git remote work
      await git(directory, 'remote', 'add', 'origin', url);
      const pull =
        options.pullRequest == null ? [] : [`+refs/pull/${Math.trunc(options.pullRequest)}/head:refs/remotes/origin/pull/${Math.trunc(options.pullRequest)}`];
      await git(directory, 'fetch', '--quiet', 'origin', '+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*', ...pull);
      await git(directory, 'checkout', '--quiet', '--detach', revision);
    },
  };
};
