import type { UseCases, WithStore } from '../application/dependencies.ts';
import { startDecidedWorkflows } from '../application/pipelines.ts';
import type { Reactor } from './reactor.ts';

/** Starts the workflows a pipeline (`pipeline.create`) or a rerun (`workflow.retry`) decided on. */
export const workflowStarter = (deps: UseCases & WithStore): Reactor => ({
  name: 'workflow-starter',
  handles: [{ exact: 'pipeline.create' }, { exact: 'workflow.retry' }],
  react: (event) => startDecidedWorkflows(deps, event),
});
