/** One error type per kind, each with a stable code; the API maps them once to HTTP and GraphQL. */
export class GyreError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A rule of the domain refused the command (seat limit, wrong state). */
export class DomainError extends GyreError {
  constructor(code: string, message: string) {
    super(message, code, 422);
  }
}

/** Input that does not parse: bad arguments, bad filters, bad config. */
export class ValidationError extends GyreError {
  constructor(message: string) {
    super(message, 'BAD_USER_INPUT', 400);
  }
}

export class NotFoundError extends GyreError {
  constructor(message: string, code = 'NOT_FOUND') {
    super(message, code, 404);
  }
}

/** Another command changed the stream first. */
export class ConflictError extends GyreError {
  constructor(message: string) {
    super(message, 'CONFLICT', 409);
  }
}

/** No credentials, or credentials that are not valid. */
export class UnauthorizedError extends GyreError {
  constructor(message: string, code = 'UNAUTHENTICATED') {
    super(message, code, 401);
  }
}

/** Valid credentials that may not do this. */
export class ForbiddenError extends GyreError {
  constructor(message: string, code = 'FORBIDDEN') {
    super(message, code, 403);
  }
}

/** Parses input with a zod schema; a failure is a ValidationError naming `what` and each field at fault. */
export const parseInput = <T>(
  schema: {
    safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> } };
  },
  value: unknown,
  what: string,
): T => {
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(`invalid ${what}: ${describeIssues(r.error.issues)}`);
  return r.data;
};

/** Formats a zod error as one sentence naming each field at fault. */
export const describeIssues = (issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string =>
  issues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; ');
