import { projectOwner } from '../adapters/encryption/port.ts';
import { NotFoundError, parseInput } from '../domain/errors.ts';
import type { CommandContext, RecordedEvent } from '../domain/events/envelope.ts';
import type { Member } from '../domain/organizations.ts';
import { parseProjectSettingsInput, projectDecider, projectStream, projectTarget, type ProjectCommand } from '../domain/projects/project.ts';
import type { GitHosts } from '../domain/projects/git-hosts.ts';
import { parseProjectSlug, type ProjectSlug } from '../domain/projects/slugs.ts';
import { EnvVarName, EnvVarValue, mask, type SealedSecret } from '../domain/secrets/secret-value.ts';
import type { EnvVarRow } from '../projections/env-vars.ts';
import { projectBySlug, projectEnvVar, type ProjectRow } from '../projections/projects.ts';
import { written } from './read-your-writes.ts';
import type { Reads, UseCases, WithVault } from './dependencies.ts';
import { executeAndWait } from './execute-and-wait.ts';

/**
 * Projects and their environment variables, as GraphQL and the CircleCI API v2 both change them:
 * parse, seal secrets under the project's data key, run one command, answer from the read model.
 */

/** Projects' use cases seal secrets under the project's data key, and check git URLs against the git hosts configured. */
export type ProjectDeps = UseCases &
  WithVault & { readonly config: { readonly GYRE_GITHUB_URL: string; readonly GYRE_GIT_ALLOWED_HOSTS: ReadonlyArray<string> } };

/** Where non-admins may point a git URL: the GitHub host and the hosts the operator allows. */
export const gitHostsOf = (s: ProjectDeps): GitHosts => ({ githubUrl: s.config.GYRE_GITHUB_URL, allowed: s.config.GYRE_GIT_ALLOWED_HOSTS });

export const parseEnvVar = (name: unknown, value: unknown) => ({
  name: parseInput(EnvVarName, name, 'environment variable name'),
  value: parseInput(EnvVarValue, value, 'environment variable value'),
});

export const findProject = async (s: Reads, rawSlug: unknown): Promise<ProjectRow> => {
  const slug = parseProjectSlug(rawSlug);
  const project = await projectBySlug(s.db, slug.key);
  if (!project) throw new NotFoundError(`project ${slug.slug} not found: follow it first with createProject`);
  return project;
};

export const findProjectEnvVar = async (s: Reads, project: ProjectRow, name: string): Promise<EnvVarRow> => {
  const found = await projectEnvVar(s.db, project.id, name);
  if (!found) throw new NotFoundError(`${project.slug} has no environment variable ${name}`);
  return found;
};

export const runProjectCommand = async (
  s: UseCases,
  context: CommandContext,
  slug: ProjectSlug,
  command: ProjectCommand,
  known?: ProjectRow,
  history?: ReadonlyArray<RecordedEvent>,
) => {
  await executeAndWait(s, {
    stream: projectStream(slug),
    history,
    decider: projectDecider,
    command,
    context,
    target: (state) => (state ? projectTarget(state) : { id: known?.id ?? slug.slug, type: 'project', name: slug.slug }),
  });
};

const seal = async (s: WithVault, project: { id: string }, label: string, value: string): Promise<SealedSecret> => ({
  sealed: await s.vault.seal(projectOwner(project.id), label, value),
  masked: mask(value),
});

export const updateProjectSettings = async (s: ProjectDeps, context: CommandContext, by: Member, rawSlug: unknown, input: unknown): Promise<ProjectRow> => {
  const project = await findProject(s, rawSlug);
  const { webhookSecret, ...settings } = parseProjectSettingsInput(input);
  const sealed = webhookSecret === undefined ? undefined : webhookSecret === null ? null : await seal(s, project, 'webhook secret', webhookSecret);
  const slug = parseProjectSlug(project.slug);
  await runProjectCommand(s, context, slug, { type: 'updateSettings', settings, webhookSecret: sealed, gitHosts: gitHostsOf(s), by }, project);
  return written(await projectBySlug(s.db, slug.key));
};

export const storeProjectEnvVar = async (
  s: ProjectDeps,
  context: CommandContext,
  by: Member,
  rawSlug: unknown,
  rawName: unknown,
  rawValue: unknown,
): Promise<EnvVarRow> => {
  const project = await findProject(s, rawSlug);
  const { name, value } = parseEnvVar(rawName, rawValue);
  await runProjectCommand(
    s,
    context,
    parseProjectSlug(project.slug),
    { type: 'storeEnvVar', name, secret: await seal(s, project, `env ${name}`, value), by },
    project,
  );
  return written(await projectEnvVar(s.db, project.id, name));
};

export const deleteProjectEnvVar = async (s: ProjectDeps, context: CommandContext, by: Member, rawSlug: unknown, rawName: unknown): Promise<void> => {
  const project = await findProject(s, rawSlug);
  const name = parseInput(EnvVarName, rawName, 'environment variable name');
  await runProjectCommand(s, context, parseProjectSlug(project.slug), { type: 'deleteEnvVar', name, by }, project);
};
