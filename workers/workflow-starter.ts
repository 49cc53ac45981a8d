import type { UseCases, WithStore } from '../application/dependencies.ts';
import { startDecidedWorkflows } from '../application/pipelines.ts';
import type { Reactor } from './reactor.ts';

/** Starts the workflows a pipeline (`pipeline.create`), its continuation (`pipeline.continue`) or a rerun (`workflow.retry`) decided on. */
export const workflowStarter = (deps: UseCases & WithStore): Reactor => ({
  name: 'workflow-starter',
  handles: [{ exact: 'pipeline.create' }, { exact: 'pipeline.continue' }, { exact: 'workflow.retry' }],
  // the pipeline, and who it runs for: their account, organizations and teams, and the contexts they may use
  reads: ['pipelines', 'users', 'memberships', 'contexts', 'projects'],
  react: (event) => startDecidedWorkflows(deps, event),
});
