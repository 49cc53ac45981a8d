import type { Nomad, NomadNode } from '../../adapters/nomad/port.ts';
import type { NomadCapacity, NomadNodeView } from '../../application/job-reads.ts';

const view = (n: NomadNode): NomadNodeView => ({
  id: n.ID,
  name: n.Name,
  datacenter: n.Datacenter,
  nodeClass: n.NodeClass ?? '',
  status: n.Status,
  eligibility: n.SchedulingEligibility,
  draining: n.Drain,
  cpuMhz: n.NodeResources?.Cpu?.CpuShares ?? 0,
  cpuCores: n.NodeResources?.Cpu?.TotalCpuCores ?? 0,
  memoryMb: n.NodeResources?.Memory?.MemoryMB ?? 0,
});

/**
 * Nomad's nodes, kept current by a blocking query on the node list: the nodes in Gyre's datacenters
 * (and node class, when one is set) for the capacity view and the metrics.
 */
export const watchNomadNodes = (
  nomad: Nomad,
  o: {
    classes: ReadonlyArray<string>;
    datacenters: ReadonlyArray<string>;
    nodeClass?: string | undefined;
    waitMs?: number;
    log: { error(o: object, m: string): void };
  },
): NomadCapacity & { start(): Promise<void>; stop(): Promise<void> } => {
  let nodes: NomadNodeView[] = [];
  const stopped = new AbortController();
  let loop: Promise<void> | null = null;
  const mine = (n: NomadNode) => o.datacenters.includes(n.Datacenter) && (!o.nodeClass || n.NodeClass === o.nodeClass);
  const take = (list: ReadonlyArray<NomadNode>) => {
    nodes = list.filter(mine).map(view);
  };
  return {
    classes: o.classes,
    nodes: () => nodes,
    async start() {
      const first = await nomad.nodes();
      take(first.value);
      let index = first.index;
      loop = (async () => {
        let backoff = 1000;
        while (!stopped.signal.aborted) {
          try {
            const next = await nomad.nodes({ index, waitMs: o.waitMs ?? 30_000, signal: stopped.signal });
            take(next.value);
            index = next.index;
            backoff = 1000;
          } catch (e) {
            if (stopped.signal.aborted) return;
            o.log.error({ err: e }, 'nomad: cannot list the nodes; trying again');
            await new Promise<void>((r) => {
              const t = setTimeout(r, backoff);
              stopped.signal.addEventListener(
                'abort',
                () => {
                  clearTimeout(t);
                  r();
                },
                { once: true },
              );
            });
            backoff = Math.min(backoff * 2, 30_000);
          }
        }
      })();
    },
    async stop() {
      stopped.abort();
      await loop;
    },
  };
};
