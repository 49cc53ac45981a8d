/**
 * Terminal output as the job page shows it: lines of text runs, each run with the CSS classes of its
 * ANSI SGR state (colours 30–37, 90–97, 40–47, 100–107, bold, reset). Other escape sequences (cursor
 * moves, erasing, window titles) are dropped; a carriage return starts its line over, as a progress
 * bar means it. Pure: the page renders runs as text in spans, never as HTML.
 */

export interface SgrState {
  readonly fg: string | null;
  readonly bg: string | null;
  readonly bold: boolean;
}

/** A run of text in one state; `cls` is its classes, '' when plain. */
export interface Run {
  readonly text: string;
  readonly cls: string;
}

export type Line = ReadonlyArray<Run>;

export const plainState: SgrState = { fg: null, bg: null, bold: false };

const names = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];

/** The state after one SGR sequence's parameters (`1;31`, `0`, `` = reset). */
export const applySgr = (state: SgrState, params: string): SgrState => {
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  let { fg, bg, bold } = state;
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c === 0) ({ fg, bg, bold } = plainState);
    else if (c === 1) bold = true;
    else if (c === 22) bold = false;
    else if (c >= 30 && c <= 37) fg = names[c - 30]!;
    else if (c >= 90 && c <= 97) fg = `bright-${names[c - 90]}`;
    else if (c === 39) fg = null;
    else if (c >= 40 && c <= 47) bg = names[c - 40]!;
    else if (c >= 100 && c <= 107) bg = `bright-${names[c - 100]}`;
    else if (c === 49) bg = null;
    else if (c === 38 || c === 48) {
      // 256 colours (5;n) and true colour (2;r;g;b) are not shown: skip their parameters
      i += codes[i + 1] === 5 ? 2 : codes[i + 1] === 2 ? 4 : 0;
    }
  }
  return { fg, bg, bold };
};

export const classOf = (s: SgrState) => [s.fg ? `ansi-fg-${s.fg}` : '', s.bg ? `ansi-bg-${s.bg}` : '', s.bold ? 'ansi-bold' : ''].filter(Boolean).join(' ');

// CSI (ESC [ … final), OSC (ESC ] … BEL or ESC \), any other two-byte escape, and a carriage return
const escapes = /\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?|\r/g;

/** One line (no newline in it) from `state`: its runs, and the state the next line starts in. */
export const parseLine = (raw: string, state: SgrState): { line: Line; state: SgrState } => {
  let runs: Run[] = [];
  let at = 0;
  const add = (text: string) => {
    if (!text) return;
    const cls = classOf(state);
    const last = runs[runs.length - 1];
    if (last && last.cls === cls) runs[runs.length - 1] = { text: last.text + text, cls };
    else runs.push({ text, cls });
  };
  escapes.lastIndex = 0;
  for (let m = escapes.exec(raw); m; m = escapes.exec(raw)) {
    add(raw.slice(at, m.index));
    at = m.index + m[0].length;
    if (m[0] === '\r') {
      // a lone carriage return: what follows overwrites the line (a trailing one, from \r\n, changes nothing)
      if (at < raw.length) runs = [];
    } else if (m[2] === 'm') state = applySgr(state, m[1]!);
  }
  add(raw.slice(at));
  return { line: runs, state };
};

export const plainText = (line: Line) => line.map((r) => r.text).join('');

/**
 * A step's output as it grows: complete lines are parsed once; the unfinished last line is parsed
 * again with each chunk until its newline comes.
 */
export class OutputLines {
  readonly lines: Line[] = [];
  /** The plain text of each line, for search. */
  readonly plain: string[] = [];
  private pending = '';
  private pendingState: SgrState = plainState;
  private hasPending = false;

  append(text: string): void {
    if (!text) return;
    if (this.hasPending) {
      this.lines.pop();
      this.plain.pop();
    }
    const parts = (this.pending + text).split('\n');
    this.pending = parts.pop()!;
    let state = this.pendingState;
    for (const raw of parts) {
      const parsed = parseLine(raw, state);
      this.lines.push(parsed.line);
      this.plain.push(plainText(parsed.line));
      state = parsed.state;
    }
    this.pendingState = state;
    this.hasPending = this.pending !== '';
    if (this.hasPending) {
      const line = parseLine(this.pending, state).line;
      this.lines.push(line);
      this.plain.push(plainText(line));
    }
  }

  get length() {
    return this.lines.length;
  }
}
