import { useEffect, useState } from 'preact/hooks';
import { EnvVars, type EnvVar } from '../components/env-vars.tsx';
import { useLiveReload } from '../components/live.ts';
import { contextsPath, pipelinePath, projectPath, projectSettingsPath, slugOf, workflowPath } from '../components/paths.ts';
import { gql } from '../lib/gql.ts';
import { useAction } from '../lib/actions.tsx';
import { useQuery } from '../lib/hooks.ts';
import { Link, navigate } from '../lib/router.tsx';
import { between, Button, ErrorBox, Field, Loading, Page, Status, Time } from '../lib/ui.tsx';
import { ongoing } from './pipelines.tsx';

type P = { params: Record<string, string> };
type Connection<T> = { edges: Array<{ node: T }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } };

const value = (e: Event) => (e.currentTarget as HTMLInputElement).value;

export const Projects = (_: P) => {
  const q = useQuery<{ projects: Connection<{ id: string; slug: string; name: string; organization: string; createdAt: string }> }>(
    'query { projects(first: 200) { edges { node { id slug name organization createdAt } } pageInfo { hasNextPage } } }',
  );
  const [slug, setSlug] = useState('');
  const [gitUrl, setGitUrl] = useState('');
  const action = useAction();
  return (
    <Page title="Projects">
      <ErrorBox error={q.error} />
      {!q.data ? (
        q.error ? null : (
          <Loading />
        )
      ) : q.data.projects.edges.length === 0 ? (
        <p>No projects yet: follow one below.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Project</th>
              <th scope="col">Organization</th>
              <th scope="col">Followed</th>
              <th scope="col">
                <span class="visually-hidden">Links</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {q.data.projects.edges.map(({ node: p }) => (
              <tr key={p.id}>
                <td>
                  <Link href={projectPath(p.slug)}>{p.slug}</Link>
                </td>
                <td>{p.organization}</td>
                <td>
                  <Time at={p.createdAt} />
                </td>
                <td>
                  <Link href={projectSettingsPath(p.slug)} aria-label={`Settings of ${p.slug}`}>
                    Settings
                  </Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <section aria-labelledby="follow-title">
        <h2 id="follow-title">Follow a project</h2>
        <form
          class="row"
          onSubmit={async (e) => {
            e.preventDefault();
            let followed = '';
            const create = async () =>
              (followed = (
                await gql<{ createProject: { slug: string } }>('mutation($i: CreateProjectInput!) { createProject(input: $i) { slug } }', {
                  i: { slug: slug.trim(), gitUrl: gitUrl.trim() },
                })
              ).createProject.slug);
            if (await action.run(create)) navigate(projectPath(followed));
          }}
        >
          <Field label="Project slug" placeholder="gh/org/repo" required value={slug} spellcheck={false} onInput={(e: Event) => setSlug(value(e))} />
          <Field
            label="Git URL"
            placeholder="https://github.com/org/repo.git"
            required
            value={gitUrl}
            spellcheck={false}
            onInput={(e: Event) => setGitUrl(value(e))}
          />
          <button type="submit" class="primary" aria-disabled={action.busy || undefined}>
            Follow project
          </button>
        </form>
        <ErrorBox error={action.error} />
      </section>
    </Page>
  );
};

interface PipelineRow {
  id: string;
  number: number;
  state: string;
  createdAt: string;
  errors: Array<{ message: string }>;
  trigger: { type: string; actor: { login: string } };
  vcs: { branch: string | null; tag: string | null; revision: string; commit: { subject: string } | null };
  workflows: Array<{ id: string; name: string; status: string; createdAt: string; stoppedAt: string | null }>;
}

/** A project's pipelines, newest first, their workflows' states kept live. */
export const Project = ({ params }: P) => {
  const slug = slugOf(params);
  const [after, setAfter] = useState<string | null>(null);
  const q = useQuery<{ pipelines: Connection<PipelineRow> }>(
    `query($s: String!, $after: String) { pipelines(projectSlug: $s, first: 20, after: $after) { edges { node {
      id number state createdAt errors { message } trigger { type actor { login } } vcs { branch tag revision commit { subject } }
      workflows { id name status createdAt stoppedAt } } } pageInfo { hasNextPage endCursor } } }`,
    { s: slug, after },
  );
  const pipelines = q.data?.pipelines.edges.map((e) => e.node) ?? [];
  useLiveReload(
    pipelines.flatMap((p) => p.workflows.filter((w) => ongoing.has(w.status)).map((w) => w.id)),
    q.reload,
  );
  // new pipelines (a push, another person) show up without a reload of the page
  useEffect(() => {
    if (after) return;
    const t = setInterval(() => document.visibilityState === 'visible' && q.reload(), 15_000);
    return () => clearInterval(t);
  }, [after, q.reload]);

  const [branch, setBranch] = useState('');
  const action = useAction();
  return (
    <Page
      title={slug}
      actions={
        <>
          <Link href={projectSettingsPath(slug)}>Project settings</Link>
          <Link href={contextsPath(slug)}>Contexts of {params.org}</Link>
        </>
      }
    >
      <form
        class="row"
        aria-label="Trigger a pipeline"
        onSubmit={async (e) => {
          e.preventDefault();
          const b = branch.trim();
          if (
            await action.run(() =>
              gql('mutation($i: TriggerPipelineInput!) { triggerPipeline(input: $i) { number } }', { i: { projectSlug: slug, ...(b ? { branch: b } : {}) } }),
            )
          ) {
            setAfter(null);
            q.reload();
          }
        }}
      >
        <Field label="Branch (optional)" placeholder="the default branch" value={branch} spellcheck={false} onInput={(e: Event) => setBranch(value(e))} />
        <button type="submit" class="primary" aria-disabled={action.busy || undefined}>
          Trigger pipeline
        </button>
      </form>
      <ErrorBox error={action.error} />
      <ErrorBox error={q.error} />
      <h2>Pipelines</h2>
      {!q.data ? (
        q.error ? null : (
          <Loading />
        )
      ) : pipelines.length === 0 ? (
        <p class="muted">No pipelines yet.</p>
      ) : (
        <table class="pipelines">
          <thead>
            <tr>
              <th scope="col">Pipeline</th>
              <th scope="col">Branch</th>
              <th scope="col">Revision</th>
              <th scope="col">Trigger</th>
              <th scope="col">Workflows</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {pipelines.map((p) => (
              <tr key={p.id}>
                <td>
                  <Link href={pipelinePath(slug, p.number)}>Pipeline {p.number}</Link>
                  {p.state === 'errored' ? (
                    <div>
                      <Status state="errored" />
                    </div>
                  ) : null}
                </td>
                <td>{p.vcs.tag ? `tag ${p.vcs.tag}` : (p.vcs.branch ?? '—')}</td>
                <td>
                  <code>{p.vcs.revision.slice(0, 7)}</code>
                  {p.vcs.commit ? <div class="muted">{p.vcs.commit.subject}</div> : null}
                </td>
                <td>
                  {p.trigger.type} <span class="muted">by {p.trigger.actor.login}</span>
                </td>
                <td>
                  {p.workflows.length === 0 ? (
                    <span class="muted">{p.errors[0]?.message ?? 'none'}</span>
                  ) : (
                    <ul class="plain">
                      {p.workflows.map((w) => (
                        <li key={w.id}>
                          <Link href={workflowPath(slug, p.number, w.id)}>{w.name}</Link> <Status state={w.status} />{' '}
                          <span class="muted">{between(w.createdAt, w.stoppedAt)}</span>
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
                <td>
                  <Time at={p.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="row">
        {after ? <Button onClick={() => setAfter(null)}>Newest pipelines</Button> : null}
        {q.data?.pipelines.pageInfo.hasNextPage ? <Button onClick={() => setAfter(q.data!.pipelines.pageInfo.endCursor)}>Older pipelines</Button> : null}
      </div>
    </Page>
  );
};

interface Settings {
  gitUrl: string;
  defaultBranch: string;
  buildForkPullRequests: boolean;
  passSecretsToForkPullRequests: boolean;
  onlyBuildPullRequests: boolean;
  autoCancelRedundantWorkflows: boolean;
  webhookSecret: string | null;
}
const flags: Array<[keyof Settings, string]> = [
  ['buildForkPullRequests', 'Build pull requests from forks'],
  ['passSecretsToForkPullRequests', 'Pass secrets to builds of forked pull requests'],
  ['onlyBuildPullRequests', 'Only build pull requests'],
  ['autoCancelRedundantWorkflows', 'Auto-cancel redundant workflows'],
];

export const ProjectSettings = ({ params }: P) => {
  const slug = slugOf(params);
  const q = useQuery<{ project: { slug: string; settings: Settings; envVars: Connection<EnvVar> } | null }>(
    `query($s: String!) { project(slug: $s) { slug settings { gitUrl defaultBranch buildForkPullRequests passSecretsToForkPullRequests onlyBuildPullRequests autoCancelRedundantWorkflows webhookSecret }
      envVars(first: 500) { edges { node { name value updatedAt } } pageInfo { hasNextPage } } } }`,
    { s: slug },
  );
  const [draft, setDraft] = useState<Partial<Settings> & { newSecret?: string }>({});
  const [saved, setSaved] = useState(false);
  const action = useAction();
  const project = q.data?.project;
  if (q.error)
    return (
      <Page title={`Settings of ${slug}`}>
        <ErrorBox error={q.error} />
      </Page>
    );
  if (!q.data) return <Loading />;
  if (!project)
    return (
      <Page title={`Settings of ${slug}`}>
        <p role="alert">{slug} is not followed.</p>
      </Page>
    );
  const s = { ...project.settings, ...draft };
  const save = async (input: Record<string, unknown>) => {
    setSaved(false);
    if (
      await action.run(() =>
        gql('mutation($s: String!, $i: ProjectSettingsInput!) { updateProjectSettings(slug: $s, input: $i) { slug } }', { s: project.slug, i: input }),
      )
    ) {
      setDraft({});
      setSaved(true);
      q.reload();
    }
  };
  return (
    <Page title={`Settings of ${project.slug}`} actions={<Link href={projectPath(project.slug)}>Pipelines of {project.slug}</Link>}>
      <section aria-labelledby="settings-title">
        <h2 id="settings-title">Settings</h2>
        <form
          class="stack"
          onSubmit={(e) => {
            e.preventDefault();
            const { newSecret, ...changed } = draft;
            void save({ ...changed, ...(newSecret ? { webhookSecret: newSecret } : {}) });
          }}
        >
          <Field label="Git URL" required value={s.gitUrl} spellcheck={false} onInput={(e: Event) => setDraft({ ...draft, gitUrl: value(e) })} />
          <Field
            label="Default branch"
            required
            value={s.defaultBranch}
            spellcheck={false}
            onInput={(e: Event) => setDraft({ ...draft, defaultBranch: value(e) })}
          />
          {flags.map(([key, label]) => (
            <label class="check" key={key}>
              <input
                type="checkbox"
                checked={s[key] as boolean}
                onChange={(e) => setDraft({ ...draft, [key]: (e.currentTarget as HTMLInputElement).checked })}
              />{' '}
              {label}
            </label>
          ))}
          <p>Webhook secret: {project.settings.webhookSecret ? <code>{project.settings.webhookSecret}</code> : <span class="muted">none set</span>}</p>
          <Field
            label="New webhook secret (at least 16 characters)"
            type="password"
            autoComplete="new-password"
            value={draft.newSecret ?? ''}
            onInput={(e: Event) => setDraft({ ...draft, newSecret: value(e) })}
          />
          <div class="row">
            <button type="submit" class="primary" aria-disabled={action.busy || undefined}>
              Save settings
            </button>
            {project.settings.webhookSecret ? (
              <Button class="danger" aria-disabled={action.busy || undefined} onClick={() => save({ webhookSecret: null })}>
                Remove webhook secret
              </Button>
            ) : null}
            {saved ? <span role="status">Saved.</span> : null}
          </div>
        </form>
        <ErrorBox error={action.error} />
      </section>
      <section aria-labelledby="env-title">
        <h2 id="env-title">Environment variables</h2>
        <EnvVars
          of={project.slug}
          vars={project.envVars.edges.map((e) => e.node)}
          store={async (name, v) => {
            await gql('mutation($s: String!, $n: String!, $v: String!) { storeProjectEnvVar(slug: $s, name: $n, value: $v) { name } }', {
              s: project.slug,
              n: name,
              v,
            });
            q.reload();
          }}
          remove={async (name) => {
            await gql('mutation($s: String!, $n: String!) { deleteProjectEnvVar(slug: $s, name: $n) }', { s: project.slug, n: name });
            q.reload();
          }}
        />
      </section>
      <p>
        <Link href={contextsPath(project.slug)}>Contexts of {params.org}</Link>
      </p>
    </Page>
  );
};

interface ContextData {
  id: string;
  name: string;
  createdAt: string;
  envVars: Connection<EnvVar>;
  restrictions: Array<{ id: string; type: string; value: string }>;
}

export const Contexts = ({ params }: P) => {
  const owner = `${params.vcs}/${params.org}`;
  const q = useQuery<{ contexts: Connection<ContextData> }>(
    `query($o: String!) { contexts(owner: $o, first: 200) { edges { node { id name createdAt restrictions { id type value }
      envVars(first: 500) { edges { node { name value updatedAt } } pageInfo { hasNextPage } } } } pageInfo { hasNextPage } } }`,
    { o: owner },
  );
  const [name, setName] = useState('');
  const [deleting, setDeleting] = useState<string | null>(null);
  const action = useAction();
  return (
    <Page title={`Contexts of ${params.org}`}>
      <form
        class="row"
        aria-label="Create a context"
        onSubmit={async (e) => {
          e.preventDefault();
          if (await action.run(() => gql('mutation($i: CreateContextInput!) { createContext(input: $i) { id } }', { i: { owner, name: name.trim() } }))) {
            setName('');
            q.reload();
          }
        }}
      >
        <Field label="Context name" required value={name} spellcheck={false} onInput={(e: Event) => setName(value(e))} />
        <button type="submit" class="primary" aria-disabled={action.busy || undefined}>
          Create context
        </button>
      </form>
      <ErrorBox error={action.error} />
      <ErrorBox error={q.error} />
      {!q.data ? (
        q.error ? null : (
          <Loading />
        )
      ) : q.data.contexts.edges.length === 0 ? (
        <p class="muted">No contexts yet.</p>
      ) : (
        q.data.contexts.edges.map(({ node: c }) => (
          <section key={c.id} class="context" aria-labelledby={`context-${c.id}`}>
            <header class="page-head">
              <h2 id={`context-${c.id}`}>{c.name}</h2>
              <div class="actions">
                {deleting === c.id ? (
                  <>
                    <span role="status">Its variables can never be read again.</span>
                    <Button
                      class="danger"
                      aria-disabled={action.busy || undefined}
                      onClick={async () => {
                        if (await action.run(() => gql('mutation($id: ID!) { deleteContext(id: $id) }', { id: c.id }))) q.reload();
                        setDeleting(null);
                      }}
                    >
                      Delete {c.name} for good
                    </Button>
                    <Button onClick={() => setDeleting(null)}>Keep it</Button>
                  </>
                ) : (
                  <Button class="danger" aria-disabled={action.busy || undefined} onClick={() => setDeleting(c.id)}>
                    Delete context {c.name}
                  </Button>
                )}
              </div>
            </header>
            <p class="muted">
              Created <Time at={c.createdAt} />
              {c.restrictions.length ? `; only for members of ${c.restrictions.map((r) => r.value).join(', ')}` : ''}
            </p>
            <EnvVars
              of={c.name}
              vars={c.envVars.edges.map((e) => e.node)}
              store={async (n, v) => {
                await gql('mutation($id: ID!, $n: String!, $v: String!) { storeContextEnvVar(contextId: $id, name: $n, value: $v) { name } }', {
                  id: c.id,
                  n,
                  v,
                });
                q.reload();
              }}
              remove={async (n) => {
                await gql('mutation($id: ID!, $n: String!) { deleteContextEnvVar(contextId: $id, name: $n) }', { id: c.id, n });
                q.reload();
              }}
            />
          </section>
        ))
      )}
    </Page>
  );
};
