import type { ResolvedOrb, ResolveOrb } from '../config/process.ts';
import { pickVersion } from './orb-ref.ts';

/** Orbs loaded from the registry, by `namespace/name`: each published version's source. Plain data, so a worker thread can be sent it. */
export type LoadedOrbs = Readonly<Record<string, Readonly<Record<string, string>>>>;

/**
 * Runs `work` with a synchronous resolver over the orbs loaded so far: a miss is served an empty orb
 * so that one pass finds every orb the config names, and comes back in `wanted`. A pass that wanted
 * any is to be thrown away and run again once they are loaded.
 */
export const resolvingOrbs = <T>(loaded: LoadedOrbs, work: (resolve: ResolveOrb) => T): { result: T; wanted: string[] } => {
  const wanted = new Set<string>();
  const result = work((ref): ResolvedOrb | { error: string } => {
    const key = `${ref.namespace}/${ref.name}`;
    const versions = loaded[key];
    if (!versions) {
      wanted.add(key);
      return { resolved: `${key}@loading`, source: 'version: 2.1\n' };
    }
    const known = Object.keys(versions);
    const version = pickVersion(known, ref.version);
    if (!version)
      return {
        error: `orb ${key}@${ref.version} is not in Gyre's orb registry${known.length ? ` (published: ${known.join(', ')})` : ''}: publish it with publishOrb`,
      };
    return { resolved: `${key}@${version}`, source: versions[version]! };
  });
  return { result, wanted: [...wanted] };
};
