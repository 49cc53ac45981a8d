import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync, utimesSync } from 'node:fs';
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
export const defaultGitLimits: GitLimits = { mirrorQuotaBytes: 2048 * 1024 * 1024, mirrorsQuotaBytes: 10240 * 1024 * 1024, fetchConcurrency: 4 };
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 100) / 100;

/**
 * Git through the `git` command: each repository is mirrored once into `<dir>/<hash>.git` and fetched
 * before each read, so a trigger sees the pushed revision. Anything git can clone works, a local
 * path included. A mirror that outgrows `mirrorQuotaBytes` (watched while git fetches) is removed and
 * the read fails; mirrors together stay within `mirrorsQuotaBytes`, the least recently used others
 * removed to make room (a later read fetches them again). At most `fetchConcurrency` fetches run at
 * once, checkouts' included; the others wait their turn. Git follows no HTTP redirect: an allowed
 * host could otherwise send it anywhere on Gyre's network.
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
  const mirrorOf = (url: string) => join(dir, `${createHash('sha256').update(url).digest('hex').slice(0, 24)}.git`);
  /** The mirrors a read or a checkout is using now: never removed to make room. */
  const inUse = new Map<string, number>();
  const using = async <T>(mirror: string, work: () => Promise<T>): Promise<T> => {
    inUse.set(mirror, (inUse.get(mirror) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = (inUse.get(mirror) ?? 1) - 1;
      if (left) inUse.set(mirror, left);
      else inUse.delete(mirror);
    }
  };
  /** Each mirror's size as last measured (measured once from the disk, then kept as fetches change it). */
  let measured: Promise<Map<string, number>> | null = null;
  const mirrorSizes = () => {
    measured ??= readdir(dir).then(
      async (names) =>
        new Map(await Promise.all(names.filter((n) => n.endsWith('.git')).map(async (n) => [join(dir, n), await sizeOf(join(dir, n))] as const))),
      () => new Map<string, number>(),
    );
    return measured;
  };
  /** Marks a mirror used now: the least recently used are removed first. */
  const touch = (mirror: string) => {
    try {
      utimesSync(mirror, new Date(), new Date());
    } catch {
      // removed meanwhile: nothing to mark
    }
  };
  const lastUsed = (mirror: string) => {
    try {
      return statSync(mirror).mtimeMs;
    } catch {
      return 0;
    }
  };
  /** Whether `mirror` at `size` bytes fits the mirrors' quota, once the least recently used idle others are removed. */
  const fits = async (mirror: string, size: number): Promise<boolean> => {
    const sizes = await mirrorSizes();
    sizes.set(mirror, size);
    let total = [...sizes.values()].reduce((a, b) => a + b, 0);
    if (total <= limits.mirrorsQuotaBytes) return true;
    const idle = [...sizes.keys()].filter((m) => m !== mirror && !inUse.has(m)).sort((a, b) => lastUsed(a) - lastUsed(b));
    for (const other of idle) {
      if (total <= limits.mirrorsQuotaBytes) break;
      rmSync(other, { recursive: true, force: true });
      total -= sizes.get(other) ?? 0;
      sizes.delete(other);
    }
    return total <= limits.mirrorsQuotaBytes;
  };
  const tooLarge = (what: 'mirror' | 'checkout') =>
    new GitError(
      `the repository is larger than the mirror quota of ${mb(limits.mirrorQuotaBytes)} MB (GYRE_GIT_MIRROR_QUOTA_MB): its ${what} was removed; an admin may raise the quota`,
      'too-large',
    );
  const mirrorsFull = () =>
    new GitError(
      `the repositories' mirrors would take more than their quota of ${mb(limits.mirrorsQuotaBytes)} MB together (GYRE_GIT_MIRRORS_QUOTA_MB), even with the mirrors not in use removed: this one was removed; an admin may raise the quota`,
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
  /**
   * Git in `path`, stopped once `over` says what `path` has grown to is too much (asked as git
   * writes, and once after): then answers what `over` said, else null.
   */
  const watched = async <O>(path: string, over: (size: number) => Promise<O | null>, ...args: string[]): Promise<O | null> => {
    const abort = new AbortController();
    let said: O | null = null;
    let measuring = false;
    const watch = setInterval(() => {
      if (measuring || said !== null) return;
      measuring = true;
      void sizeOf(path)
        .then(over)
        .then(
          (o) => {
            measuring = false;
            if (o !== null && said === null) {
              said = o;
              abort.abort();
            }
          },
          // a mirror that could not be removed to make room is measured again at the next look
          () => {
            measuring = false;
          },
        );
    }, mirrorWatchMs);
    try {
      await gitIn(path, abort.signal, ...args);
      said ??= await over(await sizeOf(path));
    } catch (e) {
      if (said === null) throw e;
    } finally {
      clearInterval(watch);
    }
    return said;
  };
  /** A fetch into `mirror`, stopped (and the mirror removed) once it outgrows its quota or the mirrors' quota. */
  const fetchInto = async (mirror: string, ...args: string[]) => {
    let over: GitError | null;
    try {
      over = await watched(
        mirror,
        async (size) => (size > limits.mirrorQuotaBytes ? tooLarge('mirror') : (await fits(mirror, size)) ? null : mirrorsFull()),
        'fetch',
        ...args,
      );
    } finally {
      (await mirrorSizes()).set(mirror, await sizeOf(mirror));
    }
    if (over) {
      rmSync(mirror, { recursive: true, force: true });
      (await mirrorSizes()).delete(mirror);
      throw over;
    }
  };
  /** Git in a job's checkout, stopped once the checkout outgrows the quota. */
  const inCheckout = async (directory: string, ...args: string[]) => {
    if (await watched(directory, async (size) => (size > limits.mirrorQuotaBytes ? true : null), ...args)) throw tooLarge('checkout');
  };
  const readFrom = async (mirror: string, url: string, ref: Parameters<Git['read']>[1], options: { maxConfigBytes?: number }): Promise<Checkout> => {
    if (!existsSync(mirror)) await git(undefined, 'init', '--bare', '--quiet', mirror);
    else touch(mirror);
    // branches and tags, and only the one pull request's ref asked for: GitHub keeps one for every pull request ever opened
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
  };
  return {
    read: (url, ref, options = {}) =>
      serial(url, async (): Promise<Checkout> => {
        const mirror = mirrorOf(url);
        return using(mirror, () => readFrom(mirror, url, ref, options));
      }),
    async checkout(url, revision, directory, options = {}) {
      const pull =
        options.pullRequest == null ? [] : [`+refs/pull/${Math.trunc(options.pullRequest)}/head:refs/remotes/origin/pull/${Math.trunc(options.pullRequest)}`];
      const refs = ['+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*', ...pull];
      const start = async () => {
        rmSync(directory, { recursive: true, force: true });
        mkdirSync(directory, { recursive: true });
        await git(directory, 'init', '--quiet');
        // a checkout as CircleCI makes it: with its origin, so a job's git push and git remote work
        await git(directory, 'remote', 'add', 'origin', url);
      };
      try {
        await start();
        // from this server's mirror when it has the revision (the read that started the pipeline fetched it): one fetch over the network, not two
        const mirror = mirrorOf(url);
        const fromMirror =
          existsSync(mirror) &&
          (await using(mirror, () =>
            limited(async () => {
              touch(mirror);
              await inCheckout(directory, 'fetch', '--quiet', '--', mirror, ...refs);
              await git(directory, 'rev-parse', '--verify', '--quiet', `${revision}^{commit}`);
            }),
          ).then(
            () => true,
            (e: unknown) => {
              if (e instanceof GitError && e.reason === 'too-large') throw e;
              return false;
            },
          ));
        if (!fromMirror) {
          await start();
          await limited(() => inCheckout(directory, 'fetch', '--quiet', 'origin', ...refs));
        }
        await inCheckout(directory, 'checkout', '--quiet', '--detach', revision);
      } catch (e) {
        rmSync(directory, { recursive: true, force: true });
        throw e;
      }
    },
  };
};
