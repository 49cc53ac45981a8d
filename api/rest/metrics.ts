import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Gauge, Registry, type Metric } from 'prom-client';
import { UnauthorizedError } from '../../domain/errors.ts';
import { queueWaits } from '../../projections/jobs.ts';
import { nomadNodeUsable, resourceClassLoads, type JobReads, type ResourceClassLoad } from '../../application/job-reads.ts';
import { presentedToken } from '../auth/authenticate.ts';
import { type VmServiceSettings, vmTypes } from '../../domain/vm/service.ts';
import { vmPoolCounts, vmServiceSettings } from '../../projections/vm.ts';

/** Queue waits from a second to an hour and more, in seconds. */
export const queueWaitBuckets = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600] as const;

/**
 * A histogram whose state is the read model: at each scrape it is counted in SQL from the task rows
 * (queued_at, started_at), so it counts each claimed task once, across restarts and on every server
 * behind a load balancer alike, and never drifts from the jobs the API shows.
 */
const queueWaitHistogram = (deps: JobReads) => {
  const name = 'gyre_job_queue_wait_seconds';
  const help = 'How long job tasks waited in their resource class queue before an agent claimed them (queued to started).';
  const get = async () => {
    const rows = await queueWaits(deps.db, queueWaitBuckets);
    const values = rows.flatMap((r) => {
      const labels = { resource_class: r.resourceClass };
      return [
        ...queueWaitBuckets.map((le, i) => ({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: r.atMost[i]! })),
        { metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: r.count },
        { metricName: `${name}_sum`, labels, value: r.sumSeconds },
        { metricName: `${name}_count`, labels, value: r.count },
      ];
    });
    return { name, help, type: 'histogram', values, aggregator: 'sum' };
  };
  // prom-client formats any metric object with a name and get(); its types list only its own classes
  return { name, help, type: 'histogram', aggregator: 'sum', get, getForPromString: get, reset: () => undefined } as unknown as Metric;
};

/** Nomad's nodes as last listed: how many by state, and what the ones Nomad places new tasks on offer. */
const nomadGauges = (registry: Registry, nomad: NonNullable<JobReads['nomad']>) => {
  const state = (n: ReturnType<typeof nomad.nodes>[number]) =>
    n.status !== 'ready' ? n.status : n.draining ? 'draining' : n.eligibility === 'eligible' ? 'eligible' : 'ineligible';
  new Gauge({
    name: 'gyre_nomad_nodes',
    help: 'Nomad client nodes that may run Gyre jobs, by state: eligible (new tasks go there), ineligible, draining, or not ready (down, …).',
    labelNames: ['datacenter', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      const counts = new Map<string, { datacenter: string; state: string; n: number }>();
      for (const node of nomad.nodes()) {
        const key = `${node.datacenter}\n${state(node)}`;
        const c = counts.get(key) ?? { datacenter: node.datacenter, state: state(node), n: 0 };
        c.n += 1;
        counts.set(key, c);
      }
      for (const c of counts.values()) this.set({ datacenter: c.datacenter, state: c.state }, c.n);
    },
  });
  const offered = (name: string, help: string, value: (n: ReturnType<typeof nomad.nodes>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['datacenter'],
      registers: [registry],
      collect() {
        this.reset();
        for (const n of nomad.nodes().filter(nomadNodeUsable)) this.inc({ datacenter: n.datacenter }, value(n));
      },
    });
  offered('gyre_nomad_cpu_mhz', 'CPU (MHz) of the eligible, ready Nomad nodes that may run Gyre jobs.', (n) => n.cpuMhz);
  offered('gyre_nomad_memory_mb', 'Memory (MB) of the eligible, ready Nomad nodes that may run Gyre jobs.', (n) => n.memoryMb);
};

/** The VM service's pools: prescaled size, and instances idle or busy, by VM type (zero until configured). */
const vmGauges = (registry: Registry, deps: JobReads) => {
  let current: Promise<{ settings: VmServiceSettings | null; counts: Awaited<ReturnType<typeof vmPoolCounts>> }> | null = null;
  const read = () =>
    (current ??= Promise.all([vmServiceSettings(deps.db), vmPoolCounts(deps.db)])
      .then(([settings, counts]) => ({ settings, counts }))
      .finally(() => setImmediate(() => (current = null))));
  new Gauge({
    name: 'gyre_vm_pool_prescaled',
    help: 'Idle VMs the VM service keeps started, by VM type (its configured prescaled size).',
    labelNames: ['vm_type'],
    registers: [registry],
    async collect() {
      const { settings } = await read();
      this.reset();
      for (const t of vmTypes) this.set({ vm_type: t }, settings?.pools.find((p) => p.vmType === t)?.prescaled ?? 0);
    },
  });
  new Gauge({
    name: 'gyre_vm_instances',
    help: 'VMs the VM service started and has not terminated, by VM type and state: idle (prescaled, no task yet) or busy (given a task).',
    labelNames: ['vm_type', 'state'],
    registers: [registry],
    async collect() {
      const { counts } = await read();
      this.reset();
      for (const t of vmTypes)
        for (const state of ['idle', 'busy'] as const) this.set({ vm_type: t, state }, counts.find((c) => c.vmType === t && c.state === state)?.count ?? 0);
    },
  });
};

/** One registry per Gyre (tests start many in one process): gauges and the histogram read the read models when scraped. */
export const createMetricsRegistry = (deps: JobReads): Registry => {
  const registry = new Registry();
  // the three gauges of one scrape share one read
  let current: Promise<ResourceClassLoad[]> | null = null;
  const loads = () => (current ??= resourceClassLoads(deps).finally(() => setImmediate(() => (current = null))));
  const gauge = (name: string, help: string, value: (l: ResourceClassLoad) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['resource_class'],
      registers: [registry],
      async collect() {
        const all = await loads();
        this.reset();
        for (const l of all) this.set({ resource_class: l.resourceClass }, value(l));
      },
    });
  gauge('gyre_jobs_queued', 'Job tasks (one per parallelism slice) waiting in their resource class queue.', (l) => l.queued);
  gauge('gyre_jobs_running', 'Job tasks running on an agent.', (l) => l.running);
  gauge('gyre_agents', 'Agents heard from within their lease (GYRE_AGENT_LEASE_MS) that serve the resource class.', (l) => l.agents);
  registry.registerMetric(queueWaitHistogram(deps));
  if (deps.nomad) nomadGauges(registry, deps.nomad);
  vmGauges(registry, deps);
  return registry;
};

const digest = (v: string) => createHash('sha256').update(v).digest();

/**
 * `GET /metrics` in Prometheus's text format. Open to anyone, as Prometheus expects a scrape target
 * to be, unless GYRE_METRICS_TOKEN is set: then only `Authorization: Bearer <that token>` is let in
 * (Prometheus's `authorization: {credentials: …}` in the scrape config).
 */
export const registerMetrics = (app: FastifyInstance, deps: JobReads, token: string | undefined) => {
  const registry = createMetricsRegistry(deps);
  const expected = token ? digest(token) : null;
  app.get('/metrics', async (req, reply) => {
    if (expected) {
      const presented = presentedToken(req.headers);
      if (typeof presented !== 'string' || presented === 'malformed' || !timingSafeEqual(digest(presented), expected)) {
        throw new UnauthorizedError('/metrics needs the metrics token: send "Authorization: Bearer <GYRE_METRICS_TOKEN>"');
      }
    }
    return reply.type(registry.contentType).send(await registry.metrics());
  });
};
