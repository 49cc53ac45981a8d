import { useEffect, useState } from 'preact/hooks';
import { gql } from '../../lib/gql.ts';
import { useQuery } from '../../lib/hooks.ts';
import { Link } from '../../lib/router.tsx';
import { Button, ErrorBox, Field, Loading, Page, Status, Time } from '../../lib/ui.tsx';
import { ConfirmButton, Outcome, useAction } from '../../lib/actions.tsx';

interface Load {
  resourceClass: string;
  queued: number;
  running: number;
  agents: number;
  freeCpus: number;
  freeMemoryMb: number;
}
interface Size {
  cpus: number;
  memoryMb: number;
}
interface Agent {
  id: string;
  name: string;
  resourceClasses: string[];
  capacity: Size;
  free: Size;
  maxTasks: number | null;
  online: boolean;
  lastSeenAt: string | null;
  version: string;
  declined: Array<{ kind: string; reason: string }>;
  running: Array<{ jobId: string; job: string; taskIndex: number; startedAt: string | null }>;
}
interface QueuedJob {
  id: string;
  name: string;
  status: string;
  queuedAt: string | null;
  queueReason: string | null;
  executor: { type: string; resourceClass: string } | null;
}
const runnersQuery = `query {
  resourceClasses { resourceClass queued running agents freeCpus freeMemoryMb }
  agents { id name resourceClasses capacity { cpus memoryMb } free { cpus memoryMb } maxTasks online lastSeenAt version declined { kind reason } running { jobId job taskIndex startedAt } }
  queuedJobs(first: 50) { id name status queuedAt queueReason executor { type resourceClass } }
}`;

const size = (s: Size) => `${s.cpus} CPU, ${s.memoryMb} MB`;

/** Asks again every `ms` while the page shows: the queues and agents change on their own. */
const usePolling = (reload: () => void, ms: number) =>
  useEffect(() => {
    const t = setInterval(reload, ms);
    return () => clearInterval(t);
  }, [reload, ms]);

/** Resource classes and their load, agents, the queue with each job's reason, and self-hosted runner classes and tokens. */
export const Runners = () => {
  const q = useQuery<{ resourceClasses: Load[]; agents: Agent[]; queuedJobs: QueuedJob[] }>(runnersQuery);
  usePolling(q.reload, 10_000);
  const d = q.data;
  return (
    <Page title="Runners" actions={<Button onClick={q.reload}>Refresh</Button>}>
      <ErrorBox error={q.error} />
      {!d ? (
        q.loading ? (
          <Loading />
        ) : null
      ) : (
        <>
          <section aria-labelledby="classes-heading">
            <h2 id="classes-heading">Resource classes</h2>
            {d.resourceClasses.length === 0 ? (
              <p>No resource class has queued or running work or an online agent.</p>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Resource class</th>
                    <th scope="col">Queued tasks</th>
                    <th scope="col">Running tasks</th>
                    <th scope="col">Online agents</th>
                    <th scope="col">Free room</th>
                  </tr>
                </thead>
                <tbody>
                  {d.resourceClasses.map((c) => (
                    <tr key={c.resourceClass}>
                      <th scope="row">
                        <code>{c.resourceClass}</code>
                      </th>
                      <td>{c.queued}</td>
                      <td>{c.running}</td>
                      <td>{c.agents === 0 ? <strong>none</strong> : c.agents}</td>
                      <td>{size({ cpus: c.freeCpus, memoryMb: c.freeMemoryMb })}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>

          <section aria-labelledby="agents-heading">
            <h2 id="agents-heading">Agents</h2>
            {d.agents.length === 0 ? (
              <p>No agent has registered.</p>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Presence</th>
                    <th scope="col">Resource classes</th>
                    <th scope="col">Capacity</th>
                    <th scope="col">Running tasks</th>
                    <th scope="col">Last seen</th>
                  </tr>
                </thead>
                <tbody>
                  {d.agents.map((a) => (
                    <tr key={a.id}>
                      <th scope="row">
                        {a.name} <span class="muted">{a.version}</span>
                      </th>
                      <td>
                        <span class={`status status-${a.online ? 'good' : 'off'}`}>
                          <span aria-hidden="true">{a.online ? '●' : '○'}</span> {a.online ? 'online' : 'offline'}
                        </span>
                      </td>
                      <td>
                        {a.resourceClasses.map((c) => (
                          <code key={c} class="tag">
                            {c}
                          </code>
                        ))}
                        {a.declined.map((x) => (
                          <div key={x.kind} class="muted">
                            declines {x.kind}: {x.reason}
                          </div>
                        ))}
                      </td>
                      <td>
                        {size(a.capacity)}
                        {a.maxTasks !== null ? `, at most ${a.maxTasks} tasks` : ''}
                        <div class="muted">free: {size(a.free)}</div>
                      </td>
                      <td>
                        {a.running.length === 0 ? (
                          'none'
                        ) : (
                          <ul class="plain">
                            {a.running.map((t) => (
                              <li key={`${t.jobId}-${t.taskIndex}`}>
                                <Link href={`/jobs/${t.jobId}`}>{t.job}</Link>
                                {t.taskIndex > 0 ? ` (task ${t.taskIndex})` : ''}
                              </li>
                            ))}
                          </ul>
                        )}
                      </td>
                      <td>
                        <Time at={a.lastSeenAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>

          <section aria-labelledby="queue-heading">
            <h2 id="queue-heading">Queue</h2>
            {d.queuedJobs.length === 0 ? (
              <p>No job is waiting.</p>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th scope="col">Job</th>
                    <th scope="col">Status</th>
                    <th scope="col">Resource class</th>
                    <th scope="col">Queued since</th>
                    <th scope="col">Why it waits</th>
                  </tr>
                </thead>
                <tbody>
                  {d.queuedJobs.map((j) => (
                    <tr key={j.id}>
                      <th scope="row">
                        <Link href={`/jobs/${j.id}`}>{j.name}</Link>
                      </th>
                      <td>
                        <Status state={j.status} />
                      </td>
                      <td>
                        {j.executor ? (
                          <code>
                            {j.executor.type}:{j.executor.resourceClass}
                          </code>
                        ) : (
                          '—'
                        )}
                      </td>
                      <td>
                        <Time at={j.queuedAt} />
                      </td>
                      <td>{j.queueReason ?? 'an agent is about to take it'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        </>
      )}
      <SelfHosted />
    </Page>
  );
};

interface RunnerClass {
  id: string;
  resourceClass: string;
  description: string;
  createdAt: string;
}
interface RunnerToken {
  id: string;
  nickname: string;
  createdAt: string;
}

/** Self-hosted runner resource classes of a namespace, and their tokens (a new token is shown once). */
const SelfHosted = () => {
  const [typed, setTyped] = useState('');
  const [namespace, setNamespace] = useState('');
  const [newClass, setNewClass] = useState({ resourceClass: '', description: '' });
  const action = useAction();
  const classes = useQuery<{ runnerResourceClasses: RunnerClass[] }>(
    'query($ns: String!) { runnerResourceClasses(namespace: $ns) { id resourceClass description createdAt } }',
    { ns: namespace || '-' },
  );
  return (
    <section class="stack" aria-labelledby="self-hosted-heading">
      <h2 id="self-hosted-heading">Self-hosted runners</h2>
      <p class="muted">
        A resource class is <code>namespace/name</code>; the classes named <code>docker</code> and <code>machine</code> take tokens for build machines (
        <code>gyre agent</code>) serving the built-in classes.
      </p>
      <form
        class="row"
        aria-label="Create a resource class"
        onSubmit={async (e) => {
          e.preventDefault();
          const rc = newClass.resourceClass.trim();
          if (!rc) return;
          const ok = await action.run(
            () =>
              gql('mutation($input: CreateRunnerResourceClassInput!) { createRunnerResourceClass(input: $input) { id } }', {
                input: { resourceClass: rc, description: newClass.description },
              }),
            `Resource class ${rc} created.`,
          );
          if (ok) {
            setNewClass({ resourceClass: '', description: '' });
            const ns = rc.includes('/') ? rc.split('/')[0]! : rc;
            setTyped(ns);
            setNamespace(ns);
            classes.reload();
          }
        }}
      >
        <Field
          label="New resource class"
          name="resourceClass"
          placeholder="my-org/linux-amd64"
          required
          value={newClass.resourceClass}
          onInput={(e) => setNewClass((c) => ({ ...c, resourceClass: e.currentTarget.value }))}
        />
        <Field
          label="Description"
          name="description"
          value={newClass.description}
          onInput={(e) => setNewClass((c) => ({ ...c, description: e.currentTarget.value }))}
        />
        <button type="submit" class="primary">
          Create resource class
        </button>
      </form>
      <Outcome done={action.done} error={action.error} statusRef={action.statusRef} />

      <form
        class="row"
        aria-label="Show a namespace's resource classes"
        onSubmit={(e) => {
          e.preventDefault();
          setNamespace(typed.trim());
        }}
      >
        <Field label="Namespace" name="namespace" placeholder="my-org, docker or machine" value={typed} onInput={(e) => setTyped(e.currentTarget.value)} />
        <button type="submit">Show resource classes</button>
      </form>
      {namespace ? (
        <>
          <ErrorBox error={classes.error} />
          {classes.data ? (
            classes.data.runnerResourceClasses.length === 0 ? (
              <p>The namespace {namespace} has no resource class.</p>
            ) : (
              classes.data.runnerResourceClasses.map((c) => (
                <RunnerClassTokens
                  key={c.id}
                  rc={c}
                  onDelete={async () => {
                    if (
                      !(await action.run(
                        () => gql('mutation($rc: String!) { deleteRunnerResourceClass(resourceClass: $rc) }', { rc: c.resourceClass }),
                        `Resource class ${c.resourceClass} deleted.`,
                      ))
                    )
                      return;
                    // the class goes away with its buttons: the focus goes to what happened
                    action.focusOutcome();
                    classes.reload();
                  }}
                />
              ))
            )
          ) : classes.loading ? (
            <Loading />
          ) : null}
        </>
      ) : null}
    </section>
  );
};

const RunnerClassTokens = ({ rc, onDelete }: { rc: RunnerClass; onDelete: () => Promise<void> }) => {
  const tokens = useQuery<{ runnerTokens: RunnerToken[] }>('query($rc: String!) { runnerTokens(resourceClass: $rc) { id nickname createdAt } }', {
    rc: rc.resourceClass,
  });
  const [nickname, setNickname] = useState('');
  const [created, setCreated] = useState<{ token: string; nickname: string } | null>(null);
  const action = useAction();
  const headingId = `rc-${rc.id}`;
  return (
    <article class="runner-class" aria-labelledby={headingId}>
      <h3 id={headingId}>
        <code>{rc.resourceClass}</code>
      </h3>
      {rc.description ? <p>{rc.description}</p> : null}
      <p class="muted">
        Created <Time at={rc.createdAt} />
      </p>
      <ErrorBox error={tokens.error} />
      {tokens.data ? (
        tokens.data.runnerTokens.length === 0 ? (
          <p>No tokens.</p>
        ) : (
          <table>
            <caption class="visually-hidden">Tokens of {rc.resourceClass}</caption>
            <thead>
              <tr>
                <th scope="col">Token nickname</th>
                <th scope="col">Created</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {tokens.data.runnerTokens.map((t) => (
                <tr key={t.id}>
                  <th scope="row">{t.nickname}</th>
                  <td>
                    <Time at={t.createdAt} />
                  </td>
                  <td>
                    <ConfirmButton
                      label="Delete token"
                      name={`${t.nickname} of ${rc.resourceClass}`}
                      question={`Delete the token ${t.nickname}? Agents holding it are refused at once.`}
                      onConfirm={async () => {
                        if (await action.run(() => gql('mutation($id: ID!) { deleteRunnerToken(id: $id) }', { id: t.id }), `Token ${t.nickname} deleted.`)) {
                          action.focusOutcome();
                          tokens.reload();
                        }
                      }}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
      <form
        class="row"
        aria-label={`Create a token for ${rc.resourceClass}`}
        onSubmit={async (e) => {
          e.preventDefault();
          const nick = nickname.trim();
          if (!nick) return;
          let token = '';
          const ok = await action.run(async () => {
            token = (
              await gql<{ createRunnerToken: { token: string } }>('mutation($input: CreateRunnerTokenInput!) { createRunnerToken(input: $input) { token } }', {
                input: { resourceClass: rc.resourceClass, nickname: nick },
              })
            ).createRunnerToken.token;
          }, `Token ${nick} created.`);
          if (ok) {
            setCreated({ token, nickname: nick });
            setNickname('');
            tokens.reload();
          }
        }}
      >
        <Field label={`Token nickname for ${rc.resourceClass}`} name="nickname" required value={nickname} onInput={(e) => setNickname(e.currentTarget.value)} />
        <button type="submit">Create token</button>
      </form>
      {created ? (
        <div class="once" role="region" aria-label={`New token ${created.nickname}`}>
          <p>
            <strong>Copy this token now: it is shown only this once.</strong>
          </p>
          <label class="field">
            <span>Token {created.nickname}</span>
            <input readOnly class="mono" value={created.token} onFocus={(e) => e.currentTarget.select()} />
          </label>
          <Button onClick={() => setCreated(null)}>Done, hide the token</Button>
        </div>
      ) : null}
      <Outcome done={action.done} error={action.error} statusRef={action.statusRef} />
      <div class="row">
        <ConfirmButton
          label="Delete resource class"
          name={rc.resourceClass}
          question={`Delete ${rc.resourceClass}? Delete its tokens first.`}
          onConfirm={onDelete}
        />
      </div>
    </article>
  );
};
