import { isDeepStrictEqual } from 'node:util';
import { readFilters } from './filters.ts';
import { expandJob } from './jobs.ts';
import { evaluate } from './logic.ts';
import { substitute, type Fail } from './parameters.ts';
import type { ProcessedJob, ProcessedWorkflow, WorkflowJob } from './processed.ts';
import type { ConfigLimits } from './limits.ts';
import type { Attempt, Path } from './problems.ts';
import { section } from './scopes.ts';
import { expandSteps, type Expansion } from './step-expansion.ts';
import { workflowJobKeys } from './steps.ts';
import { isRecord } from './values.ts';

/** A workflow's jobs as unrolled so far, each with its requires as written, and what each alias (a matrix job's name) stands for. */
interface Unrolled {
  readonly entries: Array<{ job: WorkflowJob; rawRequires: string[] }>;
  readonly names: Set<string>;
  readonly aliases: Map<string, string[]>;
}

/**
 * The config's workflows (without any, a job named build is run alone), each workflow's problems
 * kept apart; and the jobs they run, expanded once each. A workflow whose `when` does not hold, or
 * whose `unless` does, is left out.
 */
export const processWorkflows = (
  x: Expansion,
  rawWorkflows: unknown,
  attempt: Attempt,
): { jobs: Record<string, ProcessedJob>; workflows: Record<string, ProcessedWorkflow> } => {
  const jobs: Record<string, ProcessedJob> = {};
  const workflows: Record<string, ProcessedWorkflow> = {};
  const declared = rawWorkflows === undefined ? (x.root.jobs.build !== undefined ? { workflow: { jobs: ['build'] } } : undefined) : rawWorkflows;
  if (declared === undefined) x.root.fail([], 'no workflows, and no job named build to run without one');
  for (const [name, wf] of Object.entries(section(declared, 'workflows', x.root.fail))) {
    if (name === 'version') continue;
    attempt(() => {
      const processed = processWorkflow(x, name, wf, jobs, attempt);
      if (processed) workflows[name] = processed;
    });
  }
  return { jobs, workflows };
};

const processWorkflow = (x: Expansion, wfName: string, wf: unknown, jobs: Record<string, ProcessedJob>, attempt: Attempt): ProcessedWorkflow | undefined => {
  const fail: Fail = x.root.fail;
  const at: Path = ['workflows', wfName];
  if (!isRecord(wf)) fail(at, 'a workflow is a map with jobs');
  for (const k of Object.keys(wf))
    if (!['jobs', 'triggers', 'when', 'unless', 'max_auto_reruns'].includes(k)) fail([...at, k], `unknown key ${k} in workflow ${wfName}`);
  if (wf.when !== undefined && !evaluate(wf.when, [...at, 'when'], fail)) return undefined;
  if (wf.unless !== undefined && evaluate(wf.unless, [...at, 'unless'], fail)) return undefined;
  if (!Array.isArray(wf.jobs) || wf.jobs.length === 0) fail([...at, 'jobs'], `workflow ${wfName} needs a list of jobs`);
  const unrolled: Unrolled = { entries: [], names: new Set(), aliases: new Map() };
  for (const [i, entry] of (wf.jobs as unknown[]).entries()) attempt(() => unroll(x, wfName, entry, [...at, 'jobs', i], jobs, unrolled));
  const resolved = resolveRequires(unrolled);
  checkCycles(resolved, [...at, 'jobs'], wfName, fail);
  return { jobs: resolved, ...(wf.triggers !== undefined ? { triggers: wf.triggers } : {}) };
};

/** The parameter combinations a matrix unrolls to, less those it excludes; without a matrix, one empty one. */
const combinations = (matrix: unknown, at: Path, fail: Fail, limits: ConfigLimits): Array<Record<string, unknown>> => {
  if (matrix === undefined) return [{}];
  if (!isRecord(matrix) || !isRecord(matrix.parameters)) fail([...at, 'matrix'], 'matrix takes parameters: {name: [values]}');
  const m = matrix as { parameters: Record<string, unknown>; exclude?: unknown; alias?: unknown };
  let count = 1;
  for (const [k, vs] of Object.entries(m.parameters)) {
    if (!Array.isArray(vs) || vs.length === 0) fail([...at, 'matrix', 'parameters', k], 'a matrix parameter takes a list of values');
    count *= vs.length;
  }
  // counted before they are made: a few lists of ten values make millions of jobs
  if (count > limits.matrixCombinations)
    fail([...at, 'matrix'], `the matrix makes ${count} jobs, more than ${limits.matrixCombinations} (the limit of matrix combinations)`);
  let all: Array<Record<string, unknown>> = [{}];
  for (const [k, vs] of Object.entries(m.parameters)) all = all.flatMap((c) => (vs as unknown[]).map((v) => ({ ...c, [k]: v })));
  const exclude =
    m.exclude === undefined ? [] : Array.isArray(m.exclude) ? m.exclude : fail([...at, 'matrix', 'exclude'], 'exclude takes a list of parameter maps');
  const excluded = new Set((exclude as unknown[]).map(combinationKey));
  return all.filter((c) => !excluded.has(combinationKey(c)));
};

/** The same for two combinations whatever the order of their parameters (an exclude is written in any order). */
const combinationKey = (c: unknown): string =>
  isRecord(c)
    ? JSON.stringify(
        Object.keys(c)
          .sort()
          .map((k) => [k, c[k]]),
      )
    : JSON.stringify(c);

/** One entry of a workflow's `jobs:`: a job, or as many as its matrix has combinations, each expanded into `jobs`. */
const unroll = (x: Expansion, wfName: string, entry: unknown, p: Path, jobs: Record<string, ProcessedJob>, unrolled: Unrolled) => {
  const fail: Fail = x.root.fail;
  const [ref, cfgRaw]: [string | undefined, unknown] =
    typeof entry === 'string'
      ? [entry, {}]
      : isRecord(entry) && Object.keys(entry).length === 1
        ? [Object.keys(entry)[0]!, Object.values(entry)[0] ?? {}]
        : [undefined, undefined];
  if (ref === undefined || !isRecord(cfgRaw)) return fail(p, 'a workflow job is a job name, or a map of one job name to its settings');
  const jp: Path = typeof entry === 'string' ? p : [...p, ref];
  const matrix = cfgRaw.matrix;
  const combos = combinations(matrix, jp, fail, x.limits);
  const alias =
    isRecord(matrix) && typeof matrix.alias === 'string' ? matrix.alias : typeof cfgRaw.name === 'string' && matrix === undefined ? cfgRaw.name : ref;
  for (const combo of combos) {
    if (unrolled.entries.length >= x.limits.jobsPerWorkflow)
      fail(jp, `workflow ${wfName} has more than ${x.limits.jobsPerWorkflow} jobs (the limit of jobs per workflow)`);
    const cfg =
      matrix === undefined
        ? cfgRaw
        : (substitute(
            Object.fromEntries(Object.entries(cfgRaw).filter(([k]) => k !== 'matrix')),
            (n) => n.startsWith('matrix.'),
            (n) => (Object.hasOwn(combo, n.slice(7)) ? { found: true, value: combo[n.slice(7)] } : { found: false }),
            jp,
            fail,
          ) as Record<string, unknown>);
    const args = { ...Object.fromEntries(Object.entries(cfg).filter(([k]) => !workflowJobKeys.includes(k))), ...combo };
    const name =
      typeof cfg.name === 'string'
        ? cfg.name
        : matrix === undefined
          ? ref
          : `${ref}-${Object.keys(combo)
              .sort()
              .map((k) => String(combo[k]))
              .join('-')}`;
    const requires =
      cfg.requires === undefined
        ? []
        : Array.isArray(cfg.requires)
          ? cfg.requires.map(String)
          : fail([...jp, 'requires'], 'requires takes a list of job names');
    const context =
      cfg.context === undefined
        ? []
        : Array.isArray(cfg.context)
          ? cfg.context.map(String)
          : typeof cfg.context === 'string'
            ? [cfg.context]
            : fail([...jp, 'context'], 'context is a name or a list of names');
    const filters = readFilters(cfg.filters, [...jp, 'filters'], fail);
    if (cfg.type !== undefined && cfg.type !== 'approval')
      fail([...jp, 'type'], `type ${JSON.stringify(cfg.type)} is not a job type: the only one is approval`);
    if (cfg.type !== 'approval') {
      const pre = expandSteps(x, cfg['pre-steps'], [...jp, 'pre-steps'], x.root, 0);
      const post = expandSteps(x, cfg['post-steps'], [...jp, 'post-steps'], x.root, 0);
      const job = expandJob(x, ref, args, jp, { pre, post });
      if (jobs[name] !== undefined && !isDeepStrictEqual(jobs[name], job)) fail(jp, `two different jobs are named ${name}: give one of them another name:`);
      jobs[name] = job;
    }
    if (unrolled.names.has(name)) fail(jp, `workflow ${wfName} has two jobs named ${name}: give one of them another name:`);
    unrolled.names.add(name);
    unrolled.entries.push({
      job: { name, ...(cfg.type === 'approval' ? { type: 'approval' as const } : {}), requires: [], context, ...(filters ? { filters } : {}) },
      rawRequires: requires,
    });
    const aliased = unrolled.aliases.get(alias);
    if (aliased) aliased.push(name);
    else unrolled.aliases.set(alias, [name]);
  }
};

/**
 * Requires by job name, an alias standing for every job it names. A requirement that names no job of
 * the workflow is kept: like one filtered out, it is ignored when the workflow runs, and a job all of
 * whose requirements are missing does not run.
 */
const resolveRequires = ({ entries, names, aliases }: Unrolled): WorkflowJob[] => {
  return entries.map((e) => {
    const requires = e.rawRequires.flatMap((r) => (names.has(r) ? [r] : (aliases.get(r) ?? [r])));
    return { ...e.job, requires: [...new Set(requires)] };
  });
};

/** A cycle in requires would hold every job in it forever. */
const checkCycles = (jobs: ReadonlyArray<WorkflowJob>, at: Path, wfName: string, fail: Fail) => {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const state = new Map<string, 'visiting' | 'done'>();
  // one trail, pushed and popped: a copy per visit made a long chain of requires quadratic
  const trail: string[] = [];
  const visit = (n: string) => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'visiting') fail(at, `the requires of workflow ${wfName} form a cycle: ${[...trail.slice(trail.indexOf(n)), n].join(' → ')}`);
    state.set(n, 'visiting');
    trail.push(n);
    for (const r of byName.get(n)!.requires) if (byName.has(r)) visit(r);
    trail.pop();
    state.set(n, 'done');
  };
  for (const j of jobs) visit(j.name);
};
