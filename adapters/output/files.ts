import { existsSync, mkdirSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputKey, OutputSize, OutputStore } from './port.ts';

const pathOf = (dir: string, k: OutputKey) => join(dir, k.jobId, String(k.taskIndex), `${k.stepIndex}.log`);
const uuid = /^[0-9a-f-]{36}$/;

/** Output as files under a directory (`<job>/<task>/<step>.log`), each appended in order and synced when its step ends. */
export const createFileOutputStore = (dir: string, limitBytes: number): OutputStore => {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const sizes = new Map<string, OutputSize>();
  const queues = new Map<string, Promise<unknown>>();
  const serial = <T>(path: string, work: () => Promise<T>): Promise<T> => {
    const next = (queues.get(path) ?? Promise.resolve()).catch(() => undefined).then(work);
    queues.set(path, next);
    void next.finally(() => queues.get(path) === next && queues.delete(path)).catch(() => undefined);
    return next;
  };
  /** After a restart (or a seal) the size comes from the file: one that reached the limit was cut. */
  const sizeOf = async (path: string): Promise<OutputSize> => {
    const known = sizes.get(path);
    if (known) return known;
    const bytes = existsSync(path) ? (await stat(path)).size : 0;
    return { bytes, truncated: bytes >= limitBytes };
  };
  const checked = (k: OutputKey) => {
    if (!uuid.test(k.jobId) || !Number.isInteger(k.taskIndex) || !Number.isInteger(k.stepIndex)) throw new Error('not an output key');
    return pathOf(dir, k);
  };

  return {
    append: (k, text) => {
      const path = checked(k);
      return serial(path, async () => {
        const size = await sizeOf(path);
        if (size.truncated) return { kept: '', offset: size.bytes };
        let kept = text;
        let bytes = Buffer.byteLength(text);
        let truncated = false;
        if (size.bytes + bytes > limitBytes) {
          kept = `${Buffer.from(text).subarray(0, Math.max(0, limitBytes - size.bytes)).toString()}\n[output of this step cut at ${Math.round(limitBytes / 1024 / 1024)} MB]\n`;
          bytes = Buffer.byteLength(kept);
          truncated = true;
        }
        mkdirSync(join(dir, k.jobId, String(k.taskIndex)), { recursive: true, mode: 0o700 });
        const file = await open(path, 'a', 0o600);
        try {
          await file.write(kept);
        } finally {
          await file.close();
        }
        sizes.set(path, { bytes: size.bytes + bytes, truncated });
        return { kept, offset: size.bytes };
      });
    },
    seal: (k) => {
      const path = checked(k);
      return serial(path, async () => {
        const size = await sizeOf(path);
        if (existsSync(path)) {
          const file = await open(path, 'r+');
          try {
            await file.sync();
          } finally {
            await file.close();
          }
        }
        sizes.delete(path);
        return size;
      });
    },
    read: async (k) => {
      const path = checked(k);
      await queues.get(path);
      return existsSync(path) ? readFile(path, 'utf8') : null;
    },
  };
};
