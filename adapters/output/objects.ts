import { createReadStream, createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ObjectStore } from '../objectstore/port.ts';
import type { OutputKey, OutputSize, OutputStore } from './port.ts';

const uuid = /^[0-9a-f-]{36}$/;
/** Where a sealed step's output lives in the object store. */
export const outputObjectKey = (k: OutputKey) => `jobs/${k.jobId}/output/${k.taskIndex}/${k.stepIndex}.log`;
const jobOutputPrefix = (jobId: string) => `jobs/${jobId}/output/`;

/**
 * Output in the object store: while a step runs its chunks are appended in order to a spool file
 * (`<spoolDir>/<job>/<task>/<step>.log`); when it ends the spool is put into the store as
 * `jobs/<job>/output/<task>/<step>.log` and removed. Reads take the spool while the step is open.
 */
export const createObjectOutputStore = (
  objects: ObjectStore,
  spoolDir: string,
  limitBytes: number,
  /** Where output was kept as files before the object store (`<GYRE_DATA_DIR>/output`): read when the store has no object. */
  legacyDir?: string,
): OutputStore => {
  mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  const sizes = new Map<string, OutputSize>();
  const queues = new Map<string, Promise<unknown>>();
  const serial = <T>(path: string, work: () => Promise<T>): Promise<T> => {
    const next = (queues.get(path) ?? Promise.resolve()).catch(() => undefined).then(work);
    queues.set(path, next);
    void next.finally(() => queues.get(path) === next && queues.delete(path)).catch(() => undefined);
    return next;
  };
  const checked = (k: OutputKey) => {
    if (!uuid.test(k.jobId) || !Number.isInteger(k.taskIndex) || !Number.isInteger(k.stepIndex)) throw new Error('not an output key');
    return join(spoolDir, k.jobId, String(k.taskIndex), `${k.stepIndex}.log`);
  };
  /** After a restart (or a seal) the size comes from the spool or the object: one that reached the limit was cut. */
  const sizeOf = async (k: OutputKey, spool: string): Promise<OutputSize> => {
    const known = sizes.get(spool);
    if (known) return known;
    const bytes = existsSync(spool) ? (await stat(spool)).size : ((await objects.head(outputObjectKey(k)))?.size ?? 0);
    return { bytes, truncated: bytes >= limitBytes };
  };
  /** Output arriving for a sealed step (a resent report) reopens it: its object comes back into the spool. */
  const reopen = async (k: OutputKey, spool: string) => {
    if (existsSync(spool)) return;
    const sealed = await objects.get(outputObjectKey(k));
    if (sealed) await pipeline(sealed.body, createWriteStream(spool, { mode: 0o600 }));
  };

  return {
    append: (k, text) => {
      const spool = checked(k);
      return serial(spool, async () => {
        const size = await sizeOf(k, spool);
        if (size.truncated) return { kept: '', offset: size.bytes };
        let kept = text;
        let bytes = Buffer.byteLength(text);
        let truncated = false;
        if (size.bytes + bytes > limitBytes) {
          kept = `${Buffer.from(text)
            .subarray(0, Math.max(0, limitBytes - size.bytes))
            .toString()}\n[output of this step cut at ${Math.round(limitBytes / 1024 / 1024)} MB]\n`;
          bytes = Buffer.byteLength(kept);
          truncated = true;
        }
        mkdirSync(join(spoolDir, k.jobId, String(k.taskIndex)), { recursive: true, mode: 0o700 });
        if (size.bytes > 0) await reopen(k, spool);
        const file = await open(spool, 'a', 0o600);
        try {
          await file.write(kept);
        } finally {
          await file.close();
        }
        sizes.set(spool, { bytes: size.bytes + bytes, truncated });
        return { kept, offset: size.bytes };
      });
    },
    seal: (k) => {
      const spool = checked(k);
      return serial(spool, async () => {
        const size = await sizeOf(k, spool);
        if (existsSync(spool)) {
          await objects.put(outputObjectKey(k), createReadStream(spool), { contentType: 'text/plain; charset=utf-8' });
          await rm(spool, { force: true });
        }
        sizes.delete(spool);
        return size;
      });
    },
    read: async (k) => {
      const spool = checked(k);
      await queues.get(spool);
      try {
        if (existsSync(spool)) return await readFile(spool, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // sealed meanwhile: the object has it
      }
      const sealed = await objects.get(outputObjectKey(k));
      if (!sealed) {
        const legacy = legacyDir && join(legacyDir, k.jobId, String(k.taskIndex), `${k.stepIndex}.log`);
        return legacy && existsSync(legacy) ? readFile(legacy, 'utf8') : null;
      }
      const chunks: Buffer[] = [];
      for await (const c of sealed.body) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    removeJob: async (jobId) => {
      if (!uuid.test(jobId)) throw new Error('not a job id');
      await objects.deleteMany(jobOutputPrefix(jobId));
      await rm(join(spoolDir, jobId), { recursive: true, force: true });
      if (legacyDir) await rm(join(legacyDir, jobId), { recursive: true, force: true });
    },
  };
};
