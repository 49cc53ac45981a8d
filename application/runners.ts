import { randomBytes, randomUUID } from 'node:crypto';
import type { UseCases } from './dependencies.ts';
import { written } from './read-your-writes.ts';
import { hashToken } from './tokens.ts';
import { NotFoundError, parseInput } from '../domain/errors.ts';
import type { CommandContext } from '../domain/events/envelope.ts';
import { parseUuid } from '../domain/ids.ts';
import {
  Namespace,
  ResourceClassDescription,
  ResourceClassName,
  TokenNickname,
  resourceClassDecider,
  resourceClassStream,
  resourceClassTarget,
  type RunnerCommand,
} from '../domain/runners/resource-class.ts';
import {
  resourceClassById,
  resourceClassByName,
  resourceClassesInNamespace,
  runnerTokenById,
  runnerTokensOf,
  type ResourceClassRow,
  type RunnerTokenRow,
} from '../projections/runners.ts';
import { executeAndWait } from './execute-and-wait.ts';

/** What the runner use cases need: read models, commands, and a bounded wait for their own writes. */
export type RunnerDeps = UseCases;

/** 256 random bits; the prefix tells a secret scanner, and a reader of a leaked log, what it is. */
const generateRunnerToken = (): string => `gyre_runner_${randomBytes(32).toString('base64url')}`;

const run = async (d: RunnerDeps, context: CommandContext, rc: { id: string; resourceClass: string }, command: RunnerCommand) => {
  await executeAndWait(d, {
    stream: resourceClassStream(rc.resourceClass),
    decider: resourceClassDecider,
    command,
    context,
    target: resourceClassTarget({ resourceClassId: rc.id, resourceClass: rc.resourceClass }),
  });
};

const notFound = (what: string) =>
  new NotFoundError(`no resource class ${what}: list them with circleci runner resource-class list <namespace>`, 'RESOURCE_CLASS_NOT_FOUND');

export const listResourceClasses = (d: RunnerDeps, namespace: unknown): Promise<ResourceClassRow[]> =>
  resourceClassesInNamespace(d.db, parseInput(Namespace, namespace, 'namespace'));

/** A class by its id or by its `namespace/name`. */
export const findResourceClass = async (d: RunnerDeps, by: { id: unknown } | { name: unknown }): Promise<ResourceClassRow> => {
  if ('id' in by) {
    const id = parseUuid(by.id, 'a resource class id');
    return (await resourceClassById(d.db, id)) ?? Promise.reject(notFound(`with id ${id}`));
  }
  const name = parseInput(ResourceClassName, by.name, 'resource class');
  return (await resourceClassByName(d.db, name)) ?? Promise.reject(notFound(`named ${name}`));
};

export const createResourceClass = async (
  d: RunnerDeps,
  context: CommandContext,
  input: { resourceClass: unknown; description: unknown },
): Promise<ResourceClassRow> => {
  const name = parseInput(ResourceClassName, input.resourceClass, 'resource class');
  const description = parseInput(ResourceClassDescription, input.description ?? '', 'description');
  const id = randomUUID();
  await run(d, context, { id, resourceClass: name }, { type: 'create', resourceClassId: id, name, description });
  return written(await resourceClassById(d.db, id));
};

/** Refused while the class has tokens, unless `force`, which deletes them with it. */
export const deleteResourceClass = async (
  d: RunnerDeps,
  context: CommandContext,
  by: { id: unknown } | { name: unknown },
  force = false,
): Promise<ResourceClassRow> => {
  const rc = await findResourceClass(d, by);
  await run(d, context, rc, { type: 'delete', resourceClassId: rc.id, force });
  return rc;
};

export const listRunnerTokens = async (d: RunnerDeps, resourceClass: unknown): Promise<RunnerTokenRow[]> =>
  runnerTokensOf(d.db, (await findResourceClass(d, { name: resourceClass })).id);

/** The token is in this answer only: the log and the read models hold its SHA-256. */
export const createRunnerToken = async (
  d: RunnerDeps,
  context: CommandContext,
  input: { resourceClass: unknown; nickname: unknown },
): Promise<{ token: string; row: RunnerTokenRow }> => {
  const rc = await findResourceClass(d, { name: input.resourceClass });
  const nickname = parseInput(TokenNickname, input.nickname, 'nickname');
  const token = generateRunnerToken();
  const tokenId = randomUUID();
  await run(d, context, rc, { type: 'createToken', resourceClassId: rc.id, tokenId, nickname, tokenHash: hashToken(token) });
  return { token, row: written(await runnerTokenById(d.db, tokenId)) };
};

export const deleteRunnerToken = async (d: RunnerDeps, context: CommandContext, id: unknown): Promise<RunnerTokenRow> => {
  const tokenId = parseUuid(id, 'a runner token id');
  const token = await runnerTokenById(d.db, tokenId);
  if (!token) throw new NotFoundError('no runner token with that id: list them with circleci runner token list <namespace>/<name>', 'RUNNER_TOKEN_NOT_FOUND');
  await run(
    d,
    context,
    { id: token.resourceClassId, resourceClass: token.resourceClass },
    { type: 'deleteToken', resourceClassId: token.resourceClassId, tokenId },
  );
  return token;
};
