import { useEffect, useRef, useState } from 'preact/hooks';
import { OutputView } from '../components/output-view.tsx';
import { OutputLines } from '../lib/ansi.ts';
import { gql, onReconnected, type GqlError } from '../lib/gql.ts';
import { useQuery, useSubscription } from '../lib/hooks.ts';
import { Link } from '../lib/router.tsx';
import { ConfirmButton, Outcome, useAction } from '../lib/actions.tsx';
import { between, Button, ErrorBox, Loading, Page, Status, Time } from '../lib/ui.tsx';
import { pipelinePath, projectPath, workflowPath } from '../components/paths.ts';

type P = { params: Record<string, string> };

interface Step {
  index: number;
  name: string;
  taskIndex: number;
  status: string;
  exitCode: number | null;
  reason: string | null;
  startedAt: string;
  stoppedAt: string | null;
  background: boolean;
  truncated: boolean;
}
interface Task {
  index: number;
  status: string;
  agent: string | null;
  queuedAt: string;
  startedAt: string | null;
  stoppedAt: string | null;
  reason: string | null;
}
interface JobData {
  id: string;
  name: string;
  type: string;
  status: string;
  jobNumber: number | null;
  workflowId: string;
  projectSlug: string;
  startedAt: string | null;
  stoppedAt: string | null;
  queuedAt: string | null;
  queueReason: string | null;
  executor: { type: string; resourceClass: string } | null;
  parallelism: number | null;
  contexts: string[];
  agent: string | null;
  tasks: Task[];
  steps: Step[];
  testCounts: { passed: number; failed: number; skipped: number } | null;
  testReportProblems: Array<{ file: string; reason: string }>;
  artifacts: Array<{ path: string; nodeIndex: number; size: number; url: string }>;
}

const jobQuery = `query($id: ID!) { job(id: $id) {
  id name type status jobNumber workflowId projectSlug startedAt stoppedAt queuedAt queueReason
  executor { type resourceClass } parallelism contexts agent
  tasks { index status agent queuedAt startedAt stoppedAt reason }
  steps { index name taskIndex status exitCode reason startedAt stoppedAt background truncated }
  testCounts { passed failed skipped } testReportProblems { file reason }
  artifacts { path nodeIndex size url }
} }`;

/** Statuses from which a job can be canceled. */
const cancelable = new Set(['queued', 'running']);
const finished = new Set(['success', 'failed', 'canceled', 'not_run', 'unauthorized', 'infrastructure_fail', 'timedout', 'error']);
/** A job has output (and a jobOutput feed) once it is queued. */
const noOutputYet = new Set(['blocked', 'on_hold', 'not_run', 'unauthorized']);

export const bytes = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`);

/** `/pipelines/…/workflows/<id>/jobs/<n>`: the job of that number in the workflow. */
export const JobByNumber = ({ params }: P) => {
  const q = useQuery<{ workflow: { jobs: Array<{ id: string; jobNumber: number | null; name: string }> } | null }>(
    'query($id: ID!) { workflow(id: $id) { jobs { id name jobNumber } } }',
    { id: params.workflowId },
  );
  if (q.error)
    return (
      <Page title={`Job ${params.jobNumber}`}>
        <ErrorBox error={q.error} />
      </Page>
    );
  if (!q.data) return <Loading />;
  const job = q.data.workflow?.jobs.find((j) => String(j.jobNumber) === params.jobNumber);
  if (!job)
    return (
      <Page title={`Job ${params.jobNumber}`}>
        <p role="alert">This workflow has no job {params.jobNumber}.</p>
      </Page>
    );
  return <JobView id={job.id} />;
};

export const Job = ({ params }: P) => <JobView id={params.jobId!} />;

const JobView = ({ id }: { id: string }) => {
  const q = useQuery<{ job: JobData | null }>(jobQuery, { id });
  const job = q.data?.job;

  // output of each step of each task, kept across renders and reloads of the job
  const outputs = useRef(new Map<string, OutputLines>());
  const [version, setVersion] = useState(0);
  const frame = useRef(0);
  const knownSteps = useRef(new Set<string>());
  useEffect(() => {
    const forget = () => {
      outputs.current = new Map();
      knownSteps.current = new Set();
      setVersion((v) => v + 1);
    };
    forget();
    // a feed started again sends the output from its beginning: what was shown is dropped, not doubled
    return onReconnected(forget);
  }, [id]);
  if (job) for (const s of job.steps) knownSteps.current.add(`${s.taskIndex}.${s.index}`);

  const reload = useRef(q.reload);
  reload.current = q.reload;
  const outputError = useSubscription<{
    jobOutput: { kind: string; taskIndex: number | null; stepIndex: number | null; text: string | null; status: string | null };
  }>(
    'subscription($id: ID!) { jobOutput(jobId: $id) { kind taskIndex stepIndex text status } }',
    { id },
    ({ jobOutput: m }) => {
      if (m.kind === 'end') return reload.current();
      const key = `${m.taskIndex}.${m.stepIndex}`;
      let lines = outputs.current.get(key);
      if (!lines) outputs.current.set(key, (lines = new OutputLines()));
      lines.append(m.text ?? '');
      // a step the page does not know yet has started: read the job again
      if (!knownSteps.current.has(key)) {
        knownSteps.current.add(key);
        reload.current();
      }
      if (!frame.current)
        frame.current = requestAnimationFrame(() => {
          frame.current = 0;
          setVersion((v) => v + 1);
        });
    },
    !!job && job.type !== 'approval' && !noOutputYet.has(job.status),
  );
  useEffect(() => () => cancelAnimationFrame(frame.current), []);
  // what no feed tells (why it is queued, a step that printed nothing yet): asked again while it runs
  useEffect(() => {
    if (!job || finished.has(job.status)) return;
    const t = setTimeout(() => reload.current(), job.status === 'running' ? 5000 : 2000);
    return () => clearTimeout(t);
  }, [q.data]);

  const [task, setTask] = useState(0);
  const action = useAction();
  if (q.error && !q.data)
    return (
      <Page title="Job">
        <ErrorBox error={q.error} />
      </Page>
    );
  if (!q.data) return <Loading />;
  if (!job)
    return (
      <Page title="Job">
        <p role="alert">There is no such job.</p>
      </Page>
    );

  const tasks = job.tasks.length ? job.tasks.map((t) => t.index) : [0];
  const steps = job.steps.filter((s) => s.taskIndex === task);
  return (
    <Page
      title={job.name}
      actions={
        cancelable.has(job.status) ? (
          <ConfirmButton
            label="Cancel job"
            name={job.name}
            question={`Cancel ${job.name}? The jobs that require it will not run.`}
            onConfirm={() =>
              action.run(async () => {
                await gql('mutation($id: ID!) { cancelJob(jobId: $id) { id } }', { id: job.id });
                reload.current();
              }, `${job.name} was canceled.`)
            }
          />
        ) : null
      }
    >
      <Crumbs workflowId={job.workflowId} />
      <Outcome done={action.done} error={action.error} statusRef={action.statusRef} />
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <Status state={job.status} />
        </dd>
        {job.jobNumber !== null ? (
          <>
            <dt>Job number</dt>
            <dd>{job.jobNumber}</dd>
          </>
        ) : null}
        <dt>Executor</dt>
        <dd>{job.executor ? `${job.executor.type} · ${job.executor.resourceClass}` : '—'}</dd>
        {job.parallelism && job.parallelism > 1 ? (
          <>
            <dt>Parallelism</dt>
            <dd>{job.parallelism}</dd>
          </>
        ) : null}
        {job.contexts.length ? (
          <>
            <dt>Contexts</dt>
            <dd>{job.contexts.join(', ')}</dd>
          </>
        ) : null}
        {job.agent ? (
          <>
            <dt>Agent</dt>
            <dd>{job.agent}</dd>
          </>
        ) : null}
        <dt>Queued</dt>
        <dd>
          <Time at={job.queuedAt} />
        </dd>
        <dt>Started</dt>
        <dd>
          <Time at={job.startedAt} />
        </dd>
        <dt>Duration</dt>
        <dd>{between(job.startedAt, job.stoppedAt)}</dd>
        {job.queuedAt && job.startedAt ? (
          <>
            <dt>Waited in queue</dt>
            <dd>{between(job.queuedAt, job.startedAt)}</dd>
          </>
        ) : null}
      </dl>
      {job.queueReason && job.status === 'queued' ? (
        <p class="notice" role="status">
          <strong>Why it is queued:</strong> {job.queueReason}
        </p>
      ) : null}
      {job.type === 'approval' ? <p>An approval job: approve it on its workflow's page.</p> : null}

      <section aria-labelledby="steps-title">
        <h2 id="steps-title">Steps</h2>
        {tasks.length > 1 ? (
          <div class="row" role="group" aria-label="Parallel tasks">
            {job.tasks.map((t) => (
              <Button key={t.index} aria-pressed={t.index === task} onClick={() => setTask(t.index)}>
                Task {t.index} <Status state={t.status} />
              </Button>
            ))}
          </div>
        ) : null}
        {job.tasks
          .filter((t) => t.index === task && t.reason)
          .map((t) => (
            <p key={t.index} class="muted">
              Task {t.index}: {t.reason}
            </p>
          ))}
        <ErrorBox error={outputError as GqlError | null} />
        {steps.length === 0 ? <p class="muted">{job.type === 'approval' ? 'An approval job runs no steps.' : 'No step has started yet.'}</p> : null}
        {steps.map((s) => (
          <StepView key={`${s.taskIndex}.${s.index}`} step={s} output={outputs.current.get(`${s.taskIndex}.${s.index}`)} version={version} />
        ))}
      </section>

      <Tests job={job} />

      <section aria-labelledby="artifacts-title">
        <h2 id="artifacts-title">Artifacts</h2>
        {job.artifacts.length === 0 ? (
          <p class="muted">No artifacts.</p>
        ) : (
          <ul class="artifacts">
            {job.artifacts.map((a) => (
              <li key={`${a.nodeIndex}/${a.path}`}>
                <a href={a.url} rel="noopener">
                  {a.path}
                </a>{' '}
                <span class="muted">
                  {bytes(a.size)}
                  {tasks.length > 1 ? ` · task ${a.nodeIndex}` : ''}
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>
    </Page>
  );
};

/** Where the job is: its project, pipeline and workflow, each a link. */
const Crumbs = ({ workflowId }: { workflowId: string }) => {
  const q = useQuery<{ workflow: { name: string; pipelineNumber: number; projectSlug: string } | null }>(
    'query($id: ID!) { workflow(id: $id) { name pipelineNumber projectSlug } }',
    { id: workflowId },
  );
  const w = q.data?.workflow;
  return w ? (
    <nav aria-label="Breadcrumb" class="crumbs">
      <Link href={projectPath(w.projectSlug)}>{w.projectSlug}</Link> ›{' '}
      <Link href={pipelinePath(w.projectSlug, w.pipelineNumber)}>Pipeline {w.pipelineNumber}</Link> ›{' '}
      <Link href={workflowPath(w.projectSlug, w.pipelineNumber, workflowId)}>{w.name}</Link>
    </nav>
  ) : null;
};

const empty = new OutputLines();

const StepView = ({ step, output, version }: { step: Step; output: OutputLines | undefined; version: number }) => {
  const [open, setOpen] = useState(step.index !== 0 || step.status !== 'success');
  const panel = `step-${step.taskIndex}-${step.index}`;
  return (
    <section class="step" aria-label={step.name}>
      <h3 class="step-head">
        <button type="button" class="step-toggle" aria-expanded={open} aria-controls={panel} onClick={() => setOpen(!open)}>
          <span aria-hidden="true">{open ? '▾' : '▸'}</span> {step.name}
        </button>
        <Status state={step.status} />
        <span class="muted">{between(step.startedAt, step.stoppedAt)}</span>
        {step.exitCode !== null ? <span class="muted">exit code {step.exitCode}</span> : null}
        {step.background ? <span class="muted">background</span> : null}
      </h3>
      {step.reason ? <p class="muted">{step.reason}</p> : null}
      {open ? (
        <div id={panel}>
          <OutputView name={step.name} output={output ?? empty} version={version} />
          {step.truncated ? <p class="muted">The output was cut at Gyre's limit.</p> : null}
        </div>
      ) : null}
    </section>
  );
};

interface TestRow {
  name: string;
  classname: string;
  file: string | null;
  result: string;
  message: string | null;
  runTime: number;
}

/** Counts, unreadable reports, and the failing tests among the job's tests (read a page at a time). */
const Tests = ({ job }: { job: JobData }) => {
  const [pages, setPages] = useState<{ failing: TestRow[]; read: number; after: string | null; more: boolean } | null>(null);
  const [error, setError] = useState<GqlError | null>(null);
  const [busy, setBusy] = useState(false);
  const read = async (after: string | null) => {
    // a second press while it works does nothing (the button stays focusable: a disabled one drops the focus)
    if (busy) return;
    setBusy(true);
    try {
      const d = await gql<{ job: { tests: { edges: Array<{ node: TestRow }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } }>(
        'query($id: ID!, $after: String) { job(id: $id) { tests(first: 500, after: $after) { edges { node { name classname file result message runTime } } pageInfo { hasNextPage endCursor } } } }',
        { id: job.id, after },
      );
      const t = d.job.tests;
      setPages((p) => ({
        failing: [...(after ? (p?.failing ?? []) : []), ...t.edges.map((e) => e.node).filter((n) => n.result === 'failure')],
        read: (after ? (p?.read ?? 0) : 0) + t.edges.length,
        after: t.pageInfo.endCursor,
        more: t.pageInfo.hasNextPage,
      }));
      setError(null);
    } catch (e) {
      setError(e as GqlError);
    } finally {
      setBusy(false);
    }
  };
  const counts = job.testCounts;
  useEffect(() => {
    if (counts && counts.failed > 0) void read(null);
  }, [job.id, counts?.failed]);
  return (
    <section aria-labelledby="tests-title">
      <h2 id="tests-title">Tests</h2>
      {counts ? (
        <p>
          {counts.passed} passed, {counts.failed} failed, {counts.skipped} skipped
        </p>
      ) : (
        <p class="muted">No test results.</p>
      )}
      {job.testReportProblems.length ? (
        <>
          <h3>Reports that could not be read</h3>
          <ul>
            {job.testReportProblems.map((p) => (
              <li key={p.file}>
                <code>{p.file}</code>: {p.reason}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <ErrorBox error={error} />
      {pages?.failing.length ? (
        <>
          <h3>Failing tests</h3>
          <table>
            <thead>
              <tr>
                <th scope="col">Test</th>
                <th scope="col">Class</th>
                <th scope="col">File</th>
                <th scope="col">Message</th>
                <th scope="col">Time</th>
              </tr>
            </thead>
            <tbody>
              {pages.failing.map((t, i) => (
                <tr key={i}>
                  <td>{t.name}</td>
                  <td>{t.classname}</td>
                  <td>{t.file ?? '—'}</td>
                  <td>
                    <pre class="test-message">{t.message ?? ''}</pre>
                  </td>
                  <td>{t.runTime.toFixed(2)} s</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      {pages?.more ? (
        <p>
          <span class="muted">Failing tests among the first {pages.read} shown.</span>{' '}
          <Button onClick={() => read(pages.after)} aria-disabled={busy || undefined}>
            Read more tests
          </Button>
        </p>
      ) : null}
    </section>
  );
};
