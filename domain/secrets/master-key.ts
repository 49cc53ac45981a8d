import { z } from 'zod';
import { defineEvent } from '../events/registry.ts';

/** Master keys are named by a fingerprint that reveals nothing of them. */
export const masterKeyRotated = defineEvent(
  'system.master_key.rotate',
  z.object({ toKeyId: z.string(), fromKeyIds: z.array(z.string()), rewrapped: z.number().int().min(0) }),
  { publicFields: ['toKeyId', 'fromKeyIds', 'rewrapped'] },
);
export const masterKeyTarget = { id: 'master-key', type: 'master_key', name: 'Master Key' };
