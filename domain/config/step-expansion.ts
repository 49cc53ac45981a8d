import { evaluate } from './logic.ts';
import type { ConfigLimits } from './limits.ts';
import type { Path } from './problems.ts';
import { instantiate, lookupAnywhere, missing, type Scope } from './scopes.ts';
import { builtinSteps, requiredStepKeys } from './steps.ts';
import { isRecord } from './values.ts';

const maxDepth = 50;

/**
 * What expanding one config shares: its own scope, whether it is version 2.1 (checked closely), and
 * how many steps it has expanded so far, over all its jobs.
 */
export interface Expansion {
  readonly root: Scope;
  readonly modern: boolean;
  readonly counted: { steps: number };
  readonly limits: ConfigLimits;
}

/** A built-in step, checked and normalized: a bare name, or `{name: args}` (a `run` string becomes `{run: {command}}`). */
const builtinStep = (x: Expansion, name: string, keys: ReadonlyArray<string>, args: unknown, at: Path, scope: Scope): unknown => {
  const required = requiredStepKeys[name] ?? [];
  if (args === undefined || args === null) {
    if (x.modern && required.length) scope.fail(at, `${name} needs ${required.map((r) => r.join(' or ')).join(' and ')}`);
    return name;
  }
  if ((name === 'run' || name === 'deploy') && typeof args === 'string') return { [name]: { command: args } };
  if (!isRecord(args)) return scope.fail(at, `${name} takes a map of ${keys.join(', ')}`);
  if (x.modern) {
    for (const k of Object.keys(args)) if (!keys.includes(k)) scope.fail([...at, k], `unknown key ${k} in a ${name} step (it takes ${keys.join(', ')})`);
    for (const need of required) if (!need.some((k) => args[k] !== undefined)) scope.fail(at, `${name} needs ${need.join(' or ')}`);
  }
  return { [name]: args };
};

/**
 * Steps as a job runs them: built-in steps normalized, commands inlined with their parameters,
 * `when`/`unless` decided, and `steps` parameters spliced in place.
 */
export const expandSteps = (x: Expansion, rawSteps: unknown, at: Path, scope: Scope, depth: number): unknown[] => {
  if (rawSteps === undefined || rawSteps === null) return [];
  x.counted.steps += Array.isArray(rawSteps) ? rawSteps.length : 0;
  // commands that each call others many times can multiply a small file into millions of steps
  if (x.counted.steps > x.limits.steps)
    scope.fail(at, `the config expands to more than ${x.limits.steps} steps (the limit of expanded steps): do commands call each other in a loop?`);
  if (!Array.isArray(rawSteps)) return scope.fail(at, 'steps must be a list');
  return rawSteps.flatMap((step, i) => expandStep(x, step, [...at, i], scope, depth));
};

const expandStep = (x: Expansion, step: unknown, p: Path, scope: Scope, depth: number): unknown[] => {
  if (Array.isArray(step)) return expandSteps(x, step, p, scope, depth);
  let name: string;
  let args: unknown;
  if (typeof step === 'string') [name, args] = [step, undefined];
  else if (isRecord(step)) {
    const keys = Object.keys(step);
    if (keys.length !== 1) scope.fail(p, `a step is one name with its arguments, not ${keys.length ? keys.join(', ') : 'an empty map'}`);
    [name, args] = [keys[0]!, step[keys[0]!]];
  } else return scope.fail(p, 'a step is a name, or a map of one name to its arguments');
  if (name === 'when' || name === 'unless') {
    if (!isRecord(args) || !('condition' in args)) scope.fail([...p, name], `${name} takes condition and steps`);
    const holds = evaluate((args as Record<string, unknown>).condition, [...p, name, 'condition'], scope.fail);
    return holds === (name === 'when') ? expandSteps(x, (args as Record<string, unknown>).steps, [...p, name, 'steps'], scope, depth) : [];
  }
  // `steps: << parameters.steps >>` splices a list of steps in place
  if (name === 'steps') return expandSteps(x, args, [...p, name], scope, depth);
  // CircleCI 2.0 took the built-in steps' names with dashes too (store-test-results)
  if (!builtinSteps[name] && builtinSteps[name.replace(/-/g, '_')]) name = name.replace(/-/g, '_');
  const builtin = builtinSteps[name];
  if (builtin) return [builtinStep(x, name, builtin, args, [...p, name], scope)];
  const found = lookupAnywhere(x.root, scope, 'commands', name);
  if (!found) return scope.fail(p, `unknown step ${name}: neither a built-in step nor a command (${missing(x.root, 'command', name, scope)})`);
  if (depth > maxDepth) scope.fail(p, `commands call each other more than ${maxDepth} deep: does ${name} call itself?`);
  if (args !== undefined && args !== null && !isRecord(args)) scope.fail([...p, name], `command ${name} takes a map of parameters`);
  const c = instantiate(found, (args ?? {}) as Record<string, unknown>, [...p, name], scope, `command ${name}`);
  for (const k of Object.keys(c.body)) if (k !== 'steps' && k !== 'description') c.scope.fail([...c.path, k], `unknown key ${k} in command ${name}`);
  return expandSteps(x, c.body.steps, [...c.path, 'steps'], c.scope, depth + 1);
};
