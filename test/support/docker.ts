import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import Dockerode from 'dockerode';

let ready: Promise<Dockerode> | undefined;

/** The local Docker daemon; when none answers, scripts/docker.sh (once per run) installs and starts one. */
export const dockerForTests = (): Promise<Dockerode> =>
  (ready ??= (async () => {
    const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });
    const answers = () =>
      docker.ping().then(
        () => true,
        () => false,
      );
    if (!(await answers())) {
      execFileSync('bash', [resolve(import.meta.dirname, '../../scripts/docker.sh')], { stdio: 'inherit', timeout: 600_000 });
      if (!(await answers())) throw new Error('scripts/docker.sh ran, yet no Docker daemon answers on /var/run/docker.sock');
    }
    return docker;
  })());
