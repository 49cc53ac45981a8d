import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * A button whose action asks first, in the page (not window.confirm): the question and its two
 * buttons take the button's place, focus moves to "Confirm", Escape or "Cancel" step back.
 */
export const ConfirmButton = ({ label, name, question, onConfirm, disabled }: { label: string; name?: string; question: string; onConfirm: () => unknown; disabled?: boolean }) => {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const confirm = useRef<HTMLButtonElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  const returning = useRef(false);
  const full = name ? `${label} ${name}` : label;
  useEffect(() => {
    if (asking) confirm.current?.focus();
    else if (returning.current) {
      returning.current = false;
      opener.current?.focus();
    }
  }, [asking]);
  const cancel = () => {
    returning.current = true;
    setAsking(false);
  };
  if (!asking)
    return (
      <button type="button" class="danger" ref={opener} aria-label={full} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <span class="confirm" role="group" aria-label={`Confirm: ${full}`} onKeyDown={(e) => e.key === 'Escape' && cancel()}>
      <span>{question}</span>
      <button
        type="button"
        class="danger"
        ref={confirm}
        aria-label={`Confirm ${full.charAt(0).toLowerCase()}${full.slice(1)}`}
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          try {
            await onConfirm();
          } finally {
            setBusy(false);
            setAsking(false);
          }
        }}
      >
        Confirm
      </button>
      <button type="button" aria-label={`Cancel ${full.charAt(0).toLowerCase()}${full.slice(1)}`} onClick={cancel}>
        Cancel
      </button>
    </span>
  );
};

/** What the last action did, read out politely; its error as an alert. */
export const Outcome = ({ done, error }: { done: string | null; error: string | null }) => (
  <>
    <p class="done" role="status">
      {done ? <><span aria-hidden="true">✓ </span>{done}</> : null}
    </p>
    {error ? (
      <p class="error" role="alert">
        <span aria-hidden="true">✕ </span>
        {error}
      </p>
    ) : null}
  </>
);

/** Runs actions one at a time and keeps what the last one did or why it failed, in words. */
export const useAction = () => {
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (what: () => Promise<unknown>, success: string) => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      await what();
      setDone(success);
      return true;
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { done, error, busy, run };
};

/** Previous and next page over a Relay connection: the cursors walked so far are the way back. */
export const usePages = () => {
  const [trail, setTrail] = useState<Array<string | null>>([null]);
  const after = trail[trail.length - 1] ?? null;
  return {
    after,
    page: trail.length,
    next: (cursor: string | null) => cursor && setTrail((t) => [...t, cursor]),
    previous: () => setTrail((t) => (t.length > 1 ? t.slice(0, -1) : t)),
    reset: () => setTrail([null]),
  };
};

export const Pager = ({ label, pages, hasNextPage, endCursor }: { label: string; pages: ReturnType<typeof usePages>; hasNextPage: boolean; endCursor: string | null }) => (
  <nav class="pager" aria-label={`${label} pages`}>
    <button type="button" disabled={pages.page === 1} onClick={pages.previous}>
      Previous page
    </button>
    <span>Page {pages.page}</span>
    <button type="button" disabled={!hasNextPage} onClick={() => pages.next(endCursor)}>
      Next page
    </button>
  </nav>
);
