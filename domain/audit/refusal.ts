import { z } from 'zod';
import { defineEvent } from '../events/registry.ts';

/**
 * The reason a refusal records. Error messages may quote what the caller sent (GraphQL quotes the
 * offending value), and a caller may send a secret by mistake: every quoted span is dropped, and the
 * text is bounded, so the audit log never stores input values.
 */
export const refusalReason = (message: string): string =>
  message
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/[\r\n]+/g, ' ')
    .slice(0, 500);

/**
 * Refusals from one source (an actor, or an address when no one signed in) past what a window records
 * in full: how many, of which actions (the first few), over which span. Its envelope carries the
 * source's actor and its last request.
 */
export const refusalsSummarized = defineEvent(
  'api.refusals.summarize',
  z.object({
    source: z.enum(['actor', 'address', 'others']),
    refusals: z.number().int().positive(),
    actions: z.array(z.string()).max(20),
    from: z.string(),
    to: z.string(),
  }),
  { publicFields: ['source', 'refusals', 'actions', 'from', 'to'] },
);
