import semver from 'semver';

/** `ns/name@version`; no version means `@volatile`, the newest release. `@1` and `@1.2` mean the newest matching one. */
export interface OrbRef {
  readonly namespace: string;
  readonly name: string;
  readonly version: string;
}

const name = /^[a-z0-9][a-z0-9_-]*$/i;

export const parseOrbRef = (raw: string): OrbRef | { error: string } => {
  const m = /^([^/@\s]+)\/([^/@\s]+)(?:@(\S+))?$/.exec(raw.trim());
  if (!m || !name.test(m[1]!) || !name.test(m[2]!)) return { error: `"${raw}" is not an orb reference: write it as namespace/orb@version` };
  const version = m[3] ?? 'volatile';
  if (version !== 'volatile' && !/^\d+(\.\d+){0,2}$/.test(version) && !/^dev:[A-Za-z0-9._-]+$/.test(version)) {
    return { error: `${raw}: an orb version is volatile, a release (1.2.3), a partial one (1, 1.2) or dev:<label>` };
  }
  return { namespace: m[1]!.toLowerCase(), name: m[2]!.toLowerCase(), version };
};

export const formatOrbRef = (r: OrbRef) => `${r.namespace}/${r.name}@${r.version}`;

/** The published version a reference means, or undefined when none matches. */
export const pickVersion = (published: ReadonlyArray<string>, requested: string): string | undefined => {
  const releases = published.filter((v) => semver.valid(v));
  if (requested === 'volatile') return semver.rsort([...releases])[0];
  if (semver.valid(requested) || requested.startsWith('dev:')) return published.includes(requested) ? requested : undefined;
  return semver.maxSatisfying(releases, `${requested}.x`) ?? undefined;
};
