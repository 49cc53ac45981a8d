import type { UseCases } from '../application/dependencies.ts';
import { cancelClosedPullRequest, cancelIfStartedRedundant, cancelRedundantWorkflows } from '../application/pull-requests.ts';
import type { Reactor } from './reactor.ts';

/**
 * Cancels builds no one needs any more: a branch's older workflows when a newer pipeline of it is
 * created (with "auto-cancel redundant builds" on), and a pull request's when it is closed. Each cancel
 * is caused by the event, and a workflow canceled once is not canceled again. Whichever of a
 * workflow's start and the event that makes it redundant comes first in the log, one of the two
 * reactions finds the other in the read models.
 */
export const buildCanceler = (deps: UseCases): Reactor => ({
  name: 'build-canceler',
  handles: [{ exact: 'pipeline.create' }, { exact: 'pull_request.close' }, { exact: 'workflow.start' }],
  reads: ['pipelines', 'projects', 'pull_requests'],
  react: (event) => {
    if (event.type === 'pipeline.create') return cancelRedundantWorkflows(deps, event);
    if (event.type === 'pull_request.close') return cancelClosedPullRequest(deps, event);
    // a workflow that starts late, after a newer pipeline of its branch or the close of its pull request
    return cancelIfStartedRedundant(deps, event);
  },
});
