import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { keyOf, type ConfigProblem, type Path } from './problems.ts';

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
    return { problems: doc.errors.map((e) => ({ file, line: e.linePos?.[0]?.line ?? null, key: '', message: `YAML: ${e.message.split('\n')[0]}` })) };
  }
  const at = new Map<string, number>();
  const line = (node: { range?: [number, number, number] | null } | null | undefined) => (node?.range ? lines.linePos(node.range[0]).line : undefined);
  const walk = (node: unknown, path: Path, depth: number) => {
    if (depth > 200) return;
    const resolved = isAlias(node) ? node.resolve(doc) : node;
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
    value = doc.toJS({ maxAliasCount: -1 });
  } catch (e) {
    return { problems: [{ file, line: null, key: '', message: `YAML: ${(e as Error).message}` }] };
  }
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
