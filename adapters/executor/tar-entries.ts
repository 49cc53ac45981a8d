import { once } from 'node:events';
import { posix } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tarStream, { type Header, type Pack } from 'tar-stream';

/**
 * Tar archives read and written as they stream, never whole: what the executors and the file steps
 * use to rename, leave out or re-own entries on their way through.
 */

/** An entry's header as written: its name, and what else it sets. */
export type TarHeader = Partial<Header> & Pick<Header, 'name'>;
export type { Header as TarEntry, Pack as TarPack };

/** An entry's name without `./` before it or `/` after it (directories carry one). */
export const entryName = (header: Pick<Header, 'name'>): string => header.name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');

/**
 * Calls `visit` for each entry of `tar` in order, with its body; what `visit` leaves unread is
 * skipped. Rejects with the error of the archive, or of `visit`.
 */
export const forEachEntry = async (tar: Readable, visit: (header: Header, body: AsyncIterable<Buffer>) => Promise<void> | void): Promise<void> => {
  const extract = tarStream.extract();
  const reading = pipeline(tar, extract);
  // its error ends the loop below too; it is awaited after
  reading.catch(() => undefined);
  for await (const entry of extract) {
    await visit(entry.header, entry as AsyncIterable<Buffer>);
    entry.resume();
  }
  await reading;
};

/**
 * A check of entries in archive order for one that would be written through a symlink the archive
 * made earlier (`x -> /etc`, then `x/passwd`): the answer names the symlink, null when the entry is
 * safe. An entry at a symlink's own name replaces the symlink.
 */
export const symlinkCrossing = (): ((header: Pick<Header, 'name' | 'type' | 'linkname'>) => string | null) => {
  const symlinks = new Set<string>();
  const crossed = (name: string) => {
    const segments = posix.normalize(name).split('/');
    for (let i = 1; i < segments.length; i++) {
      const above = segments.slice(0, i).join('/');
      if (symlinks.has(above)) return above;
    }
    return null;
  };
  return (header) => {
    const name = posix.normalize(entryName(header));
    const through = crossed(name) ?? (header.type === 'link' && header.linkname ? crossed(entryName({ name: header.linkname })) : null);
    if (through) return `${name} lies beyond the symlink ${through} of the same archive`;
    if (header.type === 'symlink') symlinks.add(name);
    else symlinks.delete(name);
    return null;
  };
};

/** Writes one entry into `into`, its body streamed. */
export const writeEntry = async (into: Pack, header: TarHeader, body: AsyncIterable<Buffer> | Iterable<Buffer> | null): Promise<void> => {
  let settle!: { resolve: () => void; reject: (e: Error) => void };
  const written = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  // when the body fails first, its error is the one thrown and the entry's is its echo, never awaited
  written.catch(() => undefined);
  const sink = into.entry(header, (err) => (err ? settle.reject(err) : settle.resolve()));
  if (body) for await (const chunk of body) if (!sink.write(chunk)) await once(sink, 'drain');
  sink.end(undefined);
  await written;
};

/**
 * Copies the entries of `tar` into `into` as `change` says: a new header, or null to leave the entry
 * out. Names longer than ustar holds are written as pax again (the original pax names are dropped, so
 * a rename holds).
 */
export const copyEntries = (tar: Readable, into: Pack, change: (header: Header) => TarHeader | null): Promise<void> =>
  forEachEntry(tar, async (header, body) => {
    const changed = change(header);
    if (!changed) return;
    const { pax: _pax, ...plain } = changed;
    await writeEntry(into, plain, plain.type === 'file' || plain.type === 'contiguous-file' ? body : null);
  });

/**
 * The entries of `tar` split into tars of their own as `route` says (the tar to go to and the header
 * to write, or null to leave the entry out), all written in the one reading: each is consumed beside
 * the others, and when one is closed early the reading fails, and the others with it.
 */
export const splitEntries = <K extends string>(
  tar: Readable,
  into: ReadonlyArray<K>,
  route: (header: Header) => { to: K; header: TarHeader } | null,
): Record<K, { tar: Readable; written: Promise<void> }> => {
  const packs = new Map<K, Pack>();
  let reading: Promise<void> | undefined;
  const read = () =>
    (reading ??= forEachEntry(tar, async (header, body) => {
      const routed = route(header);
      if (!routed) return;
      const { pax: _pax, ...plain } = routed.header;
      await writeEntry(packs.get(routed.to)!, plain, plain.type === 'file' || plain.type === 'contiguous-file' ? body : null);
    }));
  const made = into.map(
    (k) =>
      [
        k,
        writeTar((pack) => {
          packs.set(k, pack);
          return Promise.resolve().then(read);
        }),
      ] as const,
  );
  return Object.fromEntries(made) as Record<K, { tar: Readable; written: Promise<void> }>;
};

/**
 * A tar `fill` writes, as a stream (gzipped when asked). `written` settles once `fill` has; when it
 * fails, the stream fails with its error, and when the stream is destroyed before its end, `fill`'s
 * next write fails.
 */
export const writeTar = (fill: (pack: Pack) => Promise<void>, options: { gzip?: boolean } = {}): { tar: Readable; written: Promise<void> } => {
  const pack = tarStream.pack();
  const tar = options.gzip ? createGzip() : new PassThrough();
  const written = fill(pack).then(
    () => pack.finalize(),
    (e: unknown) => {
      pack.destroy(e as Error);
      throw e;
    },
  );
  // tar-stream gives a streamx stream: read it as a Node one
  pipeline(Readable.from(pack, { objectMode: false }), tar).catch((e: unknown) => tar.destroy(e as Error));
  tar.once('close', () => {
    if (!tar.readableEnded) pack.destroy(new Error('the archive was closed before its end'));
  });
  return { tar, written };
};

/**
 * Hands a tar being written to `consume` (an upload, an unpacking) and settles once both ends have.
 * When one end fails the other is stopped (the stream destroyed, `signal` aborted), and the error
 * that came first is the one thrown: it is the cause, the other's is its echo.
 */
export const handOver = async <T>(made: { tar: Readable; written: Promise<void> }, consume: (tar: Readable, signal: AbortSignal) => Promise<T>): Promise<T> => {
  const controller = new AbortController();
  let first: { error: unknown } | null = null;
  const fail = (error: unknown) => {
    first ??= { error };
    controller.abort();
    made.tar.destroy();
  };
  const [consumed] = await Promise.allSettled([
    consume(made.tar, controller.signal).catch((e) => {
      fail(e);
      throw e;
    }),
    made.written.catch(fail),
  ]);
  if (first) throw (first as { error: unknown }).error;
  return (consumed as PromiseFulfilledResult<T>).value;
};
