import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import {
  GraphQLError,
  isListType,
  isNonNullType,
  parse,
  validate,
  type DocumentNode,
  type FieldNode,
  type GraphQLOutputType,
  type GraphQLSchema,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { createComplexityRule, type ComplexityEstimator } from 'graphql-query-complexity';
import type { Config } from '../config.ts';
import { maxPageSize } from './paging.ts';

/** What a document may ask for, checked before it is validated further or runs. */
export interface GraphQLLimits {
  readonly maxTokens: number;
  readonly maxDepth: number;
  readonly maxAliases: number;
  readonly maxRootFields: number;
  readonly maxCost: number;
}

export const graphqlLimits = (config: Config): GraphQLLimits => ({
  maxTokens: config.GYRE_GRAPHQL_MAX_TOKENS,
  maxDepth: config.GYRE_GRAPHQL_MAX_DEPTH,
  maxAliases: config.GYRE_GRAPHQL_MAX_ALIASES,
  maxRootFields: config.GYRE_GRAPHQL_MAX_ROOT_FIELDS,
  maxCost: config.GYRE_GRAPHQL_MAX_COST,
});

export const limitExceeded = 'GRAPHQL_LIMIT_EXCEEDED';

const limitError = (what: string, max: number, setting: string) =>
  new GraphQLError(`${what}, over the limit of ${max} (${setting})`, { extensions: { code: limitExceeded } });

/** How many fields the cost rule walks at most (graphql-query-complexity's own default), and what it throws past them. */
const maxQueryNodes = 10_000;
const tooManyNodes = /exceeds the maximum allowed number of nodes/;

/** What graphql's parser says when a document has too many tokens. */
const tooManyTokens = /^Syntax Error: Document contains more that \d+ tokens/;

/** graphql's own message for a document over `maxTokens`, as the other limits say theirs. */
export const tokenLimitError = (e: GraphQLError, limits: GraphQLLimits): GraphQLError | null =>
  tooManyTokens.test(e.message) ? limitError('the document has more tokens than allowed', limits.maxTokens, 'GYRE_GRAPHQL_MAX_TOKENS') : null;

/** Graph Armor's rules report through a callback: the count from their message, in Gyre's words. */
const armorReport = (what: string, max: number, setting: string) => ({
  n: max,
  exposeLimits: true,
  propagateOnRejection: false,
  onReject: [
    (context: ValidationContext | null, error: GraphQLError) => {
      const actual = /found (\d+)/.exec(error.message)?.[1] ?? `more than ${max}`;
      context?.reportError(limitError(`the document has ${actual} ${what}`, max, setting));
    },
  ],
});

/** Root fields an operation asks for, through its fragments; a field asked twice under one name counts once, as it runs once. */
const rootFieldCount = (context: ValidationContext, selections: SelectionSetNode, seen = new Set<string>(), keys = new Set<string>()): number => {
  for (const s of selections.selections) {
    if (s.kind === 'Field') keys.add((s.alias ?? s.name).value);
    else if (s.kind === 'InlineFragment') rootFieldCount(context, s.selectionSet, seen, keys);
    else if (!seen.has(s.name.value)) {
      seen.add(s.name.value);
      const fragment = context.getFragment(s.name.value);
      if (fragment) rootFieldCount(context, fragment.selectionSet, seen, keys);
    }
  }
  return keys.size;
};

const maxRootFieldsRule =
  (max: number): ValidationRule =>
  (context) => ({
    OperationDefinition(operation) {
      const n = rootFieldCount(context, operation.selectionSet);
      if (n > max) context.reportError(limitError(`the operation asks for ${n} root fields`, max, 'GYRE_GRAPHQL_MAX_ROOT_FIELDS'));
    },
  });

/** Lists without a `first` argument are counted as this many items. */
export const unpagedListSize = 10;

const isList = (type: GraphQLOutputType): boolean => isListType(isNonNullType(type) ? type.ofType : type);

/**
 * A field costs 1, and its children once for every item it may return: `first` as given (at most the
 * largest page), the argument's default when left out, the largest page when it is a variable (the document's cost must not depend on
 * what varies); other lists count as `unpagedListSize`.
 */
const pageSizeEstimator: ComplexityEstimator = ({ type, field, node, args, childComplexity }) => {
  const paged = field.args.some((a) => a.name === 'first');
  const given = (node as FieldNode).arguments?.find((a) => a.name.value === 'first');
  const size = !paged
    ? // a connection's edges are as many as its field's `first` said, counted there
      isList(field.type) && !type.name.endsWith('Connection')
      ? unpagedListSize
      : 1
    : given?.value.kind === 'Variable'
      ? maxPageSize
      : typeof args.first === 'number'
        ? Math.min(maxPageSize, Math.max(0, args.first))
        : maxPageSize;
  return 1 + childComplexity * size;
};

/** The rules; `variables` only let the cost rule read the operation (its estimate never depends on them, as a cached document is not checked again). */
export const limitRules = (limits: GraphQLLimits, variables: Record<string, unknown> = {}): ValidationRule[] => [
  maxDepthRule(armorReport('levels of nested fields', limits.maxDepth, 'GYRE_GRAPHQL_MAX_DEPTH')) as unknown as ValidationRule,
  maxAliasesRule(armorReport('aliases', limits.maxAliases, 'GYRE_GRAPHQL_MAX_ALIASES')) as unknown as ValidationRule,
  maxRootFieldsRule(limits.maxRootFields),
  createComplexityRule({
    maximumComplexity: limits.maxCost,
    maxQueryNodes,
    variables,
    estimators: [pageSizeEstimator],
    createError: (max, actual) => limitError(`the operation's estimated cost (fields times page sizes) is ${actual}`, max, 'GYRE_GRAPHQL_MAX_COST'),
  }) as unknown as ValidationRule,
];

/** A document over a limit: refused, as one that fails validation, before anything else looks at it. */
export class LimitsExceeded extends Error {
  constructor(readonly errors: GraphQLError[]) {
    super(errors.map((e) => e.message).join('; '));
  }
}

/** Checks a document against the limits alone: they are cheap, where graphql's own rules may not be on a hostile document. */
export const checkLimits = (schema: GraphQLSchema, document: DocumentNode, rules: ValidationRule[]): void => {
  let found: ReadonlyArray<GraphQLError>;
  try {
    found = validate(schema, document, rules);
  } catch (e) {
    // the cost rule stops (throws) past its node count: fragments spreading fragments, each twice, fan out without end
    if (e instanceof Error && tooManyNodes.test(e.message))
      throw new LimitsExceeded([limitError('the operation expands to more fields than its cost is estimated for', maxQueryNodes, 'fixed')]);
    throw e;
  }
  // other errors (an unknown field, a variable left out) are graphql's own rules' to report
  const errors = found.filter((e) => e.extensions?.code === limitExceeded);
  if (errors.length) throw new LimitsExceeded(errors);
};

/** Parses a document no longer than the token limit, as mercurius does for queries (it does not for subscriptions). */
export const parseWithinLimits = (source: string, limits: GraphQLLimits): DocumentNode => {
  try {
    return parse(source, { maxTokens: limits.maxTokens });
  } catch (e) {
    const limit = e instanceof GraphQLError ? tokenLimitError(e, limits) : null;
    throw limit ? new LimitsExceeded([limit]) : e;
  }
};
