import { parseSource } from '../config/source.ts';
import type { ConfigProblem } from '../config/problems.ts';

const orbKeys = ['version', 'description', 'display', 'orbs', 'commands', 'jobs', 'executors', 'examples'];

/** What a published orb must be: YAML, a map, with only the keys an orb has. */
export const checkOrbSource = (source: string, name: string): ConfigProblem[] => {
  const parsed = parseSource(source, `orb ${name}`);
  if (!parsed.source) return parsed.problems;
  const value = parsed.source.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return [{ file: `orb ${name}`, line: null, key: '', message: 'an orb is a map of commands, jobs and executors' }];
  return Object.keys(value)
    .filter((k) => !orbKeys.includes(k))
    .map((k) => ({ file: `orb ${name}`, line: parsed.source!.lineOf([k]), key: k, message: `unknown key ${k}: an orb has ${orbKeys.join(', ')}` }));
};
