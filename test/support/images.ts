import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { pack, type Headers } from 'tar-fs';

/**
 * Test images without a registry: a root filesystem of Debian's static busybox (one symlink per
 * applet in /bin, /tmp, /root, /etc/passwd with root) imported through the Engine API, then tagged
 * under each name asked for. A name that already exists is left as it is.
 */
export const ensureTestImage = async (
  docker: Dockerode,
  tags: ReadonlyArray<string>,
  options: { cmd?: ReadonlyArray<string>; user?: string } = {},
): Promise<void> => {
  const missing: string[] = [];
  for (const tag of tags) if (!(await exists(docker, tag))) missing.push(tag);
  if (missing.length === 0) return;
  const [first, ...rest] = missing as [string, ...string[]];
  const root = busyboxRoot();
  try {
    const { repo, tag } = splitTag(first);
    const changes = [`CMD ${JSON.stringify(options.cmd ?? ['sh'])}`, ...(options.user ? [`USER ${options.user}`] : [])];
    // umask 0 keeps /tmp's 1777 (tar-fs masks modes with the process umask otherwise; its types lack the option)
    const packing = { umask: 0, map: (h: Headers) => ({ ...h, uid: 0, gid: 0, uname: 'root', gname: 'root' }) };
    const tar = Readable.from(pack(root, packing));
    const stream: NodeJS.ReadableStream = await docker.importImage(tar, { repo, tag, changes });
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null, out: Array<{ error?: string }>) => {
        const failed = err ?? out.find((o) => o.error);
        if (failed) reject(new Error(`importing the test image ${first} failed: ${err?.message ?? (failed as { error: string }).error}`));
        else resolve();
      }),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  for (const name of rest) await docker.getImage(first).tag(splitTag(name));
};

/** The service image for tests: answers `ready` to every connection on port 5432, like a database that is up. */
export const ensureServiceImage = (docker: Dockerode, tags: ReadonlyArray<string>) =>
  ensureTestImage(docker, tags, { cmd: ['nc', '-ll', '-p', '5432', '-e', '/bin/echo', 'ready'] });

const exists = (docker: Dockerode, name: string) =>
  docker
    .getImage(name)
    .inspect()
    .then(
      () => true,
      (e: { statusCode?: number }) => {
        if (e.statusCode === 404) return false;
        throw e;
      },
    );

/** `registry:5000/a/b:tag` → repo `registry:5000/a/b`, tag `tag` (a colon before the last slash is a port). */
const splitTag = (name: string) => {
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? { repo: name.slice(0, colon), tag: name.slice(colon + 1) } : { repo: name, tag: 'latest' };
};

const busyboxRoot = (): string => {
  // Debian's busybox-static: the image has no libraries, so only a static busybox works in it
  const busybox = '/bin/busybox';
  const root = mkdtempSync(join(tmpdir(), 'gyre-busybox-root-'));
  chmodSync(root, 0o755);
  for (const dir of ['bin', 'tmp', 'root', 'etc']) mkdirSync(join(root, dir));
  chmodSync(join(root, 'tmp'), 0o1777);
  copyFileSync(busybox, join(root, 'bin', 'busybox'));
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => a && a !== 'busybox');
  for (const applet of applets) symlinkSync('busybox', join(root, 'bin', applet));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\n');
  return root;
};
