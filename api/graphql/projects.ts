import { memberOf } from '../../application/members.ts';
import { followProject, unfollowProject } from '../../application/follows.ts';
import { projectFollow } from '../../projections/project-follows.ts';
import { deleteProjectEnvVar, storeProjectEnvVar, updateProjectSettings } from '../../application/projects.ts';
import { projectBySlug, projectEnvVars, projectsPage, type ProjectRow } from '../../projections/projects.ts';
import { parseProjectSlug } from '../../domain/projects/slugs.ts';
import type { Services } from '../services.ts';
import { commandContextOf as context, signedIn, type GraphQLContext } from './context.ts';
import { connection, decodeCursor, parsePageSize } from './paging.ts';

type Page = { first?: unknown; after?: string | null };

/** Projects and their variables: thin over application/projects.ts, which the CircleCI API v2 routes share. */
export const projectResolvers = (s: Services) => ({
  Query: {
    projects: async (_: unknown, args: Page) => {
      const page = await projectsPage(s.db, parsePageSize(args.first), decodeCursor(args.after));
      return connection(page.projects, page.hasNextPage, (p) => p.slug.toLowerCase());
    },
    project: async (_: unknown, args: { slug: unknown }) => (await projectBySlug(s.db, parseProjectSlug(args.slug).key)) ?? null,
  },
  Mutation: {
    createProject: async (_: unknown, args: { input: { slug?: unknown; gitUrl?: unknown } }, ctx: GraphQLContext) =>
      followProject(s, context(ctx), await memberOf(s, ctx.auth), signedIn(ctx), args.input),
    unfollowProject: async (_: unknown, args: { slug: unknown }, ctx: GraphQLContext) =>
      unfollowProject(s, context(ctx), await memberOf(s, ctx.auth), signedIn(ctx), args.slug),
    updateProjectSettings: async (_: unknown, args: { slug: unknown; input: unknown }, ctx: GraphQLContext) =>
      updateProjectSettings(s, context(ctx), await memberOf(s, ctx.auth), args.slug, { ...(args.input as object) }),
    storeProjectEnvVar: async (_: unknown, args: { slug: unknown; name: unknown; value: unknown }, ctx: GraphQLContext) =>
      storeProjectEnvVar(s, context(ctx), await memberOf(s, ctx.auth), args.slug, args.name, args.value),
    deleteProjectEnvVar: async (_: unknown, args: { slug: unknown; name: unknown }, ctx: GraphQLContext) => {
      await deleteProjectEnvVar(s, context(ctx), await memberOf(s, ctx.auth), args.slug, args.name);
      return true;
    },
  },
  Project: {
    followed: async (p: ProjectRow) => (await projectFollow(s.db, p.id)).followed,
    webhook: async (p: ProjectRow) => {
      const f = await projectFollow(s.db, p.id);
      return f.hookId === null ? null : { repository: f.repository, hookId: String(f.hookId), followedBy: f.followerLogin };
    },
    settings: (p: ProjectRow) => ({ ...p.settings, webhookSecret: p.webhookSecret }),
    envVars: async (p: ProjectRow, args: Page) => {
      const page = await projectEnvVars(s.db, p.id, parsePageSize(args.first), decodeCursor(args.after));
      return connection(page.envVars, page.hasNextPage, (v) => v.name);
    },
  },
});
