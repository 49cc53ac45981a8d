/**
 * What is wrong with a config, and where: the file (`.circleci/config.yml`, or the orb it came
 * from), the line, and the key path (`jobs.build.steps[2].run`). Processing collects them; it never
 * throws on bad input.
 */
export interface ConfigProblem {
  readonly file: string;
  readonly line: number | null;
  readonly key: string;
  readonly message: string;
}

export const describeProblem = (p: ConfigProblem): string => `${p.file}${p.line ? `:${p.line}` : ''}: ${p.key ? `${p.key}: ` : ''}${p.message}`;

export type Path = ReadonlyArray<string | number>;
export const keyOf = (path: Path): string => path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '');

/** Thrown only inside processing, to stop one branch of the work; the processor turns it into a problem. */
export class ProblemError extends Error {
  constructor(readonly problem: ConfigProblem) {
    super(describeProblem(problem));
  }
}

/** Runs one part of the work; its problem is kept and the rest goes on. */
export type Attempt = <T>(work: () => T) => T | undefined;

/** The problems of one processing, and the `attempt` that collects them. */
export const problemCollector = (): { readonly problems: ConfigProblem[]; readonly attempt: Attempt } => {
  const problems: ConfigProblem[] = [];
  const attempt: Attempt = (work) => {
    try {
      return work();
    } catch (e) {
      if (!(e instanceof ProblemError)) throw e;
      problems.push(e.problem);
      return undefined;
    }
  };
  return { problems, attempt };
};
