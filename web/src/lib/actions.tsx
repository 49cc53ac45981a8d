import type { Ref } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * A button whose action asks first, in the page (not window.confirm): the question and its two
 * buttons take the button's place, focus moves to "Confirm", Escape or "Cancel" step back.
 */
export const ConfirmButton = ({ label, name, question, onConfirm }: { label: string; name?: string; question: string; onConfirm: () => unknown }) => {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const confirm = useRef<HTMLButtonElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  const returning = useRef(false);
  const group = useRef<HTMLSpanElement>(null);
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
      <button type="button" class="danger" ref={opener} aria-label={full} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  const lower = `${full.charAt(0).toLowerCase()}${full.slice(1)}`;
  return (
    <span class="confirm" role="group" ref={group} aria-label={`Confirm: ${full}`} onKeyDown={(e) => e.key === 'Escape' && cancel()}>
      <span>{question}</span>
      <button
        type="button"
        class="danger"
        ref={confirm}
        aria-label={`Confirm ${lower}`}
        aria-busy={busy ? 'true' : undefined}
        onClick={async () => {
          if (busy) return;
          setBusy(true);
          try {
            await onConfirm();
          } finally {
            setBusy(false);
            // back to the button, unless what it did moved the focus elsewhere (its outcome)
            const at = document.activeElement;
            returning.current = !at || at === document.body || Boolean(group.current?.contains(at));
            setAsking(false);
          }
        }}
      >
        Confirm
      </button>
      <button type="button" aria-label={`Cancel ${lower}`} onClick={cancel}>
        Cancel
      </button>
    </span>
  );
};

/** What the last action did, read out politely (focusable, for when the control that did it is gone); its error as an alert. */
export const Outcome = ({ done, error, statusRef }: { done: string | null; error: string | null; statusRef?: Ref<HTMLParagraphElement> }) => (
  <>
    <p class="done" role="status" tabIndex={-1} ref={statusRef}>
      {done ? (
        <>
          <span aria-hidden="true">✓ </span>
          {done}
        </>
      ) : null}
    </p>
    {error ? (
      <p class="error" role="alert">
        <span aria-hidden="true">✕ </span>
        {error}
      </p>
    ) : null}
  </>
);

/**
 * Runs actions one at a time (a second one while the first runs is ignored, rather than disabling
 * buttons, which would take the keyboard focus away) and keeps what the last one did or why it
 * failed, in words.
 */
export const useAction = () => {
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const running = useRef(false);
  const statusRef = useRef<HTMLParagraphElement>(null);
  const run = async (what: () => Promise<unknown>, success: string | null = null) => {
    if (running.current) return false;
    running.current = true;
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
      running.current = false;
      setBusy(false);
    }
  };
  /** Moves the focus to what the action did: for when the control that did it goes away (a deleted row). */
  const focusOutcome = () => statusRef.current?.focus();
  return { done, error, busy, run, statusRef, focusOutcome };
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

export const Pager = ({
  label,
  pages,
  hasNextPage,
  endCursor,
}: {
  label: string;
  pages: ReturnType<typeof usePages>;
  hasNextPage: boolean;
  endCursor: string | null;
}) => (
  // aria-disabled, not disabled: the focus stays on a button that has just reached the last page
  <nav class="pager" aria-label={`${label} pages`}>
    <button type="button" aria-disabled={pages.page === 1 ? 'true' : undefined} onClick={() => pages.page > 1 && pages.previous()}>
      Previous page
    </button>
    <span>Page {pages.page}</span>
    <button type="button" aria-disabled={hasNextPage ? undefined : 'true'} onClick={() => hasNextPage && pages.next(endCursor)}>
      Next page
    </button>
  </nav>
);
