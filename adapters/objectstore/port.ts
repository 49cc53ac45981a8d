import type { Readable } from 'node:stream';
import { ValidationError } from '../../domain/errors.ts';

/**
 * Objects under keys: artifacts, job output, caches, workspaces. Every adapter passes the suite in
 * `contract.ts`. Keys are plain relative paths (`project/<id>/jobs/<n>/artifacts/site/a.html`), kept
 * as they are in the bucket or under the directory, so an operator can read the store with `ls` or
 * `aws s3 ls`. A key is never also the folder of another key (`a` and `a/b`): a filesystem cannot
 * hold both.
 */
export interface ObjectStore {
  /** Stores the body under the key, replacing what was there; a reader sees the old object or the whole new one. Streams: a body is never held whole in memory. */
  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<ObjectInfo>;
  /** The object, or a byte range of it; null when there is no such key. */
  get(key: string, options?: GetOptions): Promise<ObjectRead | null>;
  head(key: string): Promise<ObjectInfo | null>;
  /** Keys that start with the prefix, in byte order, after `after`; `next` is the `after` of the following page, null at the end. */
  list(prefix: string, options: ListOptions): Promise<ObjectPage>;
  /** Removes the key; a missing key is no error. */
  delete(key: string): Promise<void>;
  /** Removes every key that starts with the prefix; answers how many went. */
  deleteMany(prefix: string): Promise<number>;
}

export interface PutOptions {
  readonly contentType?: string;
}

export interface GetOptions {
  /** Bytes start..end, both included (as HTTP's Range); an end past the object stops at its last byte. */
  readonly range?: { readonly start: number; readonly end: number };
}

export interface ObjectInfo {
  readonly key: string;
  /** The whole object's size in bytes. */
  readonly size: number;
  /** As given to `put`; `application/octet-stream` when none was. */
  readonly contentType: string;
}

export interface ObjectRead extends ObjectInfo {
  /** The object's bytes, or the range's: `range.end - range.start + 1` of them at most. */
  readonly body: Readable;
}

export interface ListOptions {
  readonly after?: string;
  readonly limit: number;
}

export interface ObjectPage {
  readonly keys: ReadonlyArray<string>;
  readonly next: string | null;
}

export const defaultContentType = 'application/octet-stream';

/** A key the store refuses: it would not be a plain relative path. */
export class ObjectKeyError extends ValidationError {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(
      `object key ${JSON.stringify(key.slice(0, 200))} is refused: ${reason}; use a relative path of plain segments such as project/<id>/jobs/<n>/artifacts/a.html`,
    );
  }
}

/** A prefix may end in `/` or be empty (every key); a key may not. */
export const checkedPrefix = (prefix: string): string => {
  if (prefix === '') return prefix;
  checkedKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  return prefix;
};

export const checkedKey = (key: string): string => {
  if (typeof key !== 'string' || key.length === 0) throw new ObjectKeyError(String(key), 'it is empty');
  if (Buffer.byteLength(key) > 900) throw new ObjectKeyError(key, 'it is longer than 900 bytes');
  if (key.includes('\0')) throw new ObjectKeyError(key, 'it holds a NUL character');
  if (key.includes('\\')) throw new ObjectKeyError(key, 'it holds a backslash');
  if (key.startsWith('/')) throw new ObjectKeyError(key, 'it starts with /');
  for (const segment of key.split('/')) {
    if (segment === '') throw new ObjectKeyError(key, 'it has an empty segment (// or a trailing /)');
    if (segment === '.' || segment === '..') throw new ObjectKeyError(key, `it has a ${segment} segment`);
  }
  return key;
};
