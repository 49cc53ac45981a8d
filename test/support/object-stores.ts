import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/** Where a test Gyre keeps its objects: its data directory, or a bucket of an s3rver on 127.0.0.1. */
export interface TestObjectStore {
  readonly name: string;
  /** The environment that points Gyre at it. */
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

export const filesystemStore = async (): Promise<TestObjectStore> => ({ name: 'filesystem', env: {}, stop: async () => undefined });

/** s3rver, reached through the SDK's default credential chain as in production. */
export const s3rverStore = async (): Promise<TestObjectStore> => {
  const root = mkdtempSync(join(tmpdir(), 'gyre-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: root, configureBuckets: [{ name: 'gyre' }] });
  const { port } = await server.run();
  const saved = { ...process.env };
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' });
  return {
    name: 's3rver',
    env: { GYRE_OBJECT_STORE_URL: 's3://gyre/ci', GYRE_S3_ENDPOINT: `http://127.0.0.1:${port}`, GYRE_S3_FORCE_PATH_STYLE: 'true' },
    async stop() {
      await server.close();
      process.env = saved;
      rmSync(root, { recursive: true, force: true });
    },
  };
};
