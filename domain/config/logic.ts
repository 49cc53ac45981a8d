import { isDeepStrictEqual } from 'node:util';
import type { Fail } from './parameters.ts';
import type { Path } from './problems.ts';
import { wholeMatch } from './regex.ts';
import { isRecord, truthy } from './values.ts';

/** `when`/`unless` logic: a literal, or `and`, `or`, `not`, `equal`, `matches: {pattern, value}`. */
export const evaluate = (condition: unknown, path: Path, fail: Fail): boolean => {
  if (!isRecord(condition)) return truthy(condition);
  const keys = Object.keys(condition);
  if (keys.length !== 1) fail(path, `a logic statement has one key (and, or, not, equal, matches), not ${keys.join(', ') || 'none'}`);
  const [op] = keys as [string];
  const arg = condition[op];
  const list = () => {
    if (!Array.isArray(arg) || arg.length === 0) fail([...path, op], `${op} takes a list that is not empty`);
    return arg as unknown[];
  };
  switch (op) {
    case 'and':
      return list().every((c, i) => evaluate(c, [...path, op, i], fail));
    case 'or':
      return list().some((c, i) => evaluate(c, [...path, op, i], fail));
    case 'not':
      return !evaluate(arg, [...path, op], fail);
    case 'equal': {
      const [first, ...rest] = list();
      return rest.every((x) => isDeepStrictEqual(x, first));
    }
    case 'matches': {
      if (!isRecord(arg) || typeof arg.pattern !== 'string') fail([...path, op], 'matches takes {pattern, value}');
      const re = wholeMatch((arg as { pattern: string }).pattern);
      if ('error' in re) return fail([...path, op, 'pattern'], re.error);
      return re.test(String((arg as { value?: unknown }).value ?? ''));
    }
    default:
      return fail([...path, op], `unknown logic operator ${op}: use and, or, not, equal or matches`);
  }
};
