import { z } from 'zod';
import { DomainError, NotFoundError } from '../errors.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import type { Decider } from '../decider.ts';

/**
 * A self-hosted runner resource class, `namespace/name` (or a built-in fleet, `docker` or
 * `machine`), and the tokens its agents authenticate with. One stream per lower-cased name, so a name is taken once; a class created again after a
 * delete is a new class with a new id and no tokens.
 */
export const resourceClassStream = (name: string) => `runner-resource-class-${name.toLowerCase()}`;
export const resourceClassTarget = (c: { resourceClassId: string; resourceClass: string }) => ({
  id: c.resourceClassId,
  type: 'runner_resource_class',
  name: c.resourceClass,
});

const part = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
/**
 * The built-in fleets: a class named exactly `docker` or `machine` is an operator's own build
 * machines serving every built-in class of that kind (docker:small … docker:2xlarge, machine:medium …);
 * its tokens let `gyre agent` on those machines take docker or machine jobs.
 */
export const fleetClasses = ['docker', 'machine'] as const;
export const isFleetClass = (name: string): name is (typeof fleetClasses)[number] => (fleetClasses as ReadonlyArray<string>).includes(name);
/** `namespace/name`, as CircleCI's runner takes it (`my-org/linux-amd64`), the namespace the organization's; or a built-in fleet, `docker` or `machine`. */
export const ResourceClassName = z
  .string()
  .trim()
  .max(200, 'must be at most 200 characters')
  .refine((v) => {
    if (isFleetClass(v)) return true;
    const [ns, name, ...rest] = v.split('/');
    return rest.length === 0 && name !== undefined && part.test(ns!) && part.test(name);
  }, 'must be namespace/name (for example my-org/linux-amd64): letters, digits, dashes and underscores on each side of one slash; or docker or machine, for build machines serving the built-in classes');
export const Namespace = z.string().trim().regex(part, 'must be a namespace: letters, digits, dashes and underscores');
export const ResourceClassDescription = z.string().trim().max(500, 'must be at most 500 characters');
export const TokenNickname = z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters');

const ref = { resourceClassId: z.string(), resourceClass: z.string() };
const tokenRef = { ...ref, tokenId: z.string(), nickname: z.string() };
export const resourceClassCreated = defineEvent('runner.resource_class.create', z.object({ ...ref, namespace: z.string(), description: z.string() }), {
  publicFields: ['resourceClassId', 'resourceClass', 'namespace', 'description'],
});
export const resourceClassDeleted = defineEvent('runner.resource_class.delete', z.object(ref), { publicFields: ['resourceClassId', 'resourceClass'] });
/** The token itself never enters the log: only its SHA-256, which the audit log does not show. */
export const runnerTokenCreated = defineEvent('runner.token.create', z.object({ ...tokenRef, tokenHash: z.string().regex(/^[0-9a-f]{64}$/) }), {
  publicFields: ['resourceClassId', 'resourceClass', 'tokenId', 'nickname'],
});
export const runnerTokenDeleted = defineEvent('runner.token.delete', z.object(tokenRef), {
  publicFields: ['resourceClassId', 'resourceClass', 'tokenId', 'nickname'],
});
export const runnerEvents = [resourceClassCreated, resourceClassDeleted, runnerTokenCreated, runnerTokenDeleted];

export type RunnerEvent =
  | EventOf<typeof resourceClassCreated>
  | EventOf<typeof resourceClassDeleted>
  | EventOf<typeof runnerTokenCreated>
  | EventOf<typeof runnerTokenDeleted>;

/** `force` deletes a class with its tokens, as CircleCI's `DELETE /runner/resource/{id}/force` does. */
export type RunnerCommand =
  | { type: 'create'; resourceClassId: string; name: string; description: string }
  | { type: 'delete'; resourceClassId: string; force: boolean }
  | { type: 'createToken'; resourceClassId: string; tokenId: string; nickname: string; tokenHash: string }
  | { type: 'deleteToken'; resourceClassId: string; tokenId: string };

export interface ResourceClass {
  readonly resourceClassId: string;
  readonly name: string;
  readonly description: string;
  /** Token id → nickname. */
  readonly tokens: ReadonlyMap<string, string>;
}
/** The live class of this name, or null (never created, or deleted). */
export type ResourceClassState = ResourceClass | null;

const live = (s: ResourceClassState, id: string): ResourceClass => {
  if (!s || s.resourceClassId !== id)
    throw new NotFoundError(
      'no such resource class: list them with `runnerResourceClasses` or GET /api/v3/runner/resource?namespace=<namespace>',
      'RESOURCE_CLASS_NOT_FOUND',
    );
  return s;
};
const refOf = (c: ResourceClass) => ({ resourceClassId: c.resourceClassId, resourceClass: c.name });

export const resourceClassDecider: Decider<ResourceClassState, RunnerCommand, RunnerEvent> = {
  initialState: () => null,
  evolve: (s, e) => {
    if (e.type === 'runner.resource_class.create')
      return { resourceClassId: e.data.resourceClassId, name: e.data.resourceClass, description: e.data.description, tokens: new Map() };
    if (!s || s.resourceClassId !== e.data.resourceClassId) return s;
    switch (e.type) {
      case 'runner.resource_class.delete':
        return null;
      case 'runner.token.create':
        return { ...s, tokens: new Map(s.tokens).set(e.data.tokenId, e.data.nickname) };
      case 'runner.token.delete': {
        const tokens = new Map(s.tokens);
        tokens.delete(e.data.tokenId);
        return { ...s, tokens };
      }
    }
  },
  decide: (c, s) => {
    switch (c.type) {
      case 'create': {
        if (s) throw new DomainError('RESOURCE_CLASS_EXISTS', `the resource class ${s.name} already exists: pick another name, or delete it first`);
        return [
          {
            type: 'runner.resource_class.create',
            data: { resourceClassId: c.resourceClassId, resourceClass: c.name, namespace: c.name.split('/')[0]!, description: c.description },
          },
        ];
      }
      case 'delete': {
        const rc = live(s, c.resourceClassId);
        if (rc.tokens.size > 0 && !c.force) {
          throw new DomainError(
            'RESOURCE_CLASS_HAS_TOKENS',
            `the resource class ${rc.name} still has ${rc.tokens.size} token${rc.tokens.size === 1 ? '' : 's'}: delete its tokens first (circleci runner token list ${rc.name}, then circleci runner token delete <id>), or delete the class with its tokens by DELETE /api/v3/runner/resource/${rc.resourceClassId}/force`,
          );
        }
        const tokens = [...rc.tokens].map(([tokenId, nickname]) => ({ type: 'runner.token.delete' as const, data: { ...refOf(rc), tokenId, nickname } }));
        return [...tokens, { type: 'runner.resource_class.delete', data: refOf(rc) }];
      }
      case 'createToken': {
        const rc = live(s, c.resourceClassId);
        return [{ type: 'runner.token.create', data: { ...refOf(rc), tokenId: c.tokenId, nickname: c.nickname, tokenHash: c.tokenHash } }];
      }
      case 'deleteToken': {
        const rc = live(s, c.resourceClassId);
        const nickname = rc.tokens.get(c.tokenId);
        if (nickname === undefined)
          throw new NotFoundError(
            `the resource class ${rc.name} has no token with that id: list them with circleci runner token list ${rc.name}`,
            'RUNNER_TOKEN_NOT_FOUND',
          );
        return [{ type: 'runner.token.delete', data: { ...refOf(rc), tokenId: c.tokenId, nickname } }];
      }
    }
  },
};
