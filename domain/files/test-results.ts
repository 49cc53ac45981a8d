import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { isRecord } from '../config/values.ts';

/** One test as CircleCI's API reports it (`GET /project/{slug}/{job-number}/tests`); `run_time` in seconds. */
export interface TestResult {
  readonly name: string;
  readonly classname: string;
  /** The source file the case or its suite names; null when neither does. */
  readonly file: string | null;
  readonly result: 'success' | 'failure' | 'skipped';
  readonly message: string | null;
  /** The directory the report was found in (CircleCI names the test runner this way), `unknown` at the top. */
  readonly source: string;
  readonly run_time: number;
}

export interface TestCounts {
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
}

/** A report Gyre could not read: the job goes on, the Tests tab names the file and why. */
export interface TestReportProblem {
  readonly file: string;
  readonly reason: string;
}

export type TestReport = { ok: true; file: string; tests: TestResult[]; counts: TestCounts } | { ok: false; problem: TestReportProblem };

/** Elements JUnit writers repeat; always read as lists so one and many look the same. */
const repeated = new Set(['testsuites', 'testsuite', 'testcase', 'failure', 'error', 'skipped', 'system-out', 'system-err', 'properties', 'property']);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // the five XML entities and character references only; documents declaring entities are refused before this
  processEntities: { enabled: true, maxEntityCount: 1, maxEntitySize: 1, maxExpansionDepth: 1, maxExpandedLength: 1 },
  // with the HTML set come character references (`&#65;`, `&#x1b;`), which JUnit writers use for control characters
  htmlEntities: true,
  maxNestedTags: 200,
  isArray: (name) => repeated.has(name),
});

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
const attr = (node: unknown, name: string): string | null => {
  const v = isRecord(node) ? node[`@_${name}`] : undefined;
  return typeof v === 'string' ? v : null;
};
const text = (node: unknown): string => (typeof node === 'string' ? node : isRecord(node) && typeof node['#text'] === 'string' ? node['#text'] : '').trim();
const seconds = (v: string | null): number => {
  const n = v === null ? NaN : Number(v.replace(/,/g, ''));
  return Number.isFinite(n) && n >= 0 ? n : 0;
};

/** A failure's, error's or skip's words: its `message` attribute, then its body when that says more. */
const words = (nodes: unknown[]): string | null => {
  const parts = nodes.flatMap((n) => {
    const message = (attr(n, 'message') ?? '').trim();
    const body = text(n);
    return [message, body && body !== message ? body : ''].filter(Boolean);
  });
  return parts.length ? parts.join('\n') : null;
};

const sourceOf = (file: string): string => {
  const dirs = file
    .replace(/\\/g, '/')
    .split('/')
    .slice(0, -1)
    .filter((d) => d && d !== '.');
  return dirs.at(-1) ?? 'unknown';
};

/** A report larger than Gyre reads (a reader that knows the size before reading says so with this). */
export const reportTooLarge = (file: string, size: number, maxBytes: number): TestReportProblem => ({
  file,
  reason: `the report is ${size} bytes, more than the ${maxBytes} bytes Gyre reads: split it or raise the limit`,
});

/**
 * Reads one JUnit XML report (`store_test_results`): suites nested at any depth, each case a success,
 * failure (`failure` or `error`) or skip. Never throws: a report too large, malformed, or declaring
 * entities (an expansion bomb guard) is a problem naming the file.
 * `file` is the report's path under the stored directory; `maxBytes` the largest report read.
 */
export const parseJUnitReport = (file: string, xml: string, opts: { maxBytes: number }): TestReport => {
  const refuse = (reason: string): TestReport => ({ ok: false, problem: { file, reason } });
  const size = Buffer.byteLength(xml);
  if (size > opts.maxBytes) return { ok: false, problem: reportTooLarge(file, size, opts.maxBytes) };
  if (/<!ENTITY/i.test(xml))
    return refuse('the report declares XML entities, which Gyre does not expand (they can be used for expansion bombs): remove the DOCTYPE');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) return refuse(`not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch (e) {
    return refuse(`not readable as XML: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isRecord(doc) || !('testsuites' in doc || 'testsuite' in doc || 'testcase' in doc))
    return refuse('not a JUnit report: no testsuites, testsuite or testcase element at the top');

  const source = sourceOf(file);
  const tests: TestResult[] = [];
  const walk = (node: unknown, suiteName: string | null, suiteFile: string | null) => {
    if (!isRecord(node)) return;
    for (const s of list(node.testsuites)) walk(s, suiteName, suiteFile);
    for (const s of list(node.testsuite)) walk(s, attr(s, 'name') ?? suiteName, attr(s, 'file') ?? attr(s, 'filepath') ?? suiteFile);
    for (const c of list(node.testcase)) {
      const caseNode = isRecord(c) ? c : {};
      const failures = [...list(caseNode.failure), ...list(caseNode.error)];
      const skips = list(caseNode.skipped);
      const result = failures.length ? 'failure' : skips.length ? 'skipped' : 'success';
      const out = list(caseNode['system-out']).map(text).filter(Boolean).join('\n');
      tests.push({
        name: attr(c, 'name') ?? '',
        classname: attr(c, 'classname') ?? attr(c, 'class') ?? suiteName ?? '',
        file: attr(c, 'file') ?? attr(c, 'filepath') ?? suiteFile,
        result,
        message: words(result === 'failure' ? failures : result === 'skipped' ? skips : []) ?? (out || null),
        source,
        run_time: seconds(attr(c, 'time')),
      });
    }
  };
  walk(doc, null, null);
  return { ok: true, file, tests, counts: countTests(tests) };
};

/** How many passed, failed and were skipped. */
export const countTests = (tests: ReadonlyArray<Pick<TestResult, 'result'>>): TestCounts => ({
  passed: tests.filter((t) => t.result === 'success').length,
  failed: tests.filter((t) => t.result === 'failure').length,
  skipped: tests.filter((t) => t.result === 'skipped').length,
});
