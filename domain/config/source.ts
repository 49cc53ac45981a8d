import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { keyOf, type ConfigProblem, type Path } from './problems.ts';

/** The path to the first value that contains itself (an anchor used inside its own definition), if any. */
const cyclicPath = (root: unknown): Path | null => {
  const ancestors = new Set<unknown>();
  const visit = (v: unknown, path: Path): Path | null => {
    if (typeof v !== 'object' || v === null) return null;
    if (ancestors.has(v)) return path;
    ancestors.add(v);
    for (const [k, x] of Array.isArray(v) ? v.entries() : Object.entries(v)) {
      const found = visit(x, [...path, k]);
      if (found) return found;
    }
    ancestors.delete(v);
    return null;
  };
  return visit(root, []);
};

/** A YAML file as data, with the line each key path starts on. */
export interface Source {
  readonly file: string;
  readonly value: unknown;
  /** The line of the nearest key path recorded at or above `path`. */
  lineOf(path: Path): number | null;
}

/**
 * Parses YAML as CircleCI does: merge keys, anchors reused under the same name (the later wins), tabs
 * inside plain scalars. Syntax errors come back as problems with their line.
 */
export const parseSource = (text: string, file: string): { source?: Source; problems: ConfigProblem[] } => {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, uniqueKeys: false, prettyErrors: false, strict: false });
  if (doc.errors.length) {
    return { problems: doc.errors.map((e) => ({ file, line: lines.linePos(e.pos[0]).line, key: '', message: `YAML: ${e.message.split('\n')[0]}` })) };
  }
  const at = new Map<string, number>();
  const line = (node: { range?: [number, number, number] | null } | null | undefined) => (node?.range ? lines.linePos(node.range[0]).line : undefined);
  // aliases are not followed: a key inside an alias takes the line the alias is used on, and a file of
  // aliases of aliases cannot make this walk exponential
  const walk = (node: unknown, path: Path, depth: number) => {
    if (depth > 200 || isAlias(node)) return;
    const resolved = node;
    if (isMap(resolved)) {
      for (const pair of resolved.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (key === '<<') {
          walk(pair.value, path, depth + 1);
          continue;
        }
        const p = [...path, key];
        const k = keyOf(p);
        const l = line(pair.key as Node);
        if (l !== undefined && !at.has(k)) at.set(k, l);
        walk(pair.value, p, depth + 1);
      }
    } else if (isSeq(resolved)) {
      resolved.items.forEach((item, i) => {
        const p = [...path, i];
        const l = line(item as Node);
        if (l !== undefined && !at.has(keyOf(p))) at.set(keyOf(p), l);
        walk(item, p, depth + 1);
      });
    }
  };
  walk(doc.contents, [], 0);
  let value: unknown;
  try {
    // the library's bound on alias expansion stops a small file from growing into a huge one
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    return { problems: [{ file, line: null, key: '', message: `YAML: ${(e as Error).message}` }] };
  }
  const loop = cyclicPath(value);
  if (loop) return { problems: [{ file, line: at.get(keyOf(loop)) ?? null, key: keyOf(loop), message: 'a YAML anchor contains itself' }] };
  return {
    problems: [],
    source: {
      file,
      value,
      lineOf(path) {
        for (let n = path.length; n >= 0; n--) {
          const l = at.get(keyOf(path.slice(0, n)));
          if (l !== undefined) return l;
        }
        return null;
      },
    },
  };
};
