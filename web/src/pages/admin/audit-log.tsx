import { useState } from 'preact/hooks';
import { gql } from '../../lib/gql.ts';
import { useQuery, useSubscription } from '../../lib/hooks.ts';
import { auditFilter, csvHref, emptyFilters, passes, withNewEvent, type AuditFilterForm, type AuditLogFilter } from '../../lib/audit-filters.ts';
import { Button, ErrorBox, Loading, Page, Time } from '../../lib/ui.tsx';
import { Pager, usePages } from '../../lib/actions.tsx';

interface Ref {
  id: string;
  type: string;
  name: string | null;
}
interface AuditEvent {
  id: string;
  action: string;
  actor: Ref;
  target: Ref;
  occurredAt: string;
  success: boolean;
}
const eventFields = 'id action actor { id type name } target { id type name } occurredAt success';
const logQuery = `query($filter: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) { edges { node { ${eventFields} } } pageInfo { hasNextPage endCursor } }
}`;
const tailSubscription = `subscription($filter: EventFilter) { events(filter: $filter) { ${eventFields} } }`;

const who = (r: Ref) => r.name ?? r.id;
const Outcome = ({ success }: { success: boolean }) => (
  <span class={`status status-${success ? 'good' : 'bad'}`}>
    <span aria-hidden="true">{success ? '✓' : '✕'}</span> {success ? 'succeeded' : 'refused'}
  </span>
);

/** The actor as Gyre records it: a login typed is looked up to its user id; anything else is taken as an id. */
const actorIdOf = async (typed: string): Promise<string | undefined> => {
  const t = typed.trim();
  if (!t) return undefined;
  const found = await gql<{ user: { id: string } | null }>('query($login: String!) { user(login: $login) { id } }', { login: t }).catch(() => ({ user: null }));
  return found.user?.id ?? t;
};

/** The audit log, filtered and paged; a live tail of new events; and the CSV export of the same filters. */
export const AuditLog = () => {
  const [form, setForm] = useState<AuditFilterForm>(emptyFilters);
  const [filter, setFilter] = useState<AuditLogFilter>({});
  const pages = usePages();
  const log = useQuery<{ auditLog: { edges: Array<{ node: AuditEvent }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }>(logQuery, {
    filter,
    first: 50,
    after: pages.after,
  });
  const [live, setLive] = useState(false);
  const [tail, setTail] = useState<AuditEvent[]>([]);
  const tailError = useSubscription<{ events: AuditEvent }>(
    tailSubscription,
    { filter: filter.actions ? { actions: filter.actions } : null },
    (d) => {
      if (passes(d.events, filter)) setTail((t) => withNewEvent(t, d.events));
    },
    live,
  );
  const set = (k: keyof AuditFilterForm) => (e: { currentTarget: HTMLInputElement }) => setForm((f) => ({ ...f, [k]: e.currentTarget.value }));
  const apply = async (next: AuditFilterForm) => {
    setFilter(auditFilter(next, await actorIdOf(next.actor)));
    setTail([]);
    pages.reset();
  };

  return (
    <Page
      title="Audit log"
      actions={
        <a class="button" href={csvHref(filter)}>
          Download CSV
        </a>
      }
    >
      <form
        class="row filters"
        aria-label="Audit log filters"
        onSubmit={(e) => {
          e.preventDefault();
          void apply(form);
        }}
      >
        <label class="field">
          <span>Action</span>
          <input name="action" value={form.action} placeholder="user.* or context.create" aria-describedby="action-hint" onInput={set('action')} />
          <small id="action-hint" class="muted">
            A prefix ends in .*; several separated by commas.
          </small>
        </label>
        <label class="field">
          <span>Actor</span>
          <input name="actor" value={form.actor} placeholder="a login, or an actor id" autoComplete="off" onInput={set('actor')} />
        </label>
        <label class="field">
          <span>From</span>
          <input type="datetime-local" name="since" value={form.since} onInput={set('since')} />
        </label>
        <label class="field">
          <span>Until</span>
          <input type="datetime-local" name="until" value={form.until} onInput={set('until')} />
        </label>
        <button type="submit" class="primary">
          Apply filters
        </button>
        <Button
          onClick={() => {
            setForm(emptyFilters);
            void apply(emptyFilters);
          }}
        >
          Clear filters
        </Button>
      </form>
      {filter.actorId ? <p class="muted">The CSV export filters by action and time only: it holds every actor.</p> : null}

      <section class="tail" aria-labelledby="tail-heading">
        <div class="row">
          <h2 id="tail-heading">Live tail</h2>
          <label class="check">
            <input
              type="checkbox"
              checked={live}
              onChange={(e) => {
                setLive(e.currentTarget.checked);
                if (!e.currentTarget.checked) setTail([]);
              }}
            />
            <span>Live tail</span>
          </label>
        </div>
        <ErrorBox error={tailError} />
        {live ? (
          <>
            {tail.length ? null : <p class="muted">Following: new events matching the filters appear here as they happen.</p>}
            <ol class="tail-list" aria-label="Live tail" aria-live="polite">
              {tail.map((e) => (
                <li key={e.id} data-action={e.action}>
                  <Time at={e.occurredAt} /> <code>{e.action}</code> by <span class="actor">{who(e.actor)}</span> on {who(e.target)}{' '}
                  <Outcome success={e.success} />
                </li>
              ))}
            </ol>
          </>
        ) : null}
      </section>

      <section aria-labelledby="log-heading">
        <h2 id="log-heading">Events, newest first</h2>
        <ErrorBox error={log.error} />
        {log.data ? (
          <>
            <table>
              <caption class="visually-hidden">Audit events</caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Action</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Target</th>
                  <th scope="col">Outcome</th>
                </tr>
              </thead>
              <tbody>
                {log.data.auditLog.edges.map(({ node: e }) => (
                  <tr key={e.id}>
                    <td>
                      <Time at={e.occurredAt} />
                    </td>
                    <td>
                      <code>{e.action}</code>
                    </td>
                    <td>
                      {who(e.actor)} <span class="muted">({e.actor.type})</span>
                    </td>
                    <td>
                      {who(e.target)} <span class="muted">({e.target.type})</span>
                    </td>
                    <td>
                      <Outcome success={e.success} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {log.data.auditLog.edges.length === 0 ? <p>No events match these filters.</p> : null}
            <Pager label="Audit log" pages={pages} hasNextPage={log.data.auditLog.pageInfo.hasNextPage} endCursor={log.data.auditLog.pageInfo.endCursor} />
          </>
        ) : log.loading ? (
          <Loading />
        ) : null}
      </section>
    </Page>
  );
};
