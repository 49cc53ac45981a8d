import { existsSync } from 'node:fs';
import Dockerode from 'dockerode';

/** The Docker engine at DOCKER_HOST or /var/run/docker.sock, if one answers; otherwise why not, in words. */
export const connectDocker = async (env: NodeJS.ProcessEnv = process.env): Promise<{ docker: Dockerode } | { reason: string }> => {
  if (!env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return { reason: 'no Docker engine: set DOCKER_HOST, or start Docker (/var/run/docker.sock)' };
  const docker = new Dockerode();
  try {
    await Promise.race([docker.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref())]);
    return { docker };
  } catch (e) {
    return { reason: `the Docker engine at ${env.DOCKER_HOST ?? '/var/run/docker.sock'} does not answer (${e instanceof Error ? e.message : String(e)})` };
  }
};
