import * as assert from 'uvu/assert';
import { fold, type Decider } from '../../domain/decider.ts';
import { GyreError } from '../../domain/errors.ts';
import type { DomainEvent } from '../../domain/events/envelope.ts';

/**
 * One test kit for every decider: given events, when a command, then events (or a refusal).
 * Pure and synchronous; no database. Shaped after Emmett's DeciderSpecification:
 *
 *   const spec = deciderSpec(orbDecider, { registry: eventRegistry });
 *   spec.given([]).when(publish('1.0.0')).then([{ type: 'orb.publish', data: … }]);
 *   spec.given(history).when(publish('1.0.0')).thenThrows('ORB_VERSION_EXISTS', /acme\/tools@1\.0\.0/);
 *
 * With a registry, every decided event is parsed by it: the store would take it.
 */
type ErrorClass = abstract new (...args: never[]) => Error;
/** A refusal: a GyreError code, an error class, or a pattern its message matches. */
export type Refusal = string | ErrorClass | RegExp;

/** True when the error is the refusal expected (and its message matches, if a pattern is given). */
export const refusedWith =
  (expected: Refusal, message?: RegExp) =>
  (e: unknown): boolean => {
    const kind =
      typeof expected === 'string'
        ? e instanceof GyreError && e.code === expected
        : expected instanceof RegExp
          ? expected.test(String(e))
          : e instanceof expected;
    return kind && (message === undefined || message.test(String(e)));
  };

export interface EventParser {
  parse(type: string, data: unknown): unknown;
}

export const deciderSpec = <S, C, E extends DomainEvent>(decider: Decider<S, C, E>, options: { registry?: EventParser } = {}) => {
  const state = (history: readonly E[]): S => fold(decider, history);
  const valid = (events: E[]): E[] => {
    for (const e of events) options.registry?.parse(e.type, e.data);
    return events;
  };
  const decide = (history: readonly E[], command: C): E[] => valid(decider.decide(command, state(history)));

  const given = (history: readonly E[] = []) => ({
    /** The state the history folds to. */
    state: () => state(history),
    when: (command: C) => ({
      /** The events decided (parsed by the registry, if any). */
      events: () => decide(history, command),
      /** The history followed by the events decided. */
      history: (): E[] => [...history, ...decide(history, command)],
      // biome-ignore lint/suspicious/noThenProperty: given / when / then, never awaited
      then: (expected: E[], message?: string) => assert.equal(decide(history, command), expected, message),
      thenThrows: (expected: Refusal, messageMatches?: RegExp, message?: string) =>
        assert.throws(() => decide(history, command), refusedWith(expected, messageMatches), message),
    }),
  });

  /** Decides each command in turn on the history so far; the whole history and its state. */
  const run = (...commands: C[]) => {
    let history: E[] = [];
    for (const c of commands) history = [...history, ...decide(history, c)];
    return { history, state: state(history) };
  };

  return {
    given,
    run,
    state,
    decide,
    /** The history followed by what the command decides. */
    // biome-ignore lint/suspicious/noThenProperty: given / when / then, never awaited
    then: (history: readonly E[], command: C): E[] => [...history, ...decide(history, command)],
  };
};
