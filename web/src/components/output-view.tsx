import { useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { OutputLines } from '../lib/ansi.ts';
import { findMatches, highlight, step } from '../lib/search.ts';
import { scrollTopFor, visibleWindow } from '../lib/virtual.ts';

/** Must match `.output-line` in style.css: the window is computed from it. */
const lineHeight = 18;

/** Stands for lines not in the page: an SVG's height is an attribute, so no style is needed (the CSP forbids them). */
const Spacer = ({ lines }: { lines: number }) => (lines > 0 ? <svg class="output-spacer" aria-hidden="true" width="1" height={lines * lineHeight} /> : null);

/**
 * A step's output: ANSI colours as classed spans, only the lines in view in the page (however long it
 * is), searchable, and following its end while it grows if the reader is there.
 */
export const OutputView = ({ name, output, version }: { name: string; output: OutputLines; version: number }) => {
  const box = useRef<HTMLDivElement>(null);
  const [scroll, setScroll] = useState({ top: 0, height: 400 });
  const [query, setQuery] = useState('');
  const [current, setCurrent] = useState(-1);
  const atEnd = useRef(true);

  const matches = useMemo(() => findMatches(output.plain, query), [output, version, query]);
  const at = current >= matches.length ? matches.length - 1 : current;

  const measure = () => {
    const el = box.current;
    if (!el) return;
    atEnd.current = el.scrollTop + el.clientHeight >= el.scrollHeight - lineHeight;
    setScroll({ top: el.scrollTop, height: el.clientHeight || 400 });
  };
  // a growing output is followed while the reader is at its end and not searching
  useLayoutEffect(() => {
    const el = box.current;
    if (el && atEnd.current && !query) el.scrollTop = el.scrollHeight;
    measure();
  }, [version]);

  const go = (by: 1 | -1) => {
    const next = step(at, matches.length, by);
    setCurrent(next);
    const m = matches[next];
    const el = box.current;
    if (m && el) {
      el.scrollTop = scrollTopFor(m.line, el.clientHeight, lineHeight);
      measure();
    }
  };

  const { start, end } = visibleWindow(scroll.top, scroll.height, lineHeight, output.length);
  const rows = [];
  // matches are in line order: find those of the window by bisection
  let m = 0;
  for (let lo = 0, hi = matches.length; lo < hi; ) {
    const mid = (lo + hi) >> 1;
    if (matches[mid]!.line < start) lo = m = mid + 1;
    else hi = mid;
  }
  for (let i = start; i < end; i++) {
    const ranges = [];
    for (; m < matches.length && matches[m]!.line === i; m++) ranges.push({ start: matches[m]!.start, end: matches[m]!.end, current: m === at });
    const pieces = highlight(output.lines[i]!, ranges);
    rows.push(
      <div class="output-line" key={i}>
        {pieces.length === 0
          ? ' '
          : pieces.map((p, k) =>
              p.mark ? (
                <mark key={k} class={`${p.cls} ${p.mark === 'current' ? 'match-current' : 'match'}`}>
                  {p.text}
                </mark>
              ) : (
                <span key={k} class={p.cls || undefined}>
                  {p.text}
                </span>
              ),
            )}
      </div>,
    );
  }

  return (
    <div class="output-block">
      <form
        class="output-search row"
        role="search"
        aria-label={`Search in output of ${name}`}
        onSubmit={(e) => {
          e.preventDefault();
          go(1);
        }}
      >
        <label class="field">
          <span>Search in output</span>
          <input
            type="search"
            value={query}
            onInput={(e) => {
              setQuery((e.currentTarget as HTMLInputElement).value);
              setCurrent(-1);
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && e.shiftKey) {
                e.preventDefault();
                go(-1);
              }
            }}
          />
        </label>
        <button type="button" onClick={() => go(-1)} disabled={matches.length === 0}>
          Previous match
        </button>
        <button type="submit" disabled={matches.length === 0}>
          Next match
        </button>
        <span class="muted" aria-live="polite">
          {query
            ? matches.length === 0
              ? 'No matches'
              : `${at >= 0 ? `${at + 1} of ` : ''}${matches.length}${matches.length >= 10_000 ? '+' : ''} ${matches.length === 1 ? 'match' : 'matches'}`
            : ''}
        </span>
      </form>
      {output.length === 0 ? (
        <p class="muted" role="region" aria-label={`Output of ${name}`}>
          No output.
        </p>
      ) : (
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region takes focus so the keyboard can scroll it
        <div class="output" role="region" aria-label={`Output of ${name}`} tabIndex={0} ref={box} onScroll={measure}>
          <Spacer lines={start} />
          {rows}
          <Spacer lines={output.length - end} />
        </div>
      )}
    </div>
  );
};
