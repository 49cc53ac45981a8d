import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { countTests, parseJUnitReport, reportTooLarge, type TestReport } from './test-results.ts';

const test = suite('domain/files: JUnit test reports');
const big = { maxBytes: 1024 * 1024 };
const ok = (r: TestReport) => {
  if (!r.ok) throw new Error(`expected a report, got ${r.problem.reason}`);
  return r;
};
const problem = (r: TestReport) => {
  if (r.ok) throw new Error('expected a problem');
  return r.problem;
};

test('a suite of cases: success, failure, error (a failure) and skipped, with times in seconds', () => {
  const r = ok(
    parseJUnitReport(
      'reports/jest/results.xml',
      `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="all" tests="4">
  <testsuite name="math" file="test/math.test.js" time="1.5">
    <testcase name="adds" classname="math.add" time="0.25"/>
    <testcase name="divides" classname="math.div" time="1.0">
      <failure message="expected 2 to equal 3" type="AssertionError">at divides (test/math.test.js:12)</failure>
    </testcase>
    <testcase name="roots" classname="math.root" time="0.1" file="test/roots.test.js"><error message="boom"/></testcase>
    <testcase name="later" classname="math.later"><skipped message="not yet"/></testcase>
  </testsuite>
</testsuites>`,
      big,
    ),
  );
  assert.equal(r.tests, [
    { name: 'adds', classname: 'math.add', file: 'test/math.test.js', result: 'success', message: null, source: 'jest', run_time: 0.25 },
    {
      name: 'divides',
      classname: 'math.div',
      file: 'test/math.test.js',
      result: 'failure',
      message: 'expected 2 to equal 3\nat divides (test/math.test.js:12)',
      source: 'jest',
      run_time: 1,
    },
    { name: 'roots', classname: 'math.root', file: 'test/roots.test.js', result: 'failure', message: 'boom', source: 'jest', run_time: 0.1 },
    { name: 'later', classname: 'math.later', file: 'test/math.test.js', result: 'skipped', message: 'not yet', source: 'jest', run_time: 0 },
  ]);
  assert.equal(r.counts, { passed: 1, failed: 2, skipped: 1 });
  assert.equal(r.file, 'reports/jest/results.xml');
});

test('suites nest at any depth; a lone testsuite or testcase root is read too; the suite name stands in for a missing classname', () => {
  const nested = ok(
    parseJUnitReport(
      'r.xml',
      `<testsuites><testsuite name="outer" file="o.rb"><testsuite name="inner"><testsuites><testsuite name="deep"><testcase name="a"/></testsuite></testsuites></testsuite></testsuite></testsuites>`,
      big,
    ),
  );
  assert.equal(
    nested.tests.map((t) => [t.name, t.classname, t.file, t.source]),
    [['a', 'deep', 'o.rb', 'unknown']],
  );
  assert.equal(
    ok(parseJUnitReport('r.xml', '<testsuite name="s"><testcase classname="c" name="x"/><testcase classname="c" name="y"/></testsuite>', big)).tests.length,
    2,
  );
  assert.equal(
    ok(parseJUnitReport('r.xml', '<testcase classname="c" name="solo"/>', big)).tests.map((t) => t.name),
    ['solo'],
  );
  assert.equal(ok(parseJUnitReport('r.xml', '<testsuites/>', big)).tests, []);
});

test('system-out stays out of a failure message, and is the message when there is no failure text', () => {
  const r = ok(
    parseJUnitReport(
      'r.xml',
      `<testsuite name="s">
    <testcase name="f"><failure message="bad"/><system-out>noise</system-out></testcase>
    <testcase name="g"><failure/><system-out>why it failed</system-out></testcase>
    <testcase name="h"><system-out>printed</system-out></testcase>
  </testsuite>`,
      big,
    ),
  );
  assert.equal(
    r.tests.map((t) => [t.result, t.message]),
    [
      ['failure', 'bad'],
      ['failure', 'why it failed'],
      ['success', 'printed'],
    ],
  );
});

test('failure bodies: CDATA and the XML entities are read, several failures join, a body equal to the message is said once', () => {
  const r = ok(
    parseJUnitReport(
      'r.xml',
      `<testsuite><testcase name="a"><failure message="x &lt; y &amp;&amp; &quot;z&quot; &#65;"><![CDATA[<stack> & more]]></failure><failure>second</failure></testcase><testcase name="b"><failure message="same">same</failure></testcase></testsuite>`,
      big,
    ),
  );
  assert.equal(
    r.tests.map((t) => t.message),
    ['x < y && "z" A\n<stack> & more\nsecond', 'same'],
  );
  const many = '&lt;'.repeat(5000);
  assert.equal(ok(parseJUnitReport('r.xml', `<testcase name="m"><failure>${many}</failure></testcase>`, big)).tests[0]!.message, '<'.repeat(5000));
});

test('odd times read as 0; times with thousands separators are read', () => {
  const r = ok(
    parseJUnitReport('r.xml', '<testsuite><testcase name="a" time="abc"/><testcase name="b" time="-1"/><testcase name="c" time="1,234.5"/></testsuite>', big),
  );
  assert.equal(
    r.tests.map((t) => t.run_time),
    [0, 0, 1234.5],
  );
});

test('a malformed or foreign file is a problem naming the file, never a throw', () => {
  for (const xml of ['<testsuite><testcase></testsuite>', 'not xml at all', '', '<testsuite name="a"', '<html><body/></html>']) {
    const p = problem(parseJUnitReport('out/bad.xml', xml, big));
    assert.is(p.file, 'out/bad.xml');
    assert.ok(p.reason.length > 0, xml);
  }
  assert.match(problem(parseJUnitReport('x.xml', '<html/>', big)).reason, 'not a JUnit report');
  assert.match(problem(parseJUnitReport('x.xml', '<a><b></a>', big)).reason, 'not well-formed XML');
});

test('entity declarations (the billion laughs) are refused before parsing', () => {
  const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><testsuite><testcase name="x"><failure>&lol3;</failure></testcase></testsuite>`;
  assert.match(problem(parseJUnitReport('bomb.xml', bomb, big)).reason, 'declares XML entities');
  const external = `<!DOCTYPE t [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><testsuite><testcase name="x">&xxe;</testcase></testsuite>`;
  assert.match(problem(parseJUnitReport('xxe.xml', external, big)).reason, 'declares XML entities');
});

test('a report larger than the cap the caller passes is a problem', () => {
  const xml = `<testsuite>${'<testcase name="t"/>'.repeat(100)}</testsuite>`;
  assert.match(problem(parseJUnitReport('huge.xml', xml, { maxBytes: 100 })).reason, 'more than the 100 bytes');
  assert.is(ok(parseJUnitReport('huge.xml', xml, { maxBytes: xml.length })).tests.length, 100);
  assert.equal(
    reportTooLarge('huge.xml', xml.length, 100),
    problem(parseJUnitReport('huge.xml', xml, { maxBytes: 100 })),
    'a reader that knows the size says the same',
  );
});

test('deep nesting past the parser limit is a problem, not a crash', () => {
  const deep = `${'<testsuite>'.repeat(500)}<testcase name="x"/>${'</testsuite>'.repeat(500)}`;
  assert.ok(!parseJUnitReport('deep.xml', deep, big).ok);
});

test('counts across reports', () => {
  assert.equal(countTests([{ result: 'success' }, { result: 'failure' }, { result: 'skipped' }, { result: 'success' }]), { passed: 2, failed: 1, skipped: 1 });
});

test.run();
