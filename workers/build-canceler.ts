import type { UseCases } from '../application/dependencies.ts';
import { cancelClosedPullRequest, cancelRedundantWorkflows } from '../application/pull-requests.ts';
import type { Reactor } from './reactor.ts';

/**
 * Cancels builds no one needs any more: a branch's older workflows when a newer pipeline of it is
 * created (with "auto-cancel redundant builds" on), and a pull request's when it is closed. Each cancel
 * is caused by the event, and a workflow canceled once is not canceled again.
 */
export const buildCanceler = (deps: UseCases): Reactor => ({
  name: 'build-canceler',
  handles: [{ exact: 'pipeline.create' }, { exact: 'pull_request.close' }],
  reads: ['pipelines', 'projects'],
  react: (event) => (event.type === 'pipeline.create' ? cancelRedundantWorkflows(deps, event) : cancelClosedPullRequest(deps, event)),
});
