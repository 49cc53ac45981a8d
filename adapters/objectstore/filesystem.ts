import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type Dirent, mkdirSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkedKey, checkedPrefix, defaultContentType, type ObjectInfo, type ObjectStore } from './port.ts';

const missing = (e: unknown) => ['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '');

/**
 * Objects as files under a directory, each key its path (the embedded default, `<GYRE_DATA_DIR>/objects`).
 * Beside it, `<dir>.partial` holds writes in progress (renamed into place whole, so a reader never sees
 * half an object) and `<dir>.types` the content types given to `put`.
 */
export const createFileObjectStore = (dir: string): ObjectStore => {
  const partial = `${dir}.partial`;
  const types = `${dir}.types`;
  for (const d of [dir, partial, types]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const pathOf = (key: string) => join(dir, checkedKey(key));

  const info = async (key: string): Promise<ObjectInfo | null> => {
    const path = pathOf(key);
    try {
      const s = await stat(path);
      if (!s.isFile()) return null;
      const contentType = await readFile(join(types, key), 'utf8').catch(() => defaultContentType);
      return { key, size: s.size, contentType };
    } catch (e) {
      if (missing(e)) return null;
      throw e;
    }
  };

  /** Removes the folders a delete left empty, up to the root. */
  const prune = async (root: string, key: string) => {
    for (let d = dirname(join(root, key)); d.startsWith(`${root}/`); d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        return;
      }
    }
  };

  /** Every key under a folder, in byte order (a walk, then a sort: fine for a job's or a project's objects). */
  const walk = async (folder: string, base: string): Promise<string[]> => {
    let entries: Dirent[];
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch (e) {
      if (missing(e)) return [];
      throw e;
    }
    const nested = await Promise.all(
      entries.map((e) => (e.isDirectory() ? walk(join(folder, e.name), `${base}${e.name}/`) : Promise.resolve(e.isFile() ? [`${base}${e.name}`] : []))),
    );
    return nested.flat();
  };
  const keysUnder = async (prefix: string) => {
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    const keys = (await walk(join(dir, folder), folder)).filter((k) => k.startsWith(prefix));
    return keys.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  };

  const remove = async (key: string) => {
    await rm(pathOf(key), { force: true });
    await rm(join(types, key), { force: true });
    await prune(dir, key);
    await prune(types, key);
  };

  return {
    async put(key, body, options = {}) {
      const path = pathOf(key);
      const temp = join(partial, randomUUID());
      try {
        await pipeline(Buffer.isBuffer(body) ? Readable.from([body]) : body, createWriteStream(temp, { mode: 0o600 }));
        await mkdir(dirname(path), { recursive: true, mode: 0o700 });
        const typePath = join(types, key);
        if (options.contentType) {
          await mkdir(dirname(typePath), { recursive: true, mode: 0o700 });
          await writeFile(typePath, options.contentType, { mode: 0o600 });
        } else await rm(typePath, { force: true });
        await rename(temp, path);
      } finally {
        await rm(temp, { force: true });
      }
      return (await info(key))!;
    },
    async get(key, options = {}) {
      const found = await info(key);
      if (!found) return null;
      const range = options.range;
      const end = range ? Math.min(range.end, found.size - 1) : undefined;
      try {
        const body = createReadStream(pathOf(key), range ? { start: range.start, end } : {});
        await new Promise<void>((resolve, reject) => body.once('open', () => resolve()).once('error', reject));
        return { ...found, body };
      } catch (e) {
        if (missing(e)) return null;
        throw e;
      }
    },
    head: (key) => info(key),
    async list(prefix, { after, limit }) {
      const keys = (await keysUnder(checkedPrefix(prefix))).filter((k) => after === undefined || Buffer.compare(Buffer.from(k), Buffer.from(after)) > 0);
      const page = keys.slice(0, limit);
      return { keys: page, next: keys.length > limit ? page[page.length - 1]! : null };
    },
    delete: (key) => remove(key),
    async deleteMany(prefix) {
      const keys = await keysUnder(checkedPrefix(prefix));
      for (const key of keys) await remove(key);
      return keys.length;
    },
  };
};
