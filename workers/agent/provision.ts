import type { DockerExecutor } from '../../adapters/docker/executor.ts';
import type { DockerImageSpec } from '../../adapters/executor/port.ts';
import type { HostExecutor } from '../../adapters/host/executor.ts';
import type { Assignment } from '../../domain/agents/protocol.ts';
import type { Provision } from './task-runner.ts';

/** The executors an agent has: each may be missing (no Docker engine; machine jobs off). */
export interface Executors {
  readonly docker: Pick<DockerExecutor, 'prepare'> | null;
  readonly host: Pick<HostExecutor, 'prepare'> | null;
}

/** `$NAME` and `${NAME}` in a credential, from the job's environment (a project or context variable). */
const expand = (value: string, env: Readonly<Record<string, string>>) => value.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => env[name] ?? '');

/** Picks the environment a task's executor needs: containers for `docker`, a directory on the host for `machine` and self-hosted classes. */
export const provisionWith = (executors: Executors): Provision => async (a: Assignment, progress) => {
  const taskId = `${a.jobId}.${a.taskIndex}`;
  if (a.spec.executor.type === 'docker') {
    if (!executors.docker) throw new Error('this agent has no Docker engine: it cannot run docker jobs');
    const images = a.spec.executor.images.map(
      (i): DockerImageSpec => ({
        image: i.image,
        ...(i.name ? { name: i.name } : {}),
        ...(i.entrypoint ? { entrypoint: i.entrypoint } : {}),
        ...(i.command ? { command: i.command } : {}),
        ...(i.user ? { user: i.user } : {}),
        environment: i.environment,
        ...(i.auth ? { auth: { username: expand(i.auth.username, a.environment), password: expand(i.auth.password, a.environment) } } : {}),
      }),
    );
    return executors.docker.prepare({ taskId, images, cpus: a.spec.resourceClass.cpus, memoryMb: a.spec.resourceClass.memoryMb, onProgress: progress });
  }
  if (!executors.host) throw new Error('this agent does not run machine jobs on its host');
  return executors.host.prepare({ taskId });
};
