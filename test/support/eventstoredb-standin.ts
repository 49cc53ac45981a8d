/**
 * A stand-in for EventStoreDB's gRPC Streams API, in memory, on 127.0.0.1 without TLS: the parts
 * Gyre's adapter uses (append with an expected revision, read a stream, read and subscribe to `$all`
 * with filters and checkpoints), written from EventStoreDB's streams.proto. The messages and the
 * service definition are the ones `@eventstore/db-client` generates from those protos. Services it
 * does not serve (ServerFeatures among them) answer UNIMPLEMENTED, which the client takes for an
 * older server and falls back to the plain Append call.
 */
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import type * as SharedPb from '@eventstore/db-client/generated/shared_pb.js';
import type * as StreamsPb from '@eventstore/db-client/generated/streams_pb.js';

const require = createRequire(import.meta.url);
const pb: typeof StreamsPb = require('@eventstore/db-client/generated/streams_pb.js');
const shared: typeof SharedPb = require('@eventstore/db-client/generated/shared_pb.js');
const { StreamsService } = require('@eventstore/db-client/generated/streams_grpc_pb.js') as { StreamsService: grpc.ServiceDefinition };

type ReadReq = StreamsPb.ReadReq;
type ReadResp = StreamsPb.ReadResp;
type AppendReq = StreamsPb.AppendReq;
type AppendResp = StreamsPb.AppendResp;
type Options = StreamsPb.ReadReq.Options;

interface Stored {
  readonly stream: string;
  readonly revision: number;
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly metadata: Uint8Array;
  /** 100-nanosecond ticks since the Unix epoch, as the server puts in `created`. */
  readonly created: bigint;
  readonly commit: bigint;
  readonly prepare: bigint;
}

/** The log: kept apart from the server so that a restart on the same port finds it again. */
interface Log {
  readonly events: Stored[];
  readonly revisions: Map<string, number>;
  /** Where the next record starts in the transaction file: positions are byte offsets, as the server's are. */
  end: bigint;
}

const TICKS_PER_MS = 10_000n;
/** The server's default search window when the filter asks for `count` rather than `max`. */
const DEFAULT_WINDOW = 32;

const before = (a: Stored, commit: bigint, prepare: bigint) => a.commit < commit || (a.commit === commit && a.prepare < prepare);

const appendTo = (log: Log, stream: string, proposed: ReadonlyArray<Omit<Stored, 'stream' | 'revision' | 'created' | 'commit' | 'prepare'>>) => {
  // one append is one transaction: its events share the commit position and each has its own prepare position
  const commit = log.end;
  const created = BigInt(Date.now()) * TICKS_PER_MS;
  let revision = log.revisions.get(stream) ?? -1;
  const written: Stored[] = [];
  for (const p of proposed) {
    revision++;
    const e: Stored = { ...p, stream, revision, created, commit, prepare: log.end };
    log.end += BigInt(80 + stream.length + p.type.length + p.data.length + p.metadata.length);
    written.push(e);
  }
  log.events.push(...written);
  if (written.length) log.revisions.set(stream, revision);
  return written;
};

const systemEvent = (type: string, data: unknown) => ({
  id: crypto.randomUUID(),
  type,
  contentType: 'application/json',
  data: Buffer.from(JSON.stringify(data)),
  metadata: new Uint8Array(),
});

const matcher = (options: Options): ((e: Stored) => boolean) => {
  if (!options.hasFilter()) return () => true;
  const f = options.getFilter()!;
  const onType = f.hasEventType();
  const expr = onType ? f.getEventType()! : f.getStreamIdentifier()!;
  const prefixes = expr.getPrefixList();
  const value = (e: Stored) => (onType ? e.type : e.stream);
  if (prefixes.length) return (e) => prefixes.some((p) => value(e).startsWith(p));
  const regex = new RegExp(expr.getRegex());
  return (e) => regex.test(value(e));
};

const checkpointInterval = (options: Options): number => {
  if (!options.hasFilter()) return 0;
  const f = options.getFilter()!;
  const window = f.hasMax() ? f.getMax() : DEFAULT_WINDOW;
  return Math.max(1, f.getCheckpointintervalmultiplier()) * window;
};

const eventResp = (e: Stored): ReadResp => {
  const recorded = new pb.ReadResp.ReadEvent.RecordedEvent();
  recorded.setId(new shared.UUID().setString(e.id));
  recorded.setStreamIdentifier(new shared.StreamIdentifier().setStreamName(Buffer.from(e.stream)));
  recorded.setStreamRevision(String(e.revision));
  recorded.setCommitPosition(String(e.commit));
  recorded.setPreparePosition(String(e.prepare));
  const map = recorded.getMetadataMap();
  map.set('type', e.type);
  map.set('content-type', e.contentType);
  map.set('created', String(e.created));
  recorded.setCustomMetadata(e.metadata);
  recorded.setData(e.data);
  const read = new pb.ReadResp.ReadEvent().setEvent(recorded).setCommitPosition(String(e.commit));
  return new pb.ReadResp().setEvent(read);
};

const checkpointResp = (e: Stored) =>
  new pb.ReadResp().setCheckpoint(new pb.ReadResp.Checkpoint().setCommitPosition(String(e.commit)).setPreparePosition(String(e.prepare)));

/** A live subscription to `$all`: scans the log from `next` on, sends what matches, a checkpoint every `interval` events scanned. */
class AllSubscription {
  private scanned = 0;
  private caughtUp = false;
  constructor(
    private readonly call: grpc.ServerWritableStream<ReadReq, ReadResp>,
    private readonly log: Log,
    private next: number,
    private readonly matches: (e: Stored) => boolean,
    private readonly interval: number,
  ) {}

  pump() {
    for (; this.next < this.log.events.length; this.next++) {
      const e = this.log.events[this.next]!;
      if (this.matches(e)) this.call.write(eventResp(e));
      this.scanned++;
      if (this.interval && this.scanned % this.interval === 0) this.call.write(checkpointResp(e));
    }
    if (!this.caughtUp) {
      this.caughtUp = true;
      this.call.write(new pb.ReadResp().setCaughtUp(new pb.ReadResp.CaughtUp()));
    }
  }

  drop(details: string) {
    this.call.emit('error', { code: grpc.status.UNAVAILABLE, details });
  }
}

export interface EventStoreDbStandIn {
  /** A connection string for `@eventstore/db-client`. */
  readonly url: string;
  readonly port: number;
  /** Calls of the Read method still open (reads and subscriptions). */
  readonly openReads: () => number;
  /** Appends an event of the server's own, as the real one does now and then (`$statsCollected`, `$metadata`). */
  appendSystemEvent(stream: string, type: string): void;
  /** Ends every open subscription with UNAVAILABLE, as a node that goes away does. */
  dropSubscriptions(): void;
  /** Stops serving (open calls are cut); the log is kept for `start`. */
  stop(): Promise<void>;
  /** Serves again on the same port. */
  start(): Promise<void>;
  /**
   * Empties the log to what a new server holds, and ends the calls open on the old one as a new server would. Positions go on
   * from where they were, so that a client of the old log never takes a new event for one it has seen.
   */
  reset(): void;
}

export const startEventStoreDbStandIn = async (): Promise<EventStoreDbStandIn> => {
  const log: Log = { events: [], revisions: new Map(), end: 0n };
  const begin = () => {
    // a real server's log is never empty of its own events
    appendTo(log, '$$$scavenges', [systemEvent('$metadata', { $maxAge: 2_592_000 })]);
    appendTo(log, '$settings', [systemEvent('$settings', { $userStreamAcl: {}, $systemStreamAcl: {} })]);
  };
  begin();

  const subscriptions = new Set<AllSubscription>();
  const reads = new Set<grpc.ServerWritableStream<ReadReq, ReadResp>>();

  const readStream = (call: grpc.ServerWritableStream<ReadReq, ReadResp>, options: Options) => {
    const so = options.getStream()!;
    const stream = Buffer.from(so.getStreamIdentifier()!.getStreamName_asU8()).toString('utf8');
    const last = log.revisions.get(stream);
    if (last === undefined) {
      call.write(new pb.ReadResp().setStreamNotFound(new pb.ReadResp.StreamNotFound().setStreamIdentifier(so.getStreamIdentifier())));
      return call.end();
    }
    const backwards = options.getReadDirection() === pb.ReadReq.Options.ReadDirection.BACKWARDS;
    const from = so.hasRevision() ? Number(so.getRevision()) : so.hasEnd() ? last : 0;
    const count = Number(options.getCount());
    const inStream = log.events.filter((e) => e.stream === stream);
    const picked = backwards ? inStream.filter((e) => e.revision <= from).reverse() : inStream.filter((e) => e.revision >= from);
    for (const e of picked.slice(0, count)) call.write(eventResp(e));
    call.end();
  };

  const readAll = (call: grpc.ServerWritableStream<ReadReq, ReadResp>, options: Options) => {
    const ao = options.getAll()!;
    const matches = matcher(options);
    const backwards = options.getReadDirection() === pb.ReadReq.Options.ReadDirection.BACKWARDS;
    const count = Number(options.getCount());
    let picked: Stored[];
    if (backwards) {
      // backwards from a position: the events before it, newest first
      const older = ao.hasPosition()
        ? log.events.filter((e) => before(e, BigInt(ao.getPosition()!.getCommitPosition()), BigInt(ao.getPosition()!.getPreparePosition())))
        : ao.hasStart()
          ? []
          : log.events;
      picked = [...older].reverse();
    } else {
      // forwards from a position: the event at it, and those after
      picked = ao.hasPosition()
        ? log.events.filter((e) => !before(e, BigInt(ao.getPosition()!.getCommitPosition()), BigInt(ao.getPosition()!.getPreparePosition())))
        : ao.hasEnd()
          ? []
          : log.events;
    }
    let sent = 0;
    for (const e of picked) {
      if (sent >= count) break;
      if (!matches(e)) continue;
      call.write(eventResp(e));
      sent++;
    }
    call.end();
  };

  const subscribeToAll = (call: grpc.ServerWritableStream<ReadReq, ReadResp>, options: Options) => {
    const ao = options.getAll()!;
    // a subscription from a position starts after it
    const next = ao.hasEnd()
      ? log.events.length
      : ao.hasPosition()
        ? (() => {
            const commit = BigInt(ao.getPosition()!.getCommitPosition());
            const prepare = BigInt(ao.getPosition()!.getPreparePosition());
            const i = log.events.findIndex((e) => !before(e, commit, prepare) && !(e.commit === commit && e.prepare === prepare));
            return i === -1 ? log.events.length : i;
          })()
        : 0;
    const sub = new AllSubscription(call, log, next, matcher(options), checkpointInterval(options));
    subscriptions.add(sub);
    call.on('cancelled', () => subscriptions.delete(sub));
    call.on('close', () => subscriptions.delete(sub));
    call.write(new pb.ReadResp().setConfirmation(new pb.ReadResp.SubscriptionConfirmation().setSubscriptionId(crypto.randomUUID())));
    sub.pump();
  };

  const read = (call: grpc.ServerWritableStream<ReadReq, ReadResp>) => {
    reads.add(call);
    const forget = () => reads.delete(call);
    call.on('cancelled', forget);
    call.on('close', forget);
    call.on('finish', forget);
    const options = call.request.getOptions()!;
    if (options.hasStream()) {
      if (options.hasSubscription()) return call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'the stand-in subscribes to $all only' });
      return readStream(call, options);
    }
    if (options.hasSubscription()) return subscribeToAll(call, options);
    return readAll(call, options);
  };

  const append = (call: grpc.ServerReadableStream<AppendReq, AppendResp>, callback: grpc.sendUnaryData<AppendResp>) => {
    let options: StreamsPb.AppendReq.Options | undefined;
    const proposed: StreamsPb.AppendReq.ProposedMessage[] = [];
    call.on('data', (req: AppendReq) => {
      if (req.hasOptions()) options = req.getOptions();
      else if (req.hasProposedMessage()) proposed.push(req.getProposedMessage()!);
    });
    call.on('end', () => {
      if (!options) return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'an append begins with its options' });
      const stream = Buffer.from(options.getStreamIdentifier()!.getStreamName_asU8()).toString('utf8');
      const current = log.revisions.get(stream);
      const Case = pb.AppendReq.Options.ExpectedStreamRevisionCase;
      const expected = options.getExpectedStreamRevisionCase();
      const ok =
        expected === Case.ANY ||
        (expected === Case.NO_STREAM && current === undefined) ||
        (expected === Case.STREAM_EXISTS && current !== undefined) ||
        (expected === Case.REVISION && current === Number(options.getRevision()));
      if (!ok) {
        const wrong = new pb.AppendResp.WrongExpectedVersion();
        if (current === undefined) wrong.setCurrentNoStream(new shared.Empty()).setNoStream2060(new shared.Empty());
        else wrong.setCurrentRevision(String(current)).setCurrentRevision2060(current);
        if (expected === Case.REVISION) wrong.setExpectedRevision(options.getRevision()).setExpectedRevision2060(Number(options.getRevision()));
        else if (expected === Case.NO_STREAM) wrong.setExpectedNoStream(new shared.Empty());
        else if (expected === Case.STREAM_EXISTS) wrong.setExpectedStreamExists(new shared.Empty()).setStreamExists2060(new shared.Empty());
        else wrong.setExpectedAny(new shared.Empty()).setAny2060(new shared.Empty());
        return callback(null, new pb.AppendResp().setWrongExpectedVersion(wrong));
      }
      const written = appendTo(
        log,
        stream,
        proposed.map((m) => ({
          id: m.getId()!.getString(),
          type: m.getMetadataMap().get('type') ?? '',
          contentType: m.getMetadataMap().get('content-type') ?? 'application/octet-stream',
          data: m.getData_asU8(),
          metadata: m.getCustomMetadata_asU8(),
        })),
      );
      const success = new pb.AppendResp.Success();
      const last = written[written.length - 1];
      const revision = log.revisions.get(stream);
      if (revision === undefined) success.setNoStream(new shared.Empty());
      else success.setCurrentRevision(String(revision));
      if (last) success.setPosition(new pb.AppendResp.Position().setCommitPosition(String(last.commit)).setPreparePosition(String(last.prepare)));
      else success.setNoPosition(new shared.Empty());
      callback(null, new pb.AppendResp().setSuccess(success));
      for (const sub of subscriptions) sub.pump();
    });
  };

  let server: grpc.Server | undefined;
  let port = 0;
  const start = async () => {
    server = new grpc.Server();
    // Delete, Tombstone and BatchAppend are left out: grpc-js answers them UNIMPLEMENTED
    server.addService(StreamsService, { read, append });
    port = await new Promise<number>((resolve, reject) =>
      server!.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, bound) => (e ? reject(e) : resolve(bound))),
    );
  };
  await start();

  return {
    get url() {
      return `esdb://127.0.0.1:${port}?tls=false`;
    },
    get port() {
      return port;
    },
    openReads: () => reads.size,
    appendSystemEvent(stream, type) {
      appendTo(log, stream, [systemEvent(type, {})]);
      for (const sub of subscriptions) sub.pump();
    },
    dropSubscriptions() {
      for (const sub of subscriptions) sub.drop('the node went away');
      subscriptions.clear();
    },
    async stop() {
      subscriptions.clear();
      reads.clear();
      server?.forceShutdown();
      server = undefined;
    },
    start,
    reset() {
      for (const sub of subscriptions) sub.drop('the node went away');
      subscriptions.clear();
      log.events.length = 0;
      log.revisions.clear();
      begin();
    },
  };
};
