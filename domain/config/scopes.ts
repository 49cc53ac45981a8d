import { parseOrbRef, type OrbRef } from '../orbs/orb-ref.ts';
import { bindParameters, failAt, readDeclarations, substitute, type Fail, type Lookup } from './parameters.ts';
import { ProblemError, type Path } from './problems.ts';
import { parseSource } from './source.ts';
import { isRecord } from './values.ts';

/** An orb version as the registry holds it: `resolved` names the exact release a reference meant. */
export interface ResolvedOrb {
  readonly resolved: string;
  readonly source: string;
}

/** Looks an orb reference up in the registry: a version, or why there is none. */
export type ResolveOrb = (ref: OrbRef) => ResolvedOrb | { readonly error: string };

/**
 * Where names are defined: the config's own jobs, commands and executors, or an orb's, with the orbs
 * it imports by alias (`alias/name` looks in one of them). `orb` names the registry release the scope
 * came from; null for the config and for inline orbs.
 */
export interface Scope {
  readonly file: string;
  readonly fail: Fail;
  readonly orb: string | null;
  readonly jobs: Record<string, unknown>;
  readonly commands: Record<string, unknown>;
  readonly executors: Record<string, unknown>;
  readonly orbs: Map<string, Scope>;
}
export type Kind = 'jobs' | 'commands' | 'executors';
/** A definition, the scope that holds it, and its path in that scope's file. */
export interface Found {
  readonly def: unknown;
  readonly scope: Scope;
  readonly path: Path;
}

/** A top-level map of names to definitions (`jobs:`, `orbs:`, `workflows:`); none is an empty map. */
export const section = (value: unknown, key: string, fail: Fail): Record<string, unknown> => {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) fail([key], `${key} must be a map of names to definitions`);
  return value as Record<string, unknown>;
};

/** A scope's definitions, and its orbs' scopes in turn. */
const scopeOf = (
  def: Record<string, unknown>,
  origin: { file: string; fail: Fail; orb: string | null },
  resolveOrb: ResolveOrb,
  depth: number,
  seen: ReadonlySet<string>,
): Scope => {
  const { fail } = origin;
  const scope: Scope = {
    ...origin,
    jobs: section(def.jobs, 'jobs', fail),
    commands: section(def.commands, 'commands', fail),
    executors: section(def.executors, 'executors', fail),
    orbs: new Map(),
  };
  for (const [name, orb] of Object.entries(section(def.orbs, 'orbs', fail)))
    scope.orbs.set(name, orbScope(name, orb, ['orbs', name], scope, resolveOrb, depth, seen));
  return scope;
};

/** An orb: from the registry by reference, or defined inline under `orbs:`. */
const orbScope = (alias: string, rawOrb: unknown, at: Path, parent: Scope, resolveOrb: ResolveOrb, depth: number, seen: ReadonlySet<string>): Scope => {
  if (depth > 10) parent.fail(at, 'orbs import each other more than 10 deep');
  if (typeof rawOrb === 'string') {
    const ref = parseOrbRef(rawOrb);
    if ('error' in ref) return parent.fail(at, ref.error);
    const found = resolveOrb(ref);
    if ('error' in found) return parent.fail(at, found.error);
    if (seen.has(found.resolved)) parent.fail(at, `orb ${found.resolved} imports itself`);
    const parsed = parseSource(found.source, `orb ${found.resolved}`);
    if (!parsed.source) throw new ProblemError(parsed.problems[0]!);
    const source = parsed.source;
    const fail = failAt(source.file, (p) => source.lineOf(p));
    if (!isRecord(source.value)) return fail([], 'an orb is a map of commands, jobs and executors');
    return scopeOf(source.value, { file: source.file, fail, orb: found.resolved }, resolveOrb, depth + 1, new Set([...seen, found.resolved]));
  }
  if (!isRecord(rawOrb)) return parent.fail(at, `orb ${alias} must be a reference (namespace/orb@version) or an inline orb`);
  return scopeOf(rawOrb, { file: parent.file, fail: (p, m) => parent.fail([...at, ...p], m), orb: null }, resolveOrb, depth + 1, seen);
};

/** The config's own scope, with every orb it imports resolved. */
export const configScope = (config: Record<string, unknown>, file: string, fail: Fail, resolveOrb: ResolveOrb): Scope =>
  scopeOf(config, { file, fail, orb: null }, resolveOrb, 0, new Set());

/** The registry releases a scope and the orbs under it came from, sorted. */
export const orbsUsed = (scope: Scope): string[] => {
  const used = new Set<string>();
  const visit = (s: Scope) => {
    if (s.orb) used.add(s.orb);
    for (const o of s.orbs.values()) visit(o);
  };
  visit(scope);
  return [...used].sort();
};

export const find = (scope: Scope, kind: Kind, name: string): Found | undefined => {
  const slash = name.indexOf('/');
  if (slash > 0) {
    const orb = scope.orbs.get(name.slice(0, slash));
    return orb ? find(orb, kind, name.slice(slash + 1)) : undefined;
  }
  return Object.hasOwn(scope[kind], name) ? { def: scope[kind][name], scope, path: [kind, name] } : undefined;
};

/** Looks in the scope the text came from, then in the config (steps handed to an orb job are the config's). */
export const lookupAnywhere = (root: Scope, scope: Scope, kind: Kind, name: string): Found | undefined =>
  find(scope, kind, name) ?? (scope === root ? undefined : find(root, kind, name));

/** Why a name was not found: no orb of its prefix, or no definition. */
export const missing = (root: Scope, kind: string, name: string, scope: Scope): string => {
  const slash = name.indexOf('/');
  if (slash > 0 && !scope.orbs.has(name.slice(0, slash)) && !root.orbs.has(name.slice(0, slash)))
    return `${kind} ${name} needs an orb named ${name.slice(0, slash)}, and none is declared under orbs:`;
  return `${kind} ${name} is not defined`;
};

/** A definition with the caller's arguments bound to its parameters and substituted into its body. */
export const instantiate = (
  found: Found,
  args: Record<string, unknown>,
  at: Path,
  caller: Scope,
  what: string,
): { body: Record<string, unknown>; scope: Scope; path: Path } => {
  const { def, scope, path } = found;
  if (!isRecord(def)) return scope.fail(path, `${what} must be a map`);
  const params = readDeclarations(def.parameters, [...path, 'parameters'], scope.fail);
  const bound = bindParameters(params, args, at, caller.fail, what);
  const lookup: Lookup = (name) => {
    const k = name.slice('parameters.'.length);
    return bound.has(k) ? { found: true, value: bound.get(k) } : { found: false };
  };
  const body = Object.fromEntries(Object.entries(def).filter(([k]) => k !== 'parameters'));
  return { body: substitute(body, (n) => n.startsWith('parameters.'), lookup, path, scope.fail) as Record<string, unknown>, scope, path };
};
