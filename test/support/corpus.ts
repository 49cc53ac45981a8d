import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Where the shared corpus is: GYRE_CORPUS_DIR, else `../shared/corpus` beside the repository (the
 * workplace layout), else /work/shared/corpus (a clone made elsewhere on this machine).
 */
export const corpusDir = (): string => {
  const root = resolve(import.meta.dirname, '..', '..');
  const candidates = [process.env.GYRE_CORPUS_DIR, join(root, '..', 'shared', 'corpus'), '/work/shared/corpus'].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => existsSync(join(c, 'circleci')) && existsSync(join(c, 'orbs')));
  if (!found) throw new Error(`the corpus is not at any of ${candidates.join(', ')}: set GYRE_CORPUS_DIR`);
  return found;
};
