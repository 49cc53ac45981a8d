import { checkDocker, resolveExecutor } from './executors.ts';
import type { ProcessedJob } from './processed.ts';
import type { Path } from './problems.ts';
import { find, instantiate, missing } from './scopes.ts';
import { expandSteps, type Expansion } from './step-expansion.ts';
import { jobKeys } from './steps.ts';
import { isRecord } from './values.ts';

/**
 * One job of the config (or of an orb, as `alias/job`) as a workflow runs it: its parameters bound to
 * `args`, its executor merged under its own keys, its steps expanded between the workflow's
 * pre-steps and post-steps.
 */
export const expandJob = (x: Expansion, ref: string, args: Record<string, unknown>, at: Path, extra: { pre: unknown[]; post: unknown[] }): ProcessedJob => {
  const found = find(x.root, 'jobs', ref);
  if (!found) return x.root.fail(at, missing(x.root, 'job', ref, x.root));
  const j = instantiate(found, args, at, x.root, `job ${ref}`);
  for (const k of Object.keys(j.body)) if (!jobKeys.includes(k)) j.scope.fail([...j.path, k], `unknown key ${k} in job ${ref}`);
  const { executor, description: _, ...own } = j.body;
  const base = executor === undefined ? {} : resolveExecutor(x.root, executor, [...j.path, 'executor'], j.scope);
  const job: Record<string, unknown> = { ...base, ...own };
  if (isRecord(base.environment) || isRecord(own.environment)) job.environment = { ...(base.environment as object), ...(own.environment as object) };
  if (job.type !== undefined && !['build', 'no-op', 'approval'].includes(String(job.type)))
    j.scope.fail([...j.path, 'type'], `job type ${JSON.stringify(job.type)} is not one of build, no-op, approval`);
  // a no-op job (and an approval) runs nothing: it needs neither an executor nor steps
  if (job.type === 'no-op' || job.type === 'approval') return { ...job, steps: [] };
  if (!['docker', 'machine', 'macos', 'windows'].some((k) => job[k] !== undefined))
    j.scope.fail(j.path, `job ${ref} has no executor: give it docker, machine, macos or executor`);
  if (job.docker !== undefined) checkDocker(job.docker, [...j.path, 'docker'], j.scope, x.modern);
  const steps = expandSteps(x, j.body.steps, [...j.path, 'steps'], j.scope, 0);
  if (!Array.isArray(j.body.steps)) j.scope.fail([...j.path, 'steps'], `job ${ref} needs a list of steps`);
  return { ...job, steps: [...extra.pre, ...steps, ...extra.post] };
};
