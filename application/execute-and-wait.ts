import type { DomainEvent } from '../domain/events/envelope.ts';
import type { Executed, Execution } from './commands.ts';
import type { UseCases } from './dependencies.ts';

/** Runs a command, then waits until the read models that handle its events hold them: what a request that answers with a read model needs. */
export const executeAndWait = async <S, C, E extends DomainEvent>(s: UseCases, execution: Execution<S, C, E>): Promise<Executed<S>> => {
  const executed = await s.commands.execute(execution);
  await s.readYourWrites(executed);
  return executed;
};
