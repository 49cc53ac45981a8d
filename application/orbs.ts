import { describeProblem } from '../domain/config/problems.ts';
import { ValidationError, parseInput } from '../domain/errors.ts';
import type { CommandContext } from '../domain/events/envelope.ts';
import { OrbName, orbDecider, orbStream, orbTarget } from '../domain/orbs/orb.ts';
import { pickVersion, type OrbRef } from '../domain/orbs/orb-ref.ts';
import { checkOrbSource } from '../domain/orbs/orb-source.ts';
import type { ResolvedOrb } from '../domain/config/process.ts';
import { orbVersions } from '../projections/orbs.ts';
import type { Reads, UseCases } from './dependencies.ts';
import { executeAndWait } from './execute-and-wait.ts';

/** Publishes one orb version: semver-checked, and immutable once published. */
export const publishOrb = async (s: UseCases, context: CommandContext, input: { namespace: unknown; orb: unknown; version: unknown; source: unknown }) => {
  const namespace = parseInput(OrbName, input.namespace, 'namespace');
  const orb = parseInput(OrbName, input.orb, 'orb name');
  if (typeof input.version !== 'string') throw new ValidationError('invalid version: must be a string such as 1.0.0');
  if (typeof input.source !== 'string' || input.source.length > 1_000_000) throw new ValidationError('invalid orb source: must be YAML text of at most 1 MB');
  const problems = checkOrbSource(input.source, `${namespace}/${orb}@${input.version}`);
  if (problems.length) throw new ValidationError(`invalid orb source: ${problems.map(describeProblem).join('; ')}`);
  await executeAndWait(s, {
    stream: orbStream(namespace, orb),
    decider: orbDecider,
    command: { type: 'publish', namespace, orb, version: input.version, source: input.source },
    context,
    target: orbTarget(namespace, orb, input.version),
  });
  return { namespace, orb, version: input.version };
};

/**
 * A synchronous resolver for config processing over the registry: processing asks, and a miss is
 * served an empty orb so that one pass finds every orb the config names; the misses are loaded, and
 * processing runs again until every orb (orbs importing orbs too) is loaded. A pass that missed is
 * thrown away.
 */
export const withOrbs = async <T>(s: Reads, run: (resolve: (ref: OrbRef) => ResolvedOrb | { error: string }) => T): Promise<T> => {
  const loaded = new Map<string, Map<string, string>>();
  for (let round = 0; ; round++) {
    const wanted = new Set<string>();
    const result = run((ref) => {
      const key = `${ref.namespace}/${ref.name}`;
      const versions = loaded.get(key);
      if (!versions) {
        wanted.add(key);
        return { resolved: `${key}@loading`, source: 'version: 2.1\n' };
      }
      const version = pickVersion([...versions.keys()], ref.version);
      if (!version) {
        const known = [...versions.keys()];
        return {
          error: `orb ${key}@${ref.version} is not in Gyre's orb registry${known.length ? ` (published: ${known.join(', ')})` : ''}: publish it with publishOrb`,
        };
      }
      return { resolved: `${key}@${version}`, source: versions.get(version)! };
    });
    if (wanted.size === 0 || round > 12) return result;
    for (const key of wanted) {
      const [namespace, name] = key.split('/') as [string, string];
      loaded.set(key, await orbVersions(s.db, namespace, name));
    }
  }
};
