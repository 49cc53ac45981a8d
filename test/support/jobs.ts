import * as assert from 'uvu/assert';
import type { TestGyre } from './gyre.ts';

/** Waits until `check` returns a value (not undefined), polling the read models, or fails after `ms`. */
export const until = async <T>(what: string, check: () => Promise<T | undefined>, ms = 30_000): Promise<T> => {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting ${ms} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

export const ok = async (g: TestGyre, query: string, variables: Record<string, unknown> = {}, headers?: Record<string, string>) => {
  const r = await g.gql(query, variables, headers);
  assert.is(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data!;
};

export interface WorkflowView {
  id: string;
  name: string;
  status: string;
  jobs: Array<{ id: string; name: string; status: string; jobNumber: number | null }>;
}

/** Triggers a pipeline on the project's default branch; returns its workflows. */
export const trigger = async (
  g: TestGyre,
  slug: string,
  headers?: Record<string, string>,
): Promise<{ id: string; number: number; workflows: WorkflowView[] }> =>
  (
    await ok(
      g,
      'mutation($s: String!) { triggerPipeline(input: {projectSlug: $s}) { id number workflows { id name status jobs { id name status jobNumber } } } }',
      { s: slug },
      headers,
    )
  ).triggerPipeline;

/** Triggers a pipeline whose one workflow has one job; its workflow's and job's ids once the job is planned. */
export const triggerOneJob = async (g: TestGyre, slug: string): Promise<{ workflowId: string; jobId: string }> => {
  const workflowId = (await trigger(g, slug)).workflows[0]!.id;
  const w = await until('the workflow to plan its job', async () => {
    const x = await workflow(g, workflowId);
    return x.jobs.length ? x : undefined;
  });
  return { workflowId, jobId: w.jobs[0]!.id };
};

export const workflow = async (g: TestGyre, id: string): Promise<WorkflowView> =>
  (await ok(g, 'query($id: ID!) { workflow(id: $id) { id name status jobs { id name status jobNumber } } }', { id })).workflow;

const ended = new Set(['success', 'failed', 'canceled', 'not_run', 'unauthorized', 'error']);
/** Waits for a workflow to end; returns it with its jobs by name. */
export const finished = async (g: TestGyre, id: string, ms = 60_000) => {
  const w = await until(
    `workflow ${id} to end`,
    async () => {
      const x = await workflow(g, id);
      return ended.has(x.status) ? x : undefined;
    },
    ms,
  );
  return { ...w, byName: Object.fromEntries(w.jobs.map((j) => [j.name, j])) };
};

/** A config whose one job waits on a runner class nobody serves in `namespace`: queued until canceled, so nothing runs. */
export const parkedConfig = (namespace: string) => `
version: 2.1
jobs:
  parked:
    machine: true
    resource_class: ${namespace}/nobody-serves-this
    steps: [{run: echo never}]
workflows:
  main:
    jobs: [parked]
`;
