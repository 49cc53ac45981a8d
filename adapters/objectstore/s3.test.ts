import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { objectStoreContract } from './contract.ts';
import { createS3ObjectStore, parseS3Url } from './s3.ts';

let root = '';
let server: S3rver | undefined;
const saved = { ...process.env };
objectStoreContract(
  's3 (s3rver)',
  async () => {
    root = mkdtempSync(join(tmpdir(), 'gyre-s3-'));
    const directory = join(root, 's3rver');
    server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: 'gyre' }] });
    const { port } = await server.run();
    // The SDK's default chain, as in production: s3rver's own credentials, any region.
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
    const location = parseS3Url('s3://gyre/ci/objects');
    const store = createS3ObjectStore({ ...location, endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, spoolDir: join(root, 'spool') });
    return {
      store,
      /** s3rver keeps each object as `<directory>/<bucket>/<key folders>/<name>._S3rver_object`. */
      stored: async (key) => {
        const parts = `${location.prefix}${key}`.split('/');
        const last = parts.pop()!;
        try {
          return readFileSync(join(directory, 'gyre', ...parts, `${last}._S3rver_object`));
        } catch {
          return null;
        }
      },
    };
  },
  async () => {
    await server?.close();
    process.env = saved;
    rmSync(root, { recursive: true, force: true });
  },
).run();
