import { projectionRebuild, rebuildProjections } from '../../application/projection-rebuilds.ts';
import type { ReadModelProgress, RebuildStatus } from '../../projections/rebuild.ts';
import type { Services } from '../services.ts';
import { commandContextOf as context, type GraphQLContext } from './context.ts';

/** Rebuilds of read models: thin over application/projection-rebuilds.ts. */
export const projectionResolvers = (s: Services) => ({
  Query: {
    projectionRebuild: (_: unknown, args: { id: unknown }) => projectionRebuild(s, args.id),
  },
  Mutation: {
    rebuildProjections: (_: unknown, args: { names?: unknown }, ctx: GraphQLContext) => rebuildProjections(s, context(ctx), args.names),
  },
  ProjectionRebuild: {
    state: (r: RebuildStatus) => r.state.toUpperCase(),
    done: (r: RebuildStatus) => r.state !== 'running',
  },
  ReadModelRebuild: {
    state: (m: ReadModelProgress) => m.state.toUpperCase(),
  },
});
