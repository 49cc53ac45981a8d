import type { Line } from './ansi.ts';

/** One occurrence of the searched text: its line and its character range there. */
export interface Match {
  readonly line: number;
  readonly start: number;
  readonly end: number;
}

/** Every occurrence of `query` in the lines, case-insensitively, in order (none for an empty query); at most `limit`. */
export const findMatches = (plain: ReadonlyArray<string>, query: string, limit = 10_000): Match[] => {
  const q = query.toLowerCase();
  if (!q) return [];
  const found: Match[] = [];
  for (let line = 0; line < plain.length; line++) {
    const text = plain[line]!.toLowerCase();
    for (let at = text.indexOf(q); at !== -1; at = text.indexOf(q, at + q.length)) {
      found.push({ line, start: at, end: at + q.length });
      if (found.length >= limit) return found;
    }
  }
  return found;
};

/** The match after (`+1`) or before (`-1`) the current one, wrapping around; -1 when there are none. */
export const step = (current: number, count: number, by: 1 | -1) =>
  count === 0 ? -1 : current < 0 ? (by === 1 ? 0 : count - 1) : (current + by + count) % count;

/** A piece of a line to render: its text, its ANSI classes, and whether it is a match (the current one or another). */
export interface Piece {
  readonly text: string;
  readonly cls: string;
  readonly mark: 'match' | 'current' | null;
}

/** Splits a line's runs at the matches on it, so that each match can be marked. */
export const highlight = (line: Line, ranges: ReadonlyArray<{ start: number; end: number; current: boolean }>): Piece[] => {
  const pieces: Piece[] = [];
  let offset = 0;
  for (const run of line) {
    const runEnd = offset + run.text.length;
    let at = offset;
    for (const r of ranges) {
      if (r.end <= at || r.start >= runEnd) continue;
      const from = Math.max(r.start, at);
      const to = Math.min(r.end, runEnd);
      if (from > at) pieces.push({ text: run.text.slice(at - offset, from - offset), cls: run.cls, mark: null });
      pieces.push({ text: run.text.slice(from - offset, to - offset), cls: run.cls, mark: r.current ? 'current' : 'match' });
      at = to;
    }
    if (at < runEnd) pieces.push({ text: run.text.slice(at - offset), cls: run.cls, mark: null });
    offset = runEnd;
  }
  return pieces;
};
