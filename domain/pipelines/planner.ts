import type { Filters } from '../config/filters.ts';
import { runsFor } from '../config/filters.ts';
import type { ProcessedConfig, ProcessedWorkflow } from '../config/process.ts';

export interface PlannedJob {
  readonly name: string;
  readonly type: 'build' | 'approval';
  /** Only requirements that run in this pipeline: the others are ignored, as CircleCI does. */
  readonly requires: ReadonlyArray<string>;
  readonly context: ReadonlyArray<string>;
}
export interface PlannedWorkflow {
  readonly name: string;
  readonly jobs: ReadonlyArray<PlannedJob>;
}

/**
 * Which workflows and jobs a pipeline runs for a branch or a tag. A job runs when its filters let the
 * branch or tag through (on a tag, only jobs with a tags filter run). A requirement that does not run
 * is ignored, but a job all of whose requirements do not run does not run either. Workflows with
 * schedule triggers run only on their schedule: a pipeline a legacy schedule started (`scheduled`,
 * the names of the workflows it was for) runs those and nothing else.
 */
export const planWorkflows = (
  config: ProcessedConfig,
  git: { branch?: string | null; tag?: string | null },
  scheduled?: ReadonlyArray<string> | null,
): PlannedWorkflow[] => {
  const planned: PlannedWorkflow[] = [];
  for (const [name, wf] of Object.entries(config.workflows)) {
    if (scheduled ? wf.triggers === undefined || !scheduled.includes(name) : wf.triggers !== undefined) continue;
    const jobs = planWorkflow(wf, git);
    if (jobs.length) planned.push({ name, jobs });
  }
  return planned;
};

/** The jobs of one workflow that run for a branch or a tag, whatever its triggers. */
export const planWorkflow = (wf: ProcessedWorkflow, git: { branch?: string | null; tag?: string | null }): PlannedJob[] => {
  const runs = new Map<string, PlannedJob>();
  // in requires order, so a job's requirements are decided before it
  const pending = [...wf.jobs];
  const decided = new Set<string>();
  const all = new Set(wf.jobs.map((j) => j.name));
  while (pending.length) {
    const i = pending.findIndex((j) => j.requires.every((r) => decided.has(r) || !all.has(r)));
    const job = pending.splice(i === -1 ? 0 : i, 1)[0]!;
    decided.add(job.name);
    if (!runsFor(job.filters as Filters | undefined, git)) continue;
    const requires = job.requires.filter((r) => runs.has(r));
    if (job.requires.length > 0 && requires.length === 0) continue;
    runs.set(job.name, { name: job.name, type: job.type === 'approval' ? 'approval' : 'build', requires, context: job.context });
  }
  return wf.jobs.filter((j) => runs.has(j.name)).map((j) => runs.get(j.name)!);
};
