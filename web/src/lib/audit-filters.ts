/**
 * The audit log page's filters as the reader types them, turned into the API's AuditLogFilter, the
 * CSV export's address and the live tail's list. Pure: tested without a browser.
 */

/** What the filter form holds: actions as typed, the actor as typed, times as a datetime-local input gives them. */
export interface AuditFilterForm {
  readonly action: string;
  readonly actor: string;
  readonly since: string;
  readonly until: string;
}

export const emptyFilters: AuditFilterForm = { action: '', actor: '', since: '', until: '' };

/** The AuditLogFilter of schema.graphql. */
export interface AuditLogFilter {
  since?: string;
  until?: string;
  actions?: string[];
  actorId?: string;
}

/** "user.*, context.create" → ["user.*", "context.create"]: commas or spaces separate them. */
export const actionList = (text: string): string[] => text.split(/[\s,]+/).filter(Boolean);

/**
 * A datetime-local value (the reader's clock, no zone) as an ISO-8601 instant with its zone, which
 * Gyre asks for; undefined when empty or not a time.
 */
export const localToIso = (value: string): string | undefined => {
  if (!value.trim()) return undefined;
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
};

/** The API's filter; `actorId` is the actor as Gyre records it (a user's id), found from what was typed. */
export const auditFilter = (form: AuditFilterForm, actorId?: string): AuditLogFilter => {
  const f: AuditLogFilter = {};
  const since = localToIso(form.since);
  const until = localToIso(form.until);
  const actions = actionList(form.action);
  if (since) f.since = since;
  if (until) f.until = until;
  if (actions.length) f.actions = actions;
  if (actorId) f.actorId = actorId;
  return f;
};

/** `/admin/audit-log.csv` with the filters the export takes (since, until and each action); the actor is not one of them. */
export const csvHref = (filter: AuditLogFilter): string => {
  const q = new URLSearchParams();
  if (filter.since) q.set('since', filter.since);
  if (filter.until) q.set('until', filter.until);
  for (const a of filter.actions ?? []) q.append('action', a);
  const s = q.toString();
  return s ? `/admin/audit-log.csv?${s}` : '/admin/audit-log.csv';
};

export interface TailEvent {
  readonly id: string;
  readonly action: string;
  readonly occurredAt: string;
  readonly actor: { readonly id: string; readonly name?: string | null };
}

/** Whether a live event passes the filters the subscription cannot apply (actor and time range). */
export const passes = (e: TailEvent, filter: AuditLogFilter): boolean =>
  (!filter.actorId || e.actor.id === filter.actorId) &&
  (!filter.since || Date.parse(e.occurredAt) >= Date.parse(filter.since)) &&
  (!filter.until || Date.parse(e.occurredAt) < Date.parse(filter.until));

/** The live tail with a new event at the top, each event once, at most `cap` kept. */
export const withNewEvent = <E extends TailEvent>(tail: ReadonlyArray<E>, e: E, cap = 200): E[] =>
  tail.some((x) => x.id === e.id) ? [...tail] : [e, ...tail].slice(0, cap);
