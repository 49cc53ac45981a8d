import { storageName } from './artifact-paths.ts';

/**
 * The names artifacts arrive under (a tar's entries) as Gyre takes them: an honest agent sends storage
 * names already (see artifact-paths.ts); a name that would leave the job's place in the store is
 * refused, never mended.
 */

/** The storage name of an uploaded artifact, or why it is refused. */
export const uploadedArtifactName = (raw: string): { name: string } | { problem: string } => {
  if (raw.includes('\0')) return { problem: 'its name holds a NUL character' };
  if (raw.startsWith('/') || raw.startsWith('\\') || /^[A-Za-z]:[\\/]/.test(raw)) return { problem: 'its name is absolute: artifact names are relative' };
  if (raw.replace(/\\/g, '/').split('/').includes('..')) return { problem: 'its name climbs out with "..": artifact names stay under the job' };
  const name = storageName(raw);
  return name ? { name } : { problem: 'its name is empty' };
};

/**
 * The names a step's artifacts take, where a name is a file or a folder, never both (`a` and `a/b`):
 * the object store holds no key that is also another key's folder.
 */
export const artifactNameSet = (initial: Iterable<string> = []) => {
  const files = new Set<string>();
  const folders = new Set<string>();
  const ancestors = (name: string) => {
    const parts = name.split('/');
    return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('/'));
  };
  const add = (name: string) => {
    files.add(name);
    for (const a of ancestors(name)) folders.add(a);
  };
  for (const n of initial) add(n);
  return {
    add,
    has: (name: string) => files.has(name),
    /** Why `name` cannot join the set, or null. */
    clash(name: string): string | null {
      if (folders.has(name)) return `another artifact is under ${name}/: a name is a file or a folder, not both`;
      const file = ancestors(name).find((a) => files.has(a));
      return file ? `another artifact is named ${file}: a name is a file or a folder, not both` : null;
    },
  };
};
