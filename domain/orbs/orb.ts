import semver from 'semver';
import { z } from 'zod';
import { DomainError } from '../errors.ts';
import { defineEvent } from '../events/registry.ts';
import type { Decider } from '../decider.ts';

/** One stream per orb: its versions are decided against each other (a release is published once). */
export const orbStream = (namespace: string, name: string) => `orb-${namespace.toLowerCase()}/${name.toLowerCase()}`;
export const orbTarget = (namespace: string, name: string, version?: string) => ({
  id: `${namespace}/${name}`,
  type: 'orb',
  name: version ? `${namespace}/${name}@${version}` : `${namespace}/${name}`,
});

export const OrbName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be lower-case letters, digits, - and _');

/** The source is the orb's packed YAML; the audit log shows which version, not its text. */
export const orbPublished = defineEvent('orb.publish', z.object({ namespace: OrbName, orb: OrbName, version: z.string(), source: z.string().max(1_000_000) }), {
  publicFields: ['namespace', 'orb', 'version'],
});
export const orbEvents = [orbPublished];

export type OrbEvent = { type: 'orb.publish'; data: z.infer<typeof orbPublished.schema> };
export type OrbCommand = { type: 'publish'; namespace: string; orb: string; version: string; source: string };
export type OrbState = { readonly versions: ReadonlySet<string> };

export const orbDecider: Decider<OrbState, OrbCommand, OrbEvent> = {
  initialState: () => ({ versions: new Set() }),
  evolve: (s, e) => ({ versions: new Set(s.versions).add(e.data.version) }),
  decide: (c, s) => {
    if (!semver.valid(c.version) || semver.clean(c.version) !== c.version)
      throw new DomainError('ORB_VERSION_INVALID', `${c.version} is not a release version: publish as major.minor.patch, such as 1.0.0`);
    if (s.versions.has(c.version))
      throw new DomainError(
        'ORB_VERSION_EXISTS',
        `${c.namespace}/${c.orb}@${c.version} is already published, and a published version never changes: publish a new version`,
      );
    return [{ type: 'orb.publish', data: { namespace: c.namespace, orb: c.orb, version: c.version, source: c.source } }];
  },
};
