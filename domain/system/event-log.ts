import { z } from 'zod';
import { defineEvent } from '../events/registry.ts';

/**
 * `gyre events copy` moved the whole log of an installation into this one, in order. `fromLog` names
 * the log it came from (its first event, as `logIdentity` says); `reactors` holds where each of
 * Gyre's reactors had got to there, as a position of this log, so that they go on from there rather
 * than react again.
 */
export const eventLogCopied = defineEvent(
  'system.event_log.copy',
  z.object({
    fromLog: z.string().min(1),
    from: z.enum(['embedded', 'postgresql']),
    events: z.number().int().min(0),
    reactors: z.record(z.string(), z.string()),
  }),
  { publicFields: ['from', 'events'] },
);

export const eventLogStream = 'event-log';
export const eventLogTarget = { id: 'event-log', type: 'event_log', name: 'Event log' };
