import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { depths, layout, nodeSize } from './graph.ts';

const test = suite('web: a workflow graph by requires');
const job = (id: string, ...dependencies: string[]) => ({ id, dependencies });

test('each job in the column of its longest chain of requires', () => {
  const d = depths([job('deploy', 'test', 'lint'), job('build'), job('test', 'build'), job('lint'), job('hold', 'deploy')]);
  assert.equal(Object.fromEntries(d), { deploy: 2, build: 0, test: 1, lint: 0, hold: 3 });
});

test('unknown dependencies are ignored and a cycle does not hang', () => {
  assert.equal(
    Object.fromEntries(depths([job('a', 'gone'), job('b', 'c'), job('c', 'b')])),
    { a: 0, b: 2, c: 1 },
    'c requires b, met while b is placed: that requirement is cut',
  );
});

test('positions by column and row; edges from each requirement to its job; the size covers all', () => {
  const l = layout([job('build'), job('lint'), job('test', 'build'), job('deploy', 'test', 'lint')]);
  const at = Object.fromEntries(l.nodes.map((n) => [n.job.id, [n.column, n.row, n.x, n.y]]));
  const w = nodeSize.width + nodeSize.columnGap;
  const h = nodeSize.height + nodeSize.rowGap;
  assert.equal(at, { build: [0, 0, 0, 0], lint: [0, 1, 0, h], test: [1, 0, w, 0], deploy: [2, 0, 2 * w, 0] });
  assert.equal(l.edges.map((e) => `${e.from}>${e.to}`).sort(), ['build>test', 'lint>deploy', 'test>deploy']);
  assert.match(l.edges.find((e) => e.from === 'build')!.d, new RegExp(`^M${nodeSize.width} ${nodeSize.height / 2} C`));
  assert.is(l.width, 3 * w - nodeSize.columnGap);
  assert.is(l.height, 2 * h - nodeSize.rowGap);
});

test('a column is ordered by where its requirements sit', () => {
  const l = layout([job('a'), job('b'), job('after-b', 'b'), job('after-a', 'a')]);
  const rows = Object.fromEntries(l.nodes.map((n) => [n.job.id, n.row]));
  assert.is(rows['after-a'], 0);
  assert.is(rows['after-b'], 1);
});

test('no jobs: an empty graph', () => {
  assert.equal(layout([]), { nodes: [], edges: [], width: 0, height: 0 });
});

test.run();
