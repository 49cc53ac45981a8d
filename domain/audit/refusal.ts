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
