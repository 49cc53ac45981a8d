import { EventEmitter } from 'node:events';

export interface OutputChunk {
  readonly jobId: string;
  readonly taskIndex: number;
  readonly stepIndex: number;
  /** Bytes of the step's output before this chunk: a reader that has read that much already skips it. */
  readonly offset: number;
  readonly text: string;
}

/** Job output as it arrives at this server, for subscribers; output lines are never events. */
export interface LiveOutput {
  publish(chunk: OutputChunk): void;
  subscribe(jobId: string, listener: (chunk: OutputChunk) => void): () => void;
}

export const createLiveOutput = (): LiveOutput => {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    publish: (chunk) => void emitter.emit(chunk.jobId, chunk),
    subscribe(jobId, listener) {
      emitter.on(jobId, listener);
      return () => void emitter.off(jobId, listener);
    },
  };
};
