import { ProblemError, keyOf, type Path } from './problems.ts';
import { isRecord, truthy } from './values.ts';

/** A parameter as a job, command, executor or the pipeline declares it. */
export interface ParameterDeclaration {
  readonly type: 'string' | 'boolean' | 'integer' | 'enum' | 'executor' | 'steps' | 'env_var_name';
  readonly default?: unknown;
  readonly enum?: ReadonlyArray<unknown>;
  readonly description?: string;
}

const types = ['string', 'boolean', 'integer', 'enum', 'executor', 'steps', 'env_var_name'];

export type Fail = (path: Path, message: string) => never;

/** Reads a `parameters:` block; each problem names the parameter. */
export const readDeclarations = (raw: unknown, path: Path, fail: Fail): Map<string, ParameterDeclaration> => {
  const out = new Map<string, ParameterDeclaration>();
  if (raw === undefined || raw === null) return out;
  if (!isRecord(raw)) fail(path, 'parameters must be a map of name to {type, default}');
  for (const [name, d] of Object.entries(raw)) {
    if (!isRecord(d)) fail([...path, name], 'a parameter must be a map with a type');
    if (!types.includes(String(d.type))) fail([...path, name, 'type'], `unknown parameter type ${JSON.stringify(d.type)}: use one of ${types.join(', ')}`);
    if (d.type === 'enum' && !Array.isArray(d.enum)) fail([...path, name, 'enum'], 'an enum parameter needs an enum list');
    for (const k of Object.keys(d))
      if (!['type', 'default', 'enum', 'description'].includes(k)) fail([...path, name, k], `unknown key ${k} in a parameter declaration`);
    out.set(name, d as unknown as ParameterDeclaration);
  }
  return out;
};

const check = (d: ParameterDeclaration, value: unknown, path: Path, fail: Fail): unknown => {
  switch (d.type) {
    case 'string':
      if (typeof value === 'number') return String(value);
      if (typeof value !== 'string') fail(path, `expected a string, got ${JSON.stringify(value)}`);
      return value;
    case 'env_var_name':
      if (typeof value !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value))
        fail(path, `expected an environment variable name, got ${JSON.stringify(value)}`);
      return value;
    case 'boolean': {
      // CircleCI takes YAML 1.1's words for booleans too
      const word = typeof value === 'string' ? value.toLowerCase() : undefined;
      if (word !== undefined && ['y', 'yes', 'on', 'true'].includes(word)) return true;
      if (word !== undefined && ['n', 'no', 'off', 'false'].includes(word)) return false;
      if (typeof value !== 'boolean') fail(path, `expected a boolean, got ${JSON.stringify(value)}`);
      return value;
    }
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) fail(path, `expected an integer, got ${JSON.stringify(value)}`);
      return value;
    case 'enum':
      if (!d.enum!.includes(value)) fail(path, `expected one of ${d.enum!.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(value)}`);
      return value;
    case 'steps':
      if (value === null) return [];
      if (!Array.isArray(value)) fail(path, 'expected a list of steps');
      return value;
    case 'executor':
      if (typeof value !== 'string' && !isRecord(value)) fail(path, 'expected an executor name or {name, …parameters}');
      return value;
  }
};

/**
 * The values for declared parameters: given ones checked against their type, defaults for the rest.
 * A given parameter that is not declared, or a declared one with no default and no value, is a problem.
 */
export const bindParameters = (
  declared: ReadonlyMap<string, ParameterDeclaration>,
  given: Record<string, unknown>,
  path: Path,
  fail: Fail,
  what: string,
): Map<string, unknown> => {
  const values = new Map<string, unknown>();
  for (const name of Object.keys(given))
    if (!declared.has(name)) fail([...path, name], `${what} has no parameter ${name}${declared.size ? ` (it has ${[...declared.keys()].join(', ')})` : ''}`);
  for (const [name, d] of declared) {
    if (Object.hasOwn(given, name)) values.set(name, check(d, given[name], [...path, name], fail));
    else if (d.default !== undefined) values.set(name, d.type === 'steps' && d.default === null ? [] : d.default);
    else if (d.type === 'steps') values.set(name, []);
    else fail(path, `${what} needs parameter ${name} (${d.type}), which has no default`);
  }
  return values;
};

/** An expression between `<<` and `>>` that Gyre substitutes; anything else (a shell heredoc) is left alone. */
const expression = /(?<!\\)<<\s*((?:pipeline|parameters|matrix)\.[A-Za-z0-9_.-]+)\s*>>/g;
const whole = /^\s*(?<!\\)<<\s*((?:pipeline|parameters|matrix)\.[A-Za-z0-9_.-]+)\s*>>\s*$/;
const section = /(?<!\\)<<([#^])\s*((?:pipeline|parameters|matrix)\.[A-Za-z0-9_.-]+)\s*>>([\s\S]*?)<<\/\s*\2\s*>>/g;

export type Lookup = (name: string) => { found: true; value: unknown } | { found: false };

/**
 * Substitutes `<< … >>` in every string of `value` whose namespace `handles` claims. A string that is
 * one expression takes the value's own type (a boolean stays a boolean, steps stay a list); sections
 * `<<# x >>…<</ x >>` keep their text when x is truthy, `<<^ x >>` when it is not.
 */
export const substitute = (value: unknown, handles: (name: string) => boolean, lookup: Lookup, path: Path, fail: Fail): unknown => {
  const resolve = (name: string, at: Path) => {
    const r = lookup(name);
    if (!r.found) fail(at, `unknown ${name.startsWith('pipeline.') ? 'pipeline value' : 'parameter'} << ${name} >>`);
    return r.value;
  };
  const text = (v: unknown) => (typeof v === 'string' ? v : v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const walk = (v: unknown, at: Path): unknown => {
    if (typeof v === 'string') {
      if (!v.includes('<<')) return v;
      let s = v.replace(section, (m, kind: string, name: string, body: string) =>
        handles(name) ? ((kind === '#') === truthy(resolve(name, at)) ? body : '') : m,
      );
      const one = whole.exec(s);
      if (one && handles(one[1]!)) return resolve(one[1]!, at);
      s = s.replace(expression, (m, name: string) => (handles(name) ? text(resolve(name, at)) : m));
      return s;
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...at, i]));
    // built with fromEntries, so a key such as __proto__ stays a key
    if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.includes('<<') ? String(walk(k, at)) : k, walk(x, [...at, k])]));
    return v;
  };
  return walk(value, path);
};

/** After every substitution: `\<<` was CircleCI's way to write a literal `<<`. */
export const unescapeLiterals = (value: unknown): unknown => {
  if (typeof value === 'string') return value.includes('\\<<') ? value.replace(/\\<</g, '<<') : value;
  if (Array.isArray(value)) return value.map(unescapeLiterals);
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unescapeLiterals(v)]));
  return value;
};

export const failAt =
  (file: string, lineOf: (p: Path) => number | null): Fail =>
  (path, message) => {
    throw new ProblemError({ file, line: lineOf(path), key: keyOf(path), message });
  };
