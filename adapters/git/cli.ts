import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GitError, type Checkout, type Git, type GitLimits } from './port.ts';

const run = promisify(execFile);

export { GitError };

/** The bytes a directory's files take, its subdirectories included; a file removed meanwhile counts nothing. */
const sizeOf = async (path: string): Promise<number> => {
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  let total = 0;
  for (const e of entries) {
    const p = join(path, e.name);
    total += e.isDirectory()
      ? await sizeOf(p)
      : await lstat(p).then(
          (st) => st.size,
          () => 0,
        );
  }
  return total;
};

const mirrorWatchMs = 200;
export const defaultGitLimits: GitLimits = { mirrorQuotaBytes: 2048 * 1024 * 1024, fetchConcurrency: 4 };

/**
 * Git through the `git` command: each repository is mirrored once into `<dir>/<hash>.git` and fetched
 * before each read, so a trigger sees the pushed revision. Anything git can clone works, a local
 * path included. A mirror that outgrows `mirrorQuotaBytes` (watched while git fetches) is removed and
 * the read fails; at most `fetchConcurrency` fetches run at once, the others wait their turn. Git
 * follows no HTTP redirect: an allowed host could otherwise send it anywhere on Gyre's network.
 */
export const createGit = (dir: string, limits: GitLimits = defaultGitLimits): Git => {
  mkdirSync(dir, { recursive: true });
  const queue = new Map<string, Promise<unknown>>();
  /** One fetch at a time per repository. */
  const serial = <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const next = (queue.get(key) ?? Promise.resolve()).catch(() => undefined).then(work);
    queue.set(key, next);
    return next;
  };
  let fetching = 0;
  const waiting: Array<() => void> = [];
  /** At most `fetchConcurrency` repositories fetched at once. */
  const limited = async <T>(work: () => Promise<T>): Promise<T> => {
    if (fetching >= limits.fetchConcurrency) await new Promise<void>((resolve) => waiting.push(resolve));
    else fetching++;
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else fetching--;
    }
  };
  const quotaMb = Math.round((limits.mirrorQuotaBytes / 1024 / 1024) * 100) / 100;
  const tooLarge = () =>
    new GitError(
      `the repository is larger than the mirror quota of ${quotaMb} MB (GYRE_GIT_MIRROR_QUOTA_MB): its mirror was removed; an admin may raise the quota`,
      'too-large',
    );
  // git sees none of Gyre's own environment (its master key above all), and gives up after two minutes
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', LANG: 'C' };
  const git = async (cwd: string | undefined, ...args: string[]) => gitIn(cwd, undefined, ...args);
  const gitIn = async (cwd: string | undefined, signal: AbortSignal | undefined, ...args: string[]) => {
    try {
      // a redirect is an error, the first request's too (git follows that one by default)
      return (
        await run('git', ['-c', 'http.followRedirects=false', ...args], {
          cwd,
          maxBuffer: 64 * 1024 * 1024,
          env,
          timeout: 120_000,
          ...(signal ? { signal } : {}),
        })
      ).stdout;
    } catch (e) {
      const stderr =
        String((e as { stderr?: string }).stderr ?? '')
          .trim()
          .split('\n')
          .pop() ?? '';
      const detail = `git ${args[0]} failed: ${stderr.replace(/https?:\/\/[^@\s]+@/g, 'https://…@')}`;
      throw new GitError('could not fetch the repository: check its git URL, and that Gyre may read it (an admin sees what git said)', 'unavailable', detail);
    }
  };
  /** A fetch into `mirror`, stopped (and the mirror removed) once the mirror outgrows the quota. */
  const fetchInto = async (mirror: string, ...args: string[]) => {
    const abort = new AbortController();
    let over = false;
    let measuring = false;
    const watch = setInterval(() => {
      if (measuring) return;
      measuring = true;
      void sizeOf(mirror).then((size) => {
        measuring = false;
        if (size > limits.mirrorQuotaBytes) {
          over = true;
          abort.abort();
        }
      });
    }, mirrorWatchMs);
    try {
      await gitIn(mirror, abort.signal, 'fetch', ...args);
      if ((await sizeOf(mirror)) > limits.mirrorQuotaBytes) over = true;
    } catch (e) {
      if (!over) throw e;
    } finally {
      clearInterval(watch);
    }
    if (over) {
      rmSync(mirror, { recursive: true, force: true });
      throw tooLarge();
    }
  };
  return {
    read: (url, ref, options = {}) =>
      serial(url, async (): Promise<Checkout> => {
        const mirror = join(dir, `${createHash('sha256').update(url).digest('hex').slice(0, 24)}.git`);
        // branches and tags, and only the one pull request's ref asked for: GitHub keeps one for every pull request ever opened
        if (!existsSync(mirror)) await git(undefined, 'init', '--bare', '--quiet', mirror);
        const pull = ref.pullRequest == null ? null : `refs/pull/${Math.trunc(ref.pullRequest)}/head`;
        await limited(async () => {
          await fetchInto(mirror, '--prune', '--quiet', '--', url, '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*');
          if (pull) {
            await fetchInto(mirror, '--quiet', '--', url, `+${pull}:${pull}`).catch((e: unknown) => {
              if (e instanceof GitError && e.reason === 'too-large') throw e;
              throw new GitError(`pull request #${ref.pullRequest} has no ${pull} in the repository`, 'ref-not-found');
            });
          }
        });
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
