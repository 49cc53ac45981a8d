import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { checkedKey, checkedPrefix, defaultContentType, type ObjectInfo, type ObjectStore } from './port.ts';

export interface S3Location {
  readonly bucket: string;
  /** Put before every key, ending in `/` (or empty). */
  readonly prefix: string;
}

/** `s3://bucket/some/prefix` → the bucket and `some/prefix/`. */
export const parseS3Url = (url: string): S3Location => {
  const u = new URL(url);
  if (u.protocol !== 's3:' || !u.hostname) throw new Error(`${url} is not an s3://bucket/prefix URL`);
  const path = decodeURIComponent(u.pathname).replace(/^\/+|\/+$/g, '');
  return { bucket: u.hostname, prefix: path ? `${checkedKey(path)}/` : '' };
};

export interface S3ObjectStoreOptions extends S3Location {
  /** An S3-compatible endpoint (MinIO, Ceph, s3rver); unset → AWS. */
  readonly endpoint?: string;
  readonly forcePathStyle?: boolean;
  /** Where a body of unknown length is written before its upload (S3 needs the length first). */
  readonly spoolDir: string;
  /** For tests; by default the SDK's chain (environment, profile, instance role) and its region (us-east-1 when none is set). */
  readonly client?: S3Client;
}

/** Passes on bytes start..end (both included) of what flows through it. */
const slice = (start: number, end: number) => {
  let at = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const from = Math.max(0, start - at);
      const to = Math.min(chunk.length, end + 1 - at);
      at += chunk.length;
      done(null, from < to ? chunk.subarray(from, to) : undefined);
    },
  });
};

const notFound = (e: unknown) => e instanceof S3ServiceException && (e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata.httpStatusCode === 404);

/** Objects in a bucket under a prefix, through `@aws-sdk/client-s3`; a key is the object's name after the prefix. */
export const createS3ObjectStore = (options: S3ObjectStoreOptions): ObjectStore => {
  mkdirSync(options.spoolDir, { recursive: true, mode: 0o700 });
  const client =
    options.client ??
    new S3Client({
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      // The default streaming checksums frame the body (aws-chunked); S3-compatible stores that do not
      // know the framing keep the frames as the object's bytes.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  const Bucket = options.bucket;
  const nameOf = (key: string) => `${options.prefix}${checkedKey(key)}`;
  const keyOf = (name: string) => name.slice(options.prefix.length);

  const listNames = async (prefix: string, after: string | undefined, limit: number) => {
    const r = await client.send(
      // ListObjects (v1) pages by marker, which is `after` itself; every S3-compatible store has it.
      new ListObjectsCommand({
        Bucket,
        Prefix: `${options.prefix}${checkedPrefix(prefix)}`,
        MaxKeys: Math.min(limit, 1000),
        ...(after !== undefined ? { Marker: `${options.prefix}${after}` } : {}),
      }),
    );
    const keys = (r.Contents ?? []).map((o) => keyOf(o.Key!));
    return { keys, truncated: r.IsTruncated === true };
  };

  const head = async (key: string): Promise<ObjectInfo | null> => {
    try {
      const r = await client.send(new HeadObjectCommand({ Bucket, Key: nameOf(key) }));
      return { key, size: r.ContentLength ?? 0, contentType: r.ContentType ?? defaultContentType };
    } catch (e) {
      if (notFound(e)) return null;
      throw e;
    }
  };

  return {
    async put(key, body, put = {}) {
      const Key = nameOf(key);
      const ContentType = put.contentType ?? defaultContentType;
      if (Buffer.isBuffer(body)) {
        await client.send(new PutObjectCommand({ Bucket, Key, Body: body, ContentLength: body.length, ContentType }));
        return { key, size: body.length, contentType: ContentType };
      }
      const spool = join(options.spoolDir, randomUUID());
      try {
        await pipeline(body, createWriteStream(spool, { mode: 0o600 }));
        const size = (await stat(spool)).size;
        await client.send(new PutObjectCommand({ Bucket, Key, Body: createReadStream(spool), ContentLength: size, ContentType }));
        return { key, size, contentType: ContentType };
      } finally {
        await rm(spool, { force: true });
      }
    },
    async get(key, get = {}) {
      const range = get.range;
      try {
        const r = await client.send(new GetObjectCommand({ Bucket, Key: nameOf(key), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }));
        const [, from, to, total] = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(r.ContentRange ?? '') ?? [];
        const size = total !== undefined ? Number(total) : (r.ContentLength ?? 0);
        let body = r.Body as Readable;
        // A server may answer a range with more than was asked, the whole object even (HTTP allows it;
        // s3rver does for bytes=0-0): the adapter cuts out the bytes asked for.
        if (range) {
          const at = from !== undefined ? Number(from) : 0;
          const last = to !== undefined ? Number(to) : size - 1;
          if (at !== range.start || last > range.end) body = body.pipe(slice(range.start - at, range.end - at));
        }
        return { key, size, contentType: r.ContentType ?? defaultContentType, body };
      } catch (e) {
        if (notFound(e)) return null;
        throw e;
      }
    },
    head,
    async list(prefix, { after, limit }) {
      const { keys, truncated } = await listNames(prefix, after, limit);
      return { keys, next: truncated || keys.length > limit ? keys[keys.length - 1]! : null };
    },
    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket, Key: nameOf(key) }));
    },
    async deleteMany(prefix) {
      let count = 0;
      for (;;) {
        const { keys } = await listNames(prefix, undefined, 1000);
        if (keys.length === 0) return count;
        const r = await client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.map((k) => ({ Key: nameOf(k) })), Quiet: true } }));
        if (r.Errors?.length)
          throw new Error(
            `deleting under ${prefix} in s3://${Bucket}/${options.prefix} failed for ${r.Errors.length} keys: ${r.Errors[0]!.Code} ${r.Errors[0]!.Message}`,
          );
        count += keys.length;
      }
    },
  };
};
