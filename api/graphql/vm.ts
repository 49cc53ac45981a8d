import { configureVmService } from '../../application/vm-service.ts';
import { vmInstances, vmPoolCounts, vmServiceSettings, type VmInstanceRow } from '../../projections/vm.ts';
import type { VmServiceSettings } from '../../domain/vm/service.ts';
import type { Services } from '../services.ts';
import { commandContextOf as context, type GraphQLContext } from './context.ts';

const instanceShape = (i: VmInstanceRow) => ({
  id: i.instanceId,
  provider: i.provider,
  vmType: i.vmType,
  cloudId: i.cloudId,
  image: i.image,
  machineType: i.machineType,
  status: i.status.toUpperCase(),
  jobId: i.task?.jobId ?? null,
  taskIndex: i.task?.taskIndex ?? null,
  reason: i.reason,
  requestedAt: i.requestedAt,
});

/** The VM service's settings with its pools' counts and live instances, read when asked for. */
const serviceShape = (s: Services, settings: VmServiceSettings | null) =>
  settings && {
    ...settings,
    pools: async () => {
      const counts = await vmPoolCounts(s.db);
      const count = (vmType: string, state: string) => counts.find((c) => c.vmType === vmType && c.state === state)?.count ?? 0;
      return settings.pools.map((p) => ({ ...p, idle: count(p.vmType, 'idle'), busy: count(p.vmType, 'busy') }));
    },
    instances: async () => (await vmInstances(s.db, { live: true, limit: 500 })).map(instanceShape),
  };

/** The VM service: its configuration (admins), pools and instances. */
export const vmResolvers = (s: Services) => ({
  Query: {
    vmService: async () => serviceShape(s, await vmServiceSettings(s.db)),
  },
  Mutation: {
    configureVmService: async (_: unknown, args: { input: unknown }, ctx: GraphQLContext) =>
      serviceShape(s, await configureVmService(s, context(ctx), args.input)),
  },
});
