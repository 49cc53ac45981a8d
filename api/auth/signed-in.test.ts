import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { UnauthorizedError } from '../../domain/errors.ts';
import { registerCircleCiSchedules } from '../rest/circleci-schedules.ts';
import { signedInUser } from './signed-in.ts';

const test = suite('signedInUser: the routes that act as a user refuse anyone else 401');

test('an agent or anonymous caller is an UnauthorizedError (401), not a 500', () => {
  for (const auth of [{ kind: 'anonymous' } as const, { kind: 'agent', resourceClass: 'acme/big', tokenId: 't' } as const]) {
    try {
      signedInUser(auth);
      assert.unreachable('refused');
    } catch (err) {
      assert.instance(err, UnauthorizedError);
      assert.is((err as UnauthorizedError).status, 401);
    }
  }
});

test('the schedules routes refuse a caller that is not a user with it (401)', async () => {
  // the routes' handlers, called as fastify would with an agent's request
  const handlers: Array<(req: unknown, reply: unknown) => Promise<unknown>> = [];
  const add = (_: string, h: never) => handlers.push(h);
  const app = { post: add, patch: add, get: add, delete: add };
  registerCircleCiSchedules(app as never, { db: null } as never, () => 0);
  assert.is(handlers.length, 7);
  for (const h of handlers) {
    const err = await h(
      { auth: { kind: 'agent', resourceClass: 'acme/big', tokenId: 't' }, params: { slug: 'gh/acme/app', id: 'x' }, body: {}, headers: {} },
      {},
    ).catch((e: unknown) => e);
    assert.instance(err, UnauthorizedError);
  }
});

test.run();
