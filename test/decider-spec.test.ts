import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Decider } from '../domain/decider.ts';
import { DomainError, NotFoundError } from '../domain/errors.ts';
import { deciderSpec, refusedWith } from './support/decider-spec.ts';

/** The decider kit itself: it passes what holds and fails what does not. */
const test = suite('test/support/decider-spec: given / when / then');
type Added = { type: 'added'; data: { n: number } };
type Add = { type: 'add'; n: number };
const counter: Decider<number, Add, Added> = {
  initialState: () => 0,
  evolve: (total, e) => total + e.data.n,
  decide: (c, total) => {
    if (c.n <= 0) throw new DomainError('NOT_POSITIVE', `cannot add ${c.n}`);
    if (total + c.n > 10) throw new NotFoundError('no room above 10');
    return [{ type: 'added', data: { n: c.n } }];
  },
};
const added = (n: number): Added => ({ type: 'added', data: { n } });
const spec = deciderSpec(counter);
/** uvu's assert.throws passes assertion failures on, so a failing assertion is caught here. */
const fails = (f: () => void) => {
  let failed = false;
  try {
    f();
  } catch (e) {
    failed = e instanceof assert.Assertion;
  }
  assert.ok(failed, 'the kit should have failed this');
};

test('then holds for the events decided on the history, and fails for others', () => {
  spec
    .given([added(2)])
    .when({ type: 'add', n: 3 })
    .then([added(3)]);
  fails(() =>
    spec
      .given([added(2)])
      .when({ type: 'add', n: 3 })
      .then([added(4)]),
  );
  assert.equal(
    spec
      .given([added(2)])
      .when({ type: 'add', n: 3 })
      .history(),
    [added(2), added(3)],
  );
  assert.is(spec.given([added(2), added(3)]).state(), 5);
});

test('thenThrows takes a code, an error class or a pattern, and a message pattern; it fails when nothing or something else is thrown', () => {
  const negative = spec.given([]).when({ type: 'add', n: -1 });
  negative.thenThrows('NOT_POSITIVE');
  negative.thenThrows(DomainError);
  negative.thenThrows(/cannot add -1/);
  negative.thenThrows('NOT_POSITIVE', /-1/);
  fails(() => negative.thenThrows('NOT_FOUND'));
  fails(() => negative.thenThrows(NotFoundError));
  fails(() => negative.thenThrows('NOT_POSITIVE', /-2/));
  fails(() => spec.given([]).when({ type: 'add', n: 1 }).thenThrows('NOT_POSITIVE'));
  spec
    .given([added(9)])
    .when({ type: 'add', n: 2 })
    .thenThrows(NotFoundError, /no room/);
  assert.not.ok(refusedWith('NOT_POSITIVE')(new Error('NOT_POSITIVE')), 'a plain error has no code');
});

test('run decides command after command on the history so far; a registry parses every decided event', () => {
  assert.equal(spec.run({ type: 'add', n: 4 }, { type: 'add', n: 5 }), { history: [added(4), added(5)], state: 9 });
  const parsed: string[] = [];
  const checked = deciderSpec(counter, { registry: { parse: (type, data) => parsed.push(`${type} ${JSON.stringify(data)}`) } });
  checked
    .given([added(1)])
    .when({ type: 'add', n: 1 })
    .then([added(1)]);
  assert.equal(parsed, ['added {"n":1}']);
  const strict = deciderSpec(counter, {
    registry: {
      parse: () => {
        throw new Error('does not match its schema');
      },
    },
  });
  assert.throws(() => strict.decide([], { type: 'add', n: 1 }), /does not match its schema/);
});

test.run();
