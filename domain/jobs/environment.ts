import { parseProjectSlug } from '../projects/slugs.ts';
import type { JobSpec } from './job-spec.ts';

/**
 * CircleCI's built-in variables for one task of a job. They override project and context variables
 * of the same name; the job's and a step's `environment` override them in turn (CircleCI's order).
 * `continuationKey`: a job of a setup workflow's, until the pipeline is continued (a secret: masked).
 */
export const builtinEnvironment = (spec: JobSpec, taskIndex: number, buildUrl: string, continuationKey: string | null = null): Record<string, string> => {
  const slug = parseProjectSlug(spec.projectSlug);
  const env: Record<string, string> = {
    CI: 'true',
    CIRCLECI: 'true',
    CIRCLE_SHA1: spec.vcs.revision,
    CIRCLE_JOB: spec.name,
    CIRCLE_WORKFLOW_ID: spec.workflowId,
    CIRCLE_WORKFLOW_JOB_ID: spec.jobId,
    CIRCLE_WORKFLOW_WORKSPACE_ID: spec.workflowId,
    CIRCLE_PIPELINE_ID: spec.pipelineId,
    CIRCLE_PROJECT_USERNAME: slug.org,
    CIRCLE_PROJECT_REPONAME: slug.repo,
    CIRCLE_REPOSITORY_URL: spec.vcs.repositoryUrl,
    CIRCLE_USERNAME: spec.runsFor,
    CIRCLE_WORKING_DIRECTORY: spec.workingDirectory,
    CIRCLE_BUILD_URL: buildUrl,
    CIRCLE_NODE_INDEX: String(taskIndex),
    CIRCLE_NODE_TOTAL: String(spec.parallelism),
  };
  if (spec.jobNumber !== null) env.CIRCLE_BUILD_NUM = String(spec.jobNumber);
  if (spec.vcs.branch !== null) env.CIRCLE_BRANCH = spec.vcs.branch;
  if (spec.vcs.tag !== null) env.CIRCLE_TAG = spec.vcs.tag;
  // every build of a pull request names it; a fork's also says whose fork (CircleCI's CIRCLE_PR_* are for forks only)
  const pr = spec.vcs.pullRequest;
  if (pr) {
    env.CIRCLE_PULL_REQUEST = pr.url;
    env.CIRCLE_PULL_REQUESTS = pr.url;
    if (spec.vcs.fromFork) {
      env.CIRCLE_PR_NUMBER = String(pr.number);
      env.CIRCLE_PR_USERNAME = pr.headOwner;
      env.CIRCLE_PR_REPONAME = pr.headRepo;
    }
  }
  if (continuationKey !== null) env.CIRCLE_CONTINUATION_KEY = continuationKey;
  return env;
};
