import { describeProblem } from '../domain/config/problems.ts';
import { ValidationError, parseInput } from '../domain/errors.ts';
import type { CommandContext } from '../domain/events/envelope.ts';
import { OrbName, orbDecider, orbStream, orbTarget } from '../domain/orbs/orb.ts';
import type { LoadedOrbs } from '../domain/orbs/loaded-orbs.ts';
import { checkOrbSource } from '../domain/orbs/orb-source.ts';
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
 * Runs `pass` over the orbs loaded so far until it wants none more: each pass names the orbs it
 * missed (orbs importing orbs too), and they are loaded from the registry for the next.
 */
export const withOrbs = async <T>(
  s: Reads,
  pass: (loaded: LoadedOrbs) => { result: T; wanted: ReadonlyArray<string> } | Promise<{ result: T; wanted: ReadonlyArray<string> }>,
): Promise<T> => {
  const loaded: Record<string, Record<string, string>> = {};
  for (let round = 0; ; round++) {
    const { result, wanted } = await pass(loaded);
    if (wanted.length === 0 || round > 12) return result;
    for (const key of wanted) {
      const [namespace, name] = key.split('/') as [string, string];
      loaded[key] = Object.fromEntries(await orbVersions(s.db, namespace, name));
    }
  }
};
