import { ValidationError } from '../../domain/errors.ts';
import { resolvingOrbs } from '../../domain/orbs/loaded-orbs.ts';
import { parseOrbRef } from '../../domain/orbs/orb-ref.ts';
import { compileConfig } from '../../application/config-compile.ts';
import { publishOrb, withOrbs } from '../../application/orbs.ts';
import type { Services } from '../services.ts';
import { commandContextOf as context, type GraphQLContext } from './context.ts';

const orbVersion = (resolved: string, source: string) => {
  const [id, version] = resolved.split('@') as [string, string];
  return { id: resolved, version, source, orb: { id, name: id } };
};

/** The orb registry's core and config processing: thin over application/orbs.ts and application/config-compile.ts. */
export const orbResolvers = (s: Services) => ({
  Query: {
    orbVersion: async (_: unknown, args: { orbVersionRef: unknown }) => {
      const ref = parseOrbRef(String(args.orbVersionRef));
      if ('error' in ref) throw new ValidationError(ref.error);
      const found = await withOrbs(s, (loaded) => resolvingOrbs(loaded, (resolve) => resolve(ref)));
      return 'error' in found ? null : orbVersion(found.resolved, found.source);
    },
    compileConfig: async (_: unknown, args: { configYaml: unknown; pipelineParameters?: unknown; pipelineValues?: unknown }) => {
      const r = await compileConfig(s, args);
      return { ...r, errors: r.errors.map((e) => ({ message: e.text, file: e.file, line: e.line, key: e.key })) };
    },
  },
  Mutation: {
    publishOrb: async (_: unknown, args: { namespace: unknown; orb: unknown; version: unknown; source: unknown }, ctx: GraphQLContext) => {
      const p = await publishOrb(s, context(ctx), args);
      return orbVersion(`${p.namespace}/${p.orb}@${p.version}`, args.source as string);
    },
  },
});
