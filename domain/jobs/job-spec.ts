import { z } from 'zod';
import type { ProcessedJob } from '../config/process.ts';
import { isRecord } from '../config/values.ts';
import { Step, stepsOf } from './steps.ts';

/** What a job runs on: a built-in Docker or machine size, or a self-hosted class (`namespace/name`). */
export const ResourceClass = z.object({ kind: z.enum(['docker', 'machine', 'self-hosted']), name: z.string(), cpus: z.number(), memoryMb: z.number() });
export type ResourceClass = z.infer<typeof ResourceClass>;

/**
 * `aws_auth` of an image in Amazon ECR: access keys (each may be `$NAME`), or an OIDC role, which Gyre
 * does not support: the agent fails such a job at spin-up, saying so.
 */
const AwsAuth = z.union([z.object({ accessKeyId: z.string(), secretAccessKey: z.string() }), z.object({ oidcRoleArn: z.string() })]);
export type AwsAuth = z.infer<typeof AwsAuth>;

/** `password` (and `awsAuth.secretAccessKey`) may be `$NAME`: the agent takes it from the job's environment. */
const DockerImage = z.object({
  image: z.string(),
  name: z.string().nullable(),
  entrypoint: z.array(z.string()).nullable(),
  command: z.array(z.string()).nullable(),
  user: z.string().nullable(),
  environment: z.record(z.string(), z.string()),
  auth: z.object({ username: z.string(), password: z.string() }).nullable(),
  // jobs queued before aws_auth was kept have none
  awsAuth: AwsAuth.nullable().default(null),
});
export type DockerImage = z.infer<typeof DockerImage>;

export const Executor = z.discriminatedUnion('type', [
  z.object({ type: z.literal('docker'), images: z.array(DockerImage).min(1) }),
  z.object({ type: z.literal('machine'), image: z.string().nullable() }),
]);
export type Executor = z.infer<typeof Executor>;

/** Everything an agent needs to run a job, secrets aside (dispatch adds them when a task is claimed). */
export const JobSpec = z.object({
  jobId: z.string(),
  jobNumber: z.number().int().nullable(),
  name: z.string(),
  workflowId: z.string(),
  workflowName: z.string(),
  pipelineId: z.string(),
  pipelineNumber: z.number().int(),
  projectSlug: z.string(),
  /** The login the job runs for: the pipeline's actor, or whoever approved the approval before it. */
  runsFor: z.string(),
  contexts: z.array(z.string()),
  resourceClass: ResourceClass,
  executor: Executor,
  workingDirectory: z.string(),
  environment: z.record(z.string(), z.string()),
  shell: z.string().nullable(),
  steps: z.array(Step),
  parallelism: z.number().int().min(1).max(100),
  timeoutMs: z.number().int().positive(),
  /**
   * `fromFork`: a build of a pull request from a fork, which gets no secrets unless its project allows it.
   * `pullRequest`: the pull request built (its number, URL and head repository), for the checkout and `CIRCLE_PULL_REQUEST`.
   */
  vcs: z.object({
    repositoryUrl: z.string(),
    revision: z.string(),
    branch: z.string().nullable(),
    tag: z.string().nullable(),
    fromFork: z.boolean().default(false),
    pullRequest: z.object({ number: z.number().int(), url: z.string(), headOwner: z.string(), headRepo: z.string() }).nullable().default(null),
  }),
});
export type JobSpec = z.infer<typeof JobSpec>;

const words = (v: unknown): string[] | null => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v.split(/\s+/).filter(Boolean) : null);
const strings = (v: unknown): Record<string, string> => (isRecord(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)])) : {});

/** An OIDC role wins over keys given beside it, so that a config naming one is refused rather than run otherwise than written. */
const awsAuthOf = (v: unknown): AwsAuth | null => {
  if (!isRecord(v)) return null;
  if (v.oidc_role_arn !== undefined) return { oidcRoleArn: String(v.oidc_role_arn) };
  return { accessKeyId: String(v.aws_access_key_id ?? ''), secretAccessKey: String(v.aws_secret_access_key ?? '') };
};

/** A job's executor as its processed config names it; a job with neither `docker` nor `machine` runs on the host, as a self-hosted class would. */
export const executorOf = (job: ProcessedJob): Executor => {
  if (Array.isArray(job.docker) && job.docker.length > 0) {
    return {
      type: 'docker',
      images: job.docker.map((d) => {
        const i = isRecord(d) ? d : {};
        const auth = isRecord(i.auth) ? { username: String(i.auth.username ?? ''), password: String(i.auth.password ?? '') } : null;
        return {
          image: String(i.image ?? ''),
          name: typeof i.name === 'string' ? i.name : null,
          entrypoint: words(i.entrypoint),
          command: words(i.command),
          user: typeof i.user === 'string' ? i.user : null,
          environment: strings(i.environment),
          auth,
          awsAuth: awsAuthOf(i.aws_auth),
        };
      }),
    };
  }
  const machine = job.machine;
  return { type: 'machine', image: isRecord(machine) && typeof machine.image === 'string' ? machine.image : null };
};

export interface JobSpecInput {
  readonly job: ProcessedJob;
  readonly ids: Pick<
    JobSpec,
    'jobId' | 'jobNumber' | 'name' | 'workflowId' | 'workflowName' | 'pipelineId' | 'pipelineNumber' | 'projectSlug' | 'runsFor' | 'contexts'
  > & { readonly vcs: z.input<typeof JobSpec>['vcs'] };
  readonly resourceClass: ResourceClass;
  readonly timeoutMs: number;
}

/** The spec of a job as its processed config gives it: steps, executor, working directory, environment, parallelism. */
export const jobSpecOf = ({ job, ids, resourceClass, timeoutMs }: JobSpecInput): JobSpec =>
  JobSpec.parse({
    ...ids,
    resourceClass,
    executor: executorOf(job),
    workingDirectory: typeof job.working_directory === 'string' ? job.working_directory : '~/project',
    environment: strings(job.environment),
    shell: typeof job.shell === 'string' ? job.shell : null,
    steps: stepsOf(job.steps),
    parallelism: Math.min(100, Math.max(1, Math.trunc(Number(job.parallelism ?? 1)) || 1)),
    timeoutMs,
  });

/** How queues, agents and metrics name a class: `docker:medium`, `machine:large`, or a self-hosted `namespace/name`. */
export const resourceClassKey = (rc: Pick<ResourceClass, 'kind' | 'name'>): string => (rc.kind === 'self-hosted' ? rc.name : `${rc.kind}:${rc.name}`);
