import type { ButtonHTMLAttributes, ComponentChildren, InputHTMLAttributes } from 'preact';
import type { GqlError } from './gql.ts';

/**
 * CircleCI's words for job and workflow states, each with a mark besides its colour (colour is never
 * the only signal).
 */
const states: Record<string, { words: string; mark: string; tone: string }> = {
  success: { words: 'success', mark: '✓', tone: 'good' },
  failed: { words: 'failed', mark: '✕', tone: 'bad' },
  failing: { words: 'failing', mark: '✕', tone: 'bad' },
  error: { words: 'error', mark: '!', tone: 'bad' },
  errored: { words: 'errored', mark: '!', tone: 'bad' },
  infrastructure_fail: { words: 'infrastructure fail', mark: '!', tone: 'bad' },
  timedout: { words: 'timed out', mark: '!', tone: 'bad' },
  running: { words: 'running', mark: '◐', tone: 'busy' },
  queued: { words: 'queued', mark: '…', tone: 'wait' },
  blocked: { words: 'blocked', mark: '…', tone: 'wait' },
  on_hold: { words: 'on hold', mark: '‖', tone: 'hold' },
  not_run: { words: 'not run', mark: '–', tone: 'off' },
  canceled: { words: 'canceled', mark: '⊘', tone: 'off' },
  unauthorized: { words: 'unauthorized', mark: '⊘', tone: 'bad' },
  created: { words: 'created', mark: '…', tone: 'wait' },
  setup: { words: 'setup', mark: '…', tone: 'wait' },
  skipped: { words: 'skipped', mark: '–', tone: 'off' },
};
export const stateWords = (state: string) => states[state]?.words ?? state.replace(/_/g, ' ');
export const stateMark = (state: string) => states[state]?.mark ?? '•';

export const Status = ({ state }: { state: string }) => {
  const s = states[state] ?? { words: stateWords(state), mark: '•', tone: 'off' };
  return (
    <span class={`status status-${s.tone}`} data-state={state}>
      <span aria-hidden="true">{s.mark}</span> {s.words}
    </span>
  );
};

export const Page = ({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) => {
  document.title = `${title} · Gyre`;
  return (
    <section class="page" aria-labelledby="page-title">
      <header class="page-head">
        <h1 id="page-title">{title}</h1>
        {actions ? <div class="actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
};

export const ErrorBox = ({ error }: { error: GqlError | Error | string | null }) =>
  error ? (
    <p class="error" role="alert">
      {typeof error === 'string' ? error : error.message}
    </p>
  ) : null;

export const Loading = () => <p aria-live="polite">Loading…</p>;

export const NotAllowed = () => (
  <Page title="Not allowed">
    <p role="alert">Your account is not allowed to see this page.</p>
  </Page>
);

/** A labelled input: the label is the field's accessible name. */
export const Field = ({ label, ...input }: InputHTMLAttributes<HTMLInputElement> & { label: string }) => (
  <label class="field">
    <span>{label}</span>
    <input {...input} />
  </label>
);

export const Button = ({ children, ...rest }: ButtonHTMLAttributes<HTMLButtonElement>) => (
  <button type="button" {...rest}>
    {children}
  </button>
);

/** A time as the reader's clock shows it, the exact instant on hover. */
export const Time = ({ at }: { at: string | null | undefined }) =>
  at ? (
    <time dateTime={at} title={at}>
      {new Date(at).toLocaleString()}
    </time>
  ) : (
    <span>—</span>
  );

/** Milliseconds as people say them: 950 ms, 12 s, 3 min 4 s. */
export const duration = (ms: number | null) => {
  if (ms === null || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
};
export const between = (from: string | null | undefined, to: string | null | undefined) =>
  from ? duration((to ? Date.parse(to) : Date.now()) - Date.parse(from)) : '—';
