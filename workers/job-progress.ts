import type { UseCases } from '../application/dependencies.ts';
import { tellWorkflow } from '../application/job-progress.ts';
import type { Reactor } from './reactor.ts';

/**
 * Makes sure the workflow hears how its jobs run (`job.task.claim` starts a job, `job.finish` ends
 * it). Dispatch tells it at once, in the request that made the event; this reactor is what still
 * tells it when that request died in between.
 */
export const jobProgress = (deps: UseCases): Reactor => ({
  name: 'job-progress',
  handles: [{ exact: 'job.task.claim' }, { exact: 'job.finish' }],
  reads: [],
  react: (e) => tellWorkflow(deps, e),
});
