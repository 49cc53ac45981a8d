import { z } from 'zod';
import { DomainError } from '../errors.ts';
import { defineEvent, type EventOf } from '../events/registry.ts';
import type { Decider } from '../decider.ts';
import { uuidFrom } from '../ids.ts';

/**
 * A project's caches. A key is saved once and never overwritten: each (project, scope, key) has its
 * own stream, and the first save on it wins. Builds of pull requests from forks save into the `fork`
 * scope, which builds of the project's own branches never restore from.
 */
export const CacheScope = z.enum(['project', 'fork']);
export type CacheScope = z.infer<typeof CacheScope>;

export const cacheId = (projectId: string, scope: CacheScope, key: string) => uuidFrom(`gyre cache\n${projectId}\n${scope}\n${key}`);
export const cacheStream = (id: string) => `cache-${id}`;
export const cacheTarget = (c: { cacheId: string; key: string }) => ({ id: c.cacheId, type: 'cache', name: c.key });
/** The scopes a build may restore from, in the order looked in. */
export const restoreScopes = (fromFork: boolean): CacheScope[] => (fromFork ? ['fork', 'project'] : ['project']);
export const saveScope = (fromFork: boolean): CacheScope => (fromFork ? 'fork' : 'project');

const ref = { cacheId: z.string(), projectId: z.string(), scope: CacheScope, key: z.string() };
export const cacheSaved = defineEvent(
  'cache.save',
  z.object({
    ...ref,
    projectSlug: z.string(),
    objectKey: z.string(),
    bytes: z.number().int().min(0),
    jobId: z.string(),
    jobNumber: z.number().int().nullable(),
    branch: z.string().nullable(),
  }),
  { publicFields: ['cacheId', 'projectId', 'scope', 'key', 'projectSlug', 'bytes', 'jobId', 'jobNumber', 'branch'] },
);
export const cacheExpired = defineEvent('cache.expire', z.object({ ...ref, objectKey: z.string() }), {
  publicFields: ['cacheId', 'projectId', 'scope', 'key'],
});
export const cacheEvents = [cacheSaved, cacheExpired];
export type CacheEvent = EventOf<typeof cacheSaved> | EventOf<typeof cacheExpired>;

export type CacheCommand = { type: 'save'; save: EventOf<typeof cacheSaved>['data'] } | { type: 'expire' };

export type CacheState = { saved: EventOf<typeof cacheSaved>['data'] } | null;

export const cacheDecider: Decider<CacheState, CacheCommand, CacheEvent> = {
  initialState: () => null,
  evolve: (_s, e) => (e.type === 'cache.save' ? { saved: e.data } : null),
  decide: (c, s) => {
    switch (c.type) {
      case 'save':
        // a saved key is never overwritten; once expired it may be saved again
        if (s) throw new DomainError('CACHE_EXISTS', `a cache with key ${c.save.key} exists already: it is kept, not overwritten`);
        return [{ type: 'cache.save', data: c.save }];
      case 'expire':
        if (!s) return [];
        return [
          {
            type: 'cache.expire',
            data: { cacheId: s.saved.cacheId, projectId: s.saved.projectId, scope: s.saved.scope, key: s.saved.key, objectKey: s.saved.objectKey },
          },
        ];
    }
  },
};
