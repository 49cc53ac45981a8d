import { readFileSync } from 'node:fs';
import { createNomadClient } from '../adapters/nomad/http-client.ts';
import type { NomadJobSettings } from '../adapters/nomad/job-spec.ts';
import { NomadError } from '../adapters/nomad/port.ts';
import { servedByNomad } from '../domain/nomad/classes.ts';
import { type Config, ConfigError } from './config.ts';

const pem = (variable: string, path: string | undefined): Buffer | undefined => {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(`invalid configuration:\n  ${variable}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
};

/**
 * Nomad as the configuration asks for it (null without GYRE_NOMAD_ADDR): its client, checked at start-up
 * to answer (its leader) and to take Gyre's token (its nodes), the job settings and which classes it serves.
 */
export const connectNomad = async (config: Config, publicUrl: string) => {
  if (!config.GYRE_NOMAD_ADDR) return null;
  const nomad = createNomadClient({
    address: config.GYRE_NOMAD_ADDR,
    namespace: config.GYRE_NOMAD_NAMESPACE,
    token: config.GYRE_NOMAD_TOKEN,
    region: config.GYRE_NOMAD_REGION,
    tls: {
      ca: pem('NOMAD_CACERT', config.NOMAD_CACERT),
      cert: pem('NOMAD_CLIENT_CERT', config.NOMAD_CLIENT_CERT),
      key: pem('NOMAD_CLIENT_KEY', config.NOMAD_CLIENT_KEY),
    },
  });
  try {
    await nomad.leader();
    await nomad.nodes();
  } catch (e) {
    nomad.close();
    if (!(e instanceof NomadError)) throw e;
    const variable = e.status === 401 || e.status === 403 ? 'GYRE_NOMAD_TOKEN' : 'GYRE_NOMAD_ADDR';
    throw new ConfigError(
      `invalid configuration:\n  ${variable}: Nomad at ${config.GYRE_NOMAD_ADDR} ${e.status === 0 ? 'does not answer' : `refused Gyre (${e.status})`}: ${e.message}`,
    );
  }
  const settings: NomadJobSettings = {
    datacenters: config.GYRE_NOMAD_DATACENTERS,
    cpu: config.GYRE_NOMAD_CPU,
    nodeClass: config.GYRE_NOMAD_NODE_CLASS,
    constraints: Object.entries(config.GYRE_NOMAD_CONSTRAINTS).flatMap(([pattern, list]) => list.map((c) => ({ pattern, ...c }))),
    agentCommand: config.GYRE_NOMAD_AGENT_COMMAND,
    gyreUrl: publicUrl,
  };
  return { nomad, settings, serves: servedByNomad(config.GYRE_NOMAD_CLASSES) };
};
