import type { CommandContext, RecordedEvent, Reference } from '../domain/events/envelope.ts';
import type { RefusalData } from '../domain/events/registry.ts';
import type { CommandHandler } from './commands.ts';

export interface RefusalLimits {
  /** Refusals of one source recorded in full in a window; the rest are counted in one summary. */
  readonly perSource: number;
  /** Refusals recorded in full in a window, over all sources. */
  readonly perWindow: number;
  /** Sources named in a window's summaries; the refusals of any more are summarized together. */
  readonly sources: number;
  readonly windowMs: number;
}

type SourceKind = 'actor' | 'address' | 'others';

interface Source {
  readonly kind: SourceKind;
  recorded: number;
  summarized: number;
  readonly actions: Set<string>;
  /** The requests of this source's last refusals: a request is recorded once, however many of its parts are refused, whatever came between. */
  readonly requests: string[];
  /** The envelope of the last refusal summarized. */
  context: CommandContext | null;
}

export interface Refusals {
  /**
   * Records a refusal, or counts it for its source's summary: the event when it was recorded, null
   * when it was counted, or when the same request was recorded already.
   */
  refuse(action: string, refusal: RefusalData, envelope: { context: CommandContext; target?: Reference }): Promise<RecordedEvent | null>;
  /** Resolves once every refusal of this request under way is recorded: the answer waits for it (GraphQL answers once one field failed, before its siblings end). */
  settled(requestId: string): Promise<void>;
  /** Ends the window now and appends its summaries. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Callers who proved no identity: counted by their address (a webhook delivery's sender is whoever posts it until its signature holds). */
const unproven = new Set(['anonymous', 'github_webhook']);

const sourceOf = (context: CommandContext): { key: string; kind: SourceKind } =>
  unproven.has(context.actor.type)
    ? { key: `address:${context.request?.ip_address ?? 'unknown'}`, kind: 'address' }
    : { key: `actor:${context.actor.id}`, kind: 'actor' };

const summaryTarget: Reference = { id: 'refusals', type: 'api_operation' };
const summarizedActions = 20;
/** Requests remembered per source, so that one recorded already is not recorded again. */
const rememberedRequests = 16;
/** The longest the refusal that ends a window waits for its summaries: a database that does not answer holds no request longer. */
const summaryWaitMs = 5_000;

/**
 * Every refusal goes through here, so that what a caller can make the audit log hold is bounded:
 * one event per request, at most `perSource` a window for a source and `perWindow` for all, and
 * one summary per source (at most `sources`, then one for the others) for the rest of the window.
 */
export const createRefusals = (
  commands: Pick<CommandHandler, 'refuse' | 'record'>,
  limits: RefusalLimits,
  options: { now?: () => number; onError: (err: unknown) => void },
): Refusals => {
  const now = options.now ?? Date.now;
  let start = now();
  let sources = new Map<string, Source>();
  let recorded = 0;
  let summaries: Promise<void> = Promise.resolve();
  const underWay = new Map<string, Set<Promise<unknown>>>();
  /** Keeps `append` under way for its request until it ends. */
  const track = <T>(request: string | null, append: Promise<T>): Promise<T> => {
    if (request === null) return append;
    const mine = underWay.get(request) ?? new Set();
    underWay.set(request, mine);
    mine.add(append);
    const done = () => {
      mine.delete(append);
      if (mine.size === 0) underWay.delete(request);
    };
    append.then(done, done);
    return append;
  };

  const summarize = async (from: number, to: number, ended: Map<string, Source>) => {
    for (const s of ended.values()) {
      if (!s.summarized || !s.context) continue;
      await commands.record(
        `refusals-${to}`,
        {
          type: 'api.refusals.summarize',
          data: { source: s.kind, refusals: s.summarized, actions: [...s.actions], from: new Date(from).toISOString(), to: new Date(to).toISOString() },
        },
        { context: s.context, target: summaryTarget },
      );
    }
  };

  const endWindow = () => {
    const ended = sources;
    const from = start;
    start = now();
    sources = new Map();
    recorded = 0;
    const to = start;
    summaries = summaries.then(() => summarize(from, to, ended)).catch(options.onError);
    return summaries;
  };

  const timer = setInterval(() => {
    if (now() - start >= limits.windowMs) void endWindow();
  }, limits.windowMs);
  timer.unref();

  const sourceFor = (context: CommandContext): Source => {
    const { key, kind } = sourceOf(context);
    const known = sources.get(key);
    if (known) return known;
    const fresh = (k: SourceKind): Source => ({ kind: k, recorded: 0, summarized: 0, actions: new Set(), requests: [], context: null });
    if (sources.size < limits.sources) {
      sources.set(key, fresh(kind));
      return sources.get(key)!;
    }
    if (!sources.has('others')) sources.set('others', fresh('others'));
    return sources.get('others')!;
  };

  return {
    async refuse(action, refusal, envelope) {
      // the refusal that ends a window waits for its summaries (for a while): what a flood of refusals makes the log hold is appended before more is taken
      if (now() - start >= limits.windowMs) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([endWindow(), new Promise<void>((resolve) => (timer = setTimeout(resolve, summaryWaitMs)))]);
        clearTimeout(timer);
      }
      const source = sourceFor(envelope.context);
      const request = envelope.context.request?.id ?? null;
      if (request !== null) {
        if (source.requests.includes(request)) return null;
        source.requests.push(request);
        if (source.requests.length > rememberedRequests) source.requests.shift();
      }
      if (source.recorded < limits.perSource && recorded < limits.perWindow) {
        source.recorded++;
        recorded++;
        return track(request, commands.refuse(action, refusal, envelope));
      }
      source.summarized++;
      if (source.actions.size < summarizedActions) source.actions.add(action);
      source.context = envelope.context;
      return null;
    },
    async settled(requestId) {
      await Promise.allSettled([...(underWay.get(requestId) ?? [])]);
    },
    flush: endWindow,
    async close() {
      clearInterval(timer);
      await endWindow();
    },
  };
};
