/**
 * A workflow's jobs laid out as a graph: each job in the column of its depth (the longest chain of
 * `requires` before it), ordered in its column by where the jobs it requires sit, so that lines cross
 * less. Pure: the page draws it as SVG.
 */

export interface GraphJob {
  readonly id: string;
  readonly dependencies: ReadonlyArray<string>;
}

export interface Placed<J> {
  readonly job: J;
  readonly column: number;
  readonly row: number;
  readonly x: number;
  readonly y: number;
}

export interface Edge {
  readonly from: string;
  readonly to: string;
  /** An SVG path from the right side of `from` to the left side of `to`. */
  readonly d: string;
}

export interface Layout<J> {
  readonly nodes: ReadonlyArray<Placed<J>>;
  readonly edges: ReadonlyArray<Edge>;
  readonly width: number;
  readonly height: number;
}

export const nodeSize = { width: 200, height: 56, columnGap: 64, rowGap: 16 };

/** Each job's depth; a dependency outside the workflow is ignored, and a cycle (never valid) is cut where it is met. */
export const depths = (jobs: ReadonlyArray<GraphJob>): Map<string, number> => {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const of = (id: string): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return 0;
    visiting.add(id);
    const deps = (byId.get(id)?.dependencies ?? []).filter((d) => byId.has(d) && d !== id);
    const d = deps.length ? Math.max(...deps.map(of)) + 1 : 0;
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  for (const j of jobs) of(j.id);
  return depth;
};

export const layout = <J extends GraphJob>(jobs: ReadonlyArray<J>, size = nodeSize): Layout<J> => {
  const depth = depths(jobs);
  const columns: J[][] = [];
  for (const j of jobs) (columns[depth.get(j.id)!] ??= []).push(j);
  const rowOf = new Map<string, number>();
  const nodes: Placed<J>[] = [];
  columns.forEach((column, c) => {
    const order = column.map((job, i) => {
      const rows = job.dependencies.flatMap((d) => (rowOf.has(d) ? [rowOf.get(d)!] : []));
      return { job, i, key: rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : i };
    });
    order.sort((a, b) => a.key - b.key || a.i - b.i);
    order.forEach(({ job }, row) => {
      rowOf.set(job.id, row);
      nodes.push({ job, column: c, row, x: c * (size.width + size.columnGap), y: row * (size.height + size.rowGap) });
    });
  });
  const at = new Map(nodes.map((n) => [n.job.id, n]));
  const edges: Edge[] = [];
  for (const n of nodes) {
    for (const d of n.job.dependencies) {
      const from = at.get(d);
      if (!from || from === n) continue;
      const x1 = from.x + size.width;
      const y1 = from.y + size.height / 2;
      const x2 = n.x;
      const y2 = n.y + size.height / 2;
      const bend = (x2 - x1) / 2;
      edges.push({ from: d, to: n.job.id, d: `M${x1} ${y1} C${x1 + bend} ${y1} ${x2 - bend} ${y2} ${x2} ${y2}` });
    }
  }
  const rows = Math.max(0, ...columns.map((c) => c.length));
  return {
    nodes,
    edges,
    width: Math.max(0, columns.length * (size.width + size.columnGap) - size.columnGap),
    height: Math.max(0, rows * (size.height + size.rowGap) - size.rowGap),
  };
};
