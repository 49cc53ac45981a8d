import { z } from 'zod';
import { ValidationError, describeIssues } from '../errors.ts';

/**
 * An event type: its audit action name, the zod schema of its data, and which of its data fields
 * the audit log may show. Fields not named public never leave the event store.
 */
export interface EventDefinition<T extends string = string, S extends z.ZodType = z.ZodType> {
  readonly type: T;
  readonly version: number;
  readonly schema: S;
  readonly publicFields: ReadonlyArray<string>;
}

/** The event a definition describes, as deciders emit and fold it. */
export type EventOf<D extends EventDefinition> = { type: D['type']; data: z.infer<D['schema']> };

export const defineEvent = <T extends string, S extends z.ZodType>(
  type: T,
  schema: S,
  options: { publicFields?: ReadonlyArray<keyof z.infer<S> & string>; version?: number } = {},
): EventDefinition<T, S> => {
  if (!/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/.test(type)) throw new Error(`bad event type name ${type}`);
  return { type, schema, version: options.version ?? 1, publicFields: options.publicFields ?? [] };
};

/** The data of every event whose envelope says `success: false`: a refused attempt. */
export const RefusalData = z.object({
  reason: z.string(),
  code: z.string(),
  status: z.number().int(),
  operation: z.string(),
});
export type RefusalData = z.infer<typeof RefusalData>;
const refusalFields = ['reason', 'code', 'status', 'operation'] as const;

export interface EventRegistry {
  readonly types: ReadonlyArray<string>;
  get(type: string): EventDefinition | undefined;
  /** Parses an event's data against its schema; throws a ValidationError naming the type and field. */
  parse(type: string, data: unknown, success?: boolean): unknown;
  /** The part of an event's data the audit log shows. */
  publicPayload(type: string, data: unknown, success?: boolean): Record<string, unknown>;
}

export const createRegistry = (definitions: ReadonlyArray<EventDefinition>): EventRegistry => {
  const byType = new Map<string, EventDefinition>();
  for (const d of definitions) {
    if (byType.has(d.type)) throw new Error(`event type ${d.type} is defined twice`);
    byType.set(d.type, d);
  }
  const require = (type: string): EventDefinition => {
    const d = byType.get(type);
    if (!d) throw new ValidationError(`unknown event type "${type}"`);
    return d;
  };
  return {
    types: [...byType.keys()].sort(),
    get: (type) => byType.get(type),
    parse(type, data, success = true) {
      // a refusal of an unknown type is refused too
      const known = require(type);
      const schema = success ? known.schema : RefusalData;
      const result = schema.safeParse(data);
      if (!result.success) throw new ValidationError(`event ${type} does not match its schema: ${describeIssues(result.error.issues)}`);
      return result.data;
    },
    publicPayload(type, data, success = true) {
      const fields = success ? (byType.get(type)?.publicFields ?? []) : refusalFields;
      const source = (data ?? {}) as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of fields) if (f in source) out[f] = source[f];
      return out;
    },
  };
};
