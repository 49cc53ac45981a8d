import { useRef, useState } from 'preact/hooks';
import { JobGraph } from '../components/job-graph.tsx';
import { useLiveReload } from '../components/live.ts';
import { jobPath, pipelinePath, projectPath, slugOf, workflowPath } from '../components/paths.ts';
import { gql, type GqlError } from '../lib/gql.ts';
import { useQuery, useSubscription } from '../lib/hooks.ts';
import { Link, navigate } from '../lib/router.tsx';
import { between, Button, ErrorBox, Loading, Page, Status, Time } from '../lib/ui.tsx';

type P = { params: Record<string, string> };

interface WorkflowSummary {
  id: string;
  name: string;
  status: string;
  createdAt: string;
  stoppedAt: string | null;
  rerunOf: string | null;
}
interface PipelineData {
  id: string;
  number: number;
  state: string;
  projectSlug: string;
  createdAt: string;
  errors: Array<{ type: string; message: string }>;
  trigger: { type: string; receivedAt: string; actor: { login: string } };
  vcs: { branch: string | null; tag: string | null; revision: string; commit: { subject: string } | null };
  workflows: WorkflowSummary[];
}

/** Workflows that can still change. */
export const ongoing = new Set(['running', 'on_hold', 'failing', 'created', 'setup']);

export const Pipeline = ({ params }: P) => {
  const slug = slugOf(params);
  const number = Number(params.number);
  const q = useQuery<{ pipelineByNumber: PipelineData | null }>(
    `query($s: String!, $n: Int!) { pipelineByNumber(projectSlug: $s, number: $n) {
      id number state projectSlug createdAt errors { type message } trigger { type receivedAt actor { login } }
      vcs { branch tag revision commit { subject } } workflows { id name status createdAt stoppedAt rerunOf } } }`,
    { s: slug, n: number },
  );
  const p = q.data?.pipelineByNumber;
  useLiveReload(p ? p.workflows.filter((w) => ongoing.has(w.status)).map((w) => w.id) : [], q.reload);
  if (q.error)
    return (
      <Page title={`Pipeline ${params.number}`}>
        <ErrorBox error={q.error} />
      </Page>
    );
  if (!q.data) return <Loading />;
  if (!p)
    return (
      <Page title={`Pipeline ${params.number}`}>
        <p role="alert">
          {slug} has no pipeline {params.number}.
        </p>
      </Page>
    );
  return (
    <Page title={`Pipeline ${p.number}`}>
      <nav aria-label="Breadcrumb" class="crumbs">
        <Link href={projectPath(p.projectSlug)}>{p.projectSlug}</Link>
      </nav>
      <dl class="facts">
        <dt>Branch</dt>
        <dd>{p.vcs.tag ? `tag ${p.vcs.tag}` : (p.vcs.branch ?? '—')}</dd>
        <dt>Revision</dt>
        <dd>
          <code>{p.vcs.revision.slice(0, 12)}</code> {p.vcs.commit?.subject ?? ''}
        </dd>
        <dt>Trigger</dt>
        <dd>
          {p.trigger.type} by {p.trigger.actor.login}
        </dd>
        <dt>Created</dt>
        <dd>
          <Time at={p.createdAt} />
        </dd>
      </dl>
      {p.errors.map((e, i) => (
        <p key={i} class="error" role="alert">
          {e.type}: {e.message}
        </p>
      ))}
      <h2>Workflows</h2>
      {p.workflows.length === 0 ? (
        <p class="muted">No workflows.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Workflow</th>
              <th scope="col">Status</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
            </tr>
          </thead>
          <tbody>
            {p.workflows.map((w) => (
              <tr key={w.id}>
                <td>
                  <Link href={workflowPath(p.projectSlug, p.number, w.id)}>{w.name}</Link>
                  {w.rerunOf ? <span class="muted"> (rerun)</span> : null}
                </td>
                <td>
                  <Status state={w.status} />
                </td>
                <td>
                  <Time at={w.createdAt} />
                </td>
                <td>{between(w.createdAt, w.stoppedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
};

interface WorkflowData {
  id: string;
  name: string;
  status: string;
  pipelineNumber: number;
  projectSlug: string;
  createdAt: string;
  stoppedAt: string | null;
  rerunOf: string | null;
  jobs: Array<{
    id: string;
    name: string;
    type: string;
    status: string;
    jobNumber: number | null;
    dependencies: string[];
    approvalRequestId: string | null;
    startedAt: string | null;
    stoppedAt: string | null;
  }>;
}

const workflowQuery = `query($id: ID!) { workflow(id: $id) { id name status pipelineNumber projectSlug createdAt stoppedAt rerunOf
  jobs { id name type status jobNumber dependencies approvalRequestId startedAt stoppedAt } } }`;

export const Workflow = ({ params }: P) => {
  const q = useQuery<{ workflow: WorkflowData | null }>(workflowQuery, { id: params.workflowId });
  const w = q.data?.workflow;
  // each job's status as the feed tells it, over what the query read
  const [live, setLive] = useState<Record<string, string>>({});
  const reload = useRef(q.reload);
  reload.current = q.reload;
  const feedError = useSubscription<{ workflowJobs: { action: string; jobId: string | null; status: string } }>(
    'subscription($id: ID!) { workflowJobs(workflowId: $id) { action jobId status } }',
    { id: params.workflowId },
    ({ workflowJobs: c }) => {
      if (c.jobId) setLive((l) => ({ ...l, [c.jobId!]: c.status }));
      // a change after the snapshot moves the workflow too: read it again
      if (c.action !== 'snapshot') reload.current();
    },
    !!w && ongoing.has(w.status),
  );
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<GqlError | null>(null);
  const act = async (work: () => Promise<unknown>) => {
    // a second press while it works does nothing (the button stays focusable: a disabled one drops the focus)
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await work();
      setLive({});
      q.reload();
    } catch (e) {
      setError(e as GqlError);
    } finally {
      setBusy(false);
    }
  };
  const rerun = (fromFailed: boolean) =>
    act(async () => {
      const d = await gql<{ rerunWorkflow: { id: string } }>('mutation($id: ID!, $f: Boolean) { rerunWorkflow(workflowId: $id, fromFailed: $f) { id } }', {
        id: params.workflowId,
        f: fromFailed,
      });
      if (w) navigate(workflowPath(w.projectSlug, w.pipelineNumber, d.rerunWorkflow.id));
    });

  if (q.error)
    return (
      <Page title="Workflow">
        <ErrorBox error={q.error} />
      </Page>
    );
  if (!q.data) return <Loading />;
  if (!w)
    return (
      <Page title="Workflow">
        <p role="alert">There is no such workflow.</p>
      </Page>
    );
  // the feed gives every change of a job's status in order: its word is the newest
  const jobs = w.jobs.map((j) => ({ ...j, status: live[j.id] ?? j.status }));
  const holds = jobs.filter((j) => j.type === 'approval' && j.status === 'on_hold' && j.approvalRequestId);
  const running = ongoing.has(w.status);
  return (
    <Page
      title={w.name}
      actions={
        running ? (
          <Button
            class="danger"
            aria-disabled={busy || undefined}
            onClick={() => act(() => gql('mutation($id: ID!) { cancelWorkflow(workflowId: $id) { id } }', { id: w.id }))}
          >
            Cancel
          </Button>
        ) : (
          <>
            <Button aria-disabled={busy || undefined} onClick={() => rerun(false)}>
              Rerun
            </Button>
            {w.status === 'failed' || w.status === 'canceled' ? (
              <Button aria-disabled={busy || undefined} onClick={() => rerun(true)}>
                Rerun from failed
              </Button>
            ) : null}
          </>
        )
      }
    >
      <nav aria-label="Breadcrumb" class="crumbs">
        <Link href={projectPath(w.projectSlug)}>{w.projectSlug}</Link> ›{' '}
        <Link href={pipelinePath(w.projectSlug, w.pipelineNumber)}>Pipeline {w.pipelineNumber}</Link>
      </nav>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <Status state={w.status} />
        </dd>
        <dt>Started</dt>
        <dd>
          <Time at={w.createdAt} />
        </dd>
        <dt>Duration</dt>
        <dd>{between(w.createdAt, w.stoppedAt)}</dd>
      </dl>
      <ErrorBox error={error} />
      <ErrorBox error={feedError} />
      {holds.length ? (
        <section aria-labelledby="holds-title" class="holds">
          <h2 id="holds-title">On hold</h2>
          <ul>
            {holds.map((h) => (
              <li key={h.id}>
                <span id={`hold-${h.id}`}>{h.name}</span>{' '}
                <Button
                  class="primary"
                  aria-describedby={`hold-${h.id}`}
                  aria-disabled={busy || undefined}
                  onClick={() =>
                    act(() =>
                      gql('mutation($w: ID!, $a: ID!) { approveJob(workflowId: $w, approvalRequestId: $a) { id } }', { w: w.id, a: h.approvalRequestId }),
                    )
                  }
                >
                  Approve
                </Button>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <h2>Jobs</h2>
      <JobGraph
        label={`Jobs of ${w.name}`}
        jobs={jobs.map((j) => ({
          id: j.id,
          name: j.name,
          status: j.status,
          type: j.type,
          dependencies: j.dependencies,
          href: jobPath(w.projectSlug, w.pipelineNumber, w.id, j),
        }))}
      />
    </Page>
  );
};
