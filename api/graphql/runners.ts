import {
  createResourceClass,
  createRunnerToken,
  deleteResourceClass,
  deleteRunnerToken,
  listResourceClasses,
  listRunnerTokens,
} from '../../application/runners.ts';
import type { Services } from '../services.ts';
import { commandContextOf as context, type GraphQLContext } from './context.ts';

/** Self-hosted runner resource classes and their tokens: thin over application/runners.ts. */
export const runnerResolvers = (s: Services) => ({
  Query: {
    runnerResourceClasses: (_: unknown, args: { namespace: unknown }) => listResourceClasses(s, args.namespace),
    runnerTokens: (_: unknown, args: { resourceClass: unknown }) => listRunnerTokens(s, args.resourceClass),
  },
  Mutation: {
    createRunnerResourceClass: (_: unknown, args: { input: { resourceClass: unknown; description: unknown } }, ctx: GraphQLContext) =>
      createResourceClass(s, context(ctx), args.input),
    deleteRunnerResourceClass: async (_: unknown, args: { resourceClass: unknown }, ctx: GraphQLContext) => {
      await deleteResourceClass(s, context(ctx), { name: args.resourceClass });
      return true;
    },
    createRunnerToken: async (_: unknown, args: { input: { resourceClass: unknown; nickname: unknown } }, ctx: GraphQLContext) => {
      const created = await createRunnerToken(s, context(ctx), args.input);
      return { token: created.token, runnerToken: created.row };
    },
    deleteRunnerToken: async (_: unknown, args: { id: unknown }, ctx: GraphQLContext) => {
      await deleteRunnerToken(s, context(ctx), args.id);
      return true;
    },
  },
});
