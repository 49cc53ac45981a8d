import { RE2JS } from 're2js';

export interface WholeMatch {
  test(name: string): boolean;
}

/**
 * A config's regular expression (`/…/` or bare), matched against a whole name. RE2, as CircleCI's Go
 * regexp is: the same syntax (no lookaround, no backreferences) and matching in linear time, so no
 * pattern in a config can stall the server.
 */
export const wholeMatch = (pattern: string): WholeMatch | { error: string } => {
  const body = /^\/(.*)\/$/s.exec(pattern)?.[1] ?? pattern;
  try {
    const re = RE2JS.compile(body);
    return { test: (name) => re.matches(name) };
  } catch (e) {
    return { error: `${pattern} is not a regular expression CircleCI takes (RE2 syntax): ${(e as Error).message.replace(/^error parsing regexp: /, '')}` };
  }
};
