/** A YAML map, as parsed: an object that is not a list. */
export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** CircleCI's falsy values: false, null, 0, NaN, the empty string and the empty list. */
export const truthy = (v: unknown): boolean =>
  !(v === false || v === null || v === undefined || v === 0 || Number.isNaN(v) || v === '' || (Array.isArray(v) && v.length === 0));
