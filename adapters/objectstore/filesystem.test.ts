import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectStoreContract } from './contract.ts';
import { createFileObjectStore } from './filesystem.ts';

let root = '';
objectStoreContract(
  'filesystem',
  async () => {
    root = mkdtempSync(join(tmpdir(), 'gyre-objects-'));
    const dir = join(root, 'objects');
    return {
      store: createFileObjectStore(dir),
      stored: async (key) => {
        try {
          return readFileSync(join(dir, key));
        } catch {
          return null;
        }
      },
    };
  },
  async () => rmSync(root, { recursive: true, force: true }),
).run();
