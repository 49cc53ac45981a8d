import type { DomainEvent } from './events/envelope.ts';

/** An aggregate's rules: pure, testable as given events → when command → then events. */
export interface Decider<State, Command, Event extends DomainEvent> {
  readonly initialState: () => State;
  readonly evolve: (state: State, event: Event) => State;
  readonly decide: (command: Command, state: State) => Event[];
}

export const fold = <S, E extends DomainEvent>(d: Pick<Decider<S, unknown, E>, 'initialState' | 'evolve'>, events: Iterable<E>): S => {
  let state = d.initialState();
  for (const e of events) state = d.evolve(state, e);
  return state;
};
