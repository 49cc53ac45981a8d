/** Whether a resource class matches a pattern of GYRE_NOMAD_CLASSES / GYRE_NOMAD_CONSTRAINTS: a name, or `*` for any run of characters (`docker:*`). */
export const classMatches = (pattern: string, resourceClass: string): boolean =>
  new RegExp(`^${pattern.replace(/[.+?^$()[\]{}|\\]/g, '\\$&').replaceAll('*', '.*')}$`).test(resourceClass);

/** The resource classes Nomad places: those any pattern matches. */
export const servedByNomad = (patterns: ReadonlyArray<string>) => (resourceClass: string) => patterns.some((p) => classMatches(p, resourceClass));
