import type { DockerExecutor } from '../../adapters/docker/executor.ts';
import type { Ecr } from '../../adapters/ecr/port.ts';
import type { DockerImageSpec } from '../../adapters/executor/port.ts';
import type { HostExecutor } from '../../adapters/host/executor.ts';
import type { Assignment } from '../../domain/agents/protocol.ts';
import { DomainError } from '../../domain/errors.ts';
import type { AwsAuth } from '../../domain/jobs/job-spec.ts';
import type { Provision } from './task-runner.ts';

/** The executors an agent has: each may be missing (no Docker engine; machine jobs off). */
export interface Executors {
  readonly docker: Pick<DockerExecutor, 'prepare'> | null;
  readonly host: Pick<HostExecutor, 'prepare'> | null;
}

/** What the agent asks for registry credentials: Amazon ECR for images with `aws_auth`. */
export interface Registries {
  readonly ecr: Ecr;
}

/** `$NAME` and `${NAME}` in a credential, from the job's environment (a project or context variable). */
const expand = (value: string, env: Readonly<Record<string, string>>) =>
  value.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => env[name] ?? '');

/**
 * Picks the environment a task's executor needs: containers for `docker`, a directory on the host for
 * `machine` and self-hosted classes. An image's `aws_auth` becomes credentials the docker executor
 * asks for only when it must pull the image, so an image the engine has costs no call to ECR.
 */
export const provisionWith =
  (executors: Executors, registries: Registries): Provision =>
  async (a: Assignment, progress) => {
    const taskId = `${a.jobId}.${a.taskIndex}`;
    if (a.spec.executor.type === 'docker') {
      if (!executors.docker) throw new Error('this agent has no Docker engine: it cannot run docker jobs');
      const oidc = a.spec.executor.images.find((i) => i.awsAuth && 'oidcRoleArn' in i.awsAuth);
      if (oidc)
        throw new DomainError(
          'AWS_OIDC_UNSUPPORTED',
          `the image ${oidc.image} names aws_auth.oidc_role_arn, which Gyre does not support: give its aws_auth aws_access_key_id and aws_secret_access_key instead (as $NAME from a project or context variable)`,
        );
      const fromEcr = (image: string, awsAuth: Extract<AwsAuth, { accessKeyId: string }>) => () => {
        progress(`Getting credentials for ${image} from Amazon ECR`);
        return registries.ecr.registryCredentials(image, {
          accessKeyId: expand(awsAuth.accessKeyId, a.environment),
          secretAccessKey: expand(awsAuth.secretAccessKey, a.environment),
        });
      };
      const images = a.spec.executor.images.map(
        (i): DockerImageSpec => ({
          image: i.image,
          ...(i.name ? { name: i.name } : {}),
          ...(i.entrypoint ? { entrypoint: i.entrypoint } : {}),
          ...(i.command ? { command: i.command } : {}),
          ...(i.user ? { user: i.user } : {}),
          environment: i.environment,
          ...(i.auth ? { auth: { username: expand(i.auth.username, a.environment), password: expand(i.auth.password, a.environment) } } : {}),
          ...(i.awsAuth && 'accessKeyId' in i.awsAuth && !i.auth ? { auth: fromEcr(i.image, i.awsAuth) } : {}),
        }),
      );
      return executors.docker.prepare({ taskId, images, cpus: a.spec.resourceClass.cpus, memoryMb: a.spec.resourceClass.memoryMb, onProgress: progress });
    }
    if (!executors.host) throw new Error('this agent does not run machine jobs on its host');
    return executors.host.prepare({ taskId });
  };
