import { auditLogProjection } from './audit-log.ts';
import type { Projection } from './projection.ts';
import { systemSettingsProjection } from './system-settings.ts';
import { usersProjection } from './users.ts';

/** Every read model Gyre keeps. */
export const allProjections: ReadonlyArray<Projection> = [auditLogProjection, systemSettingsProjection, usersProjection];
