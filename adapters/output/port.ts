/** One step's output within one task of a job. */
export interface OutputKey {
  readonly jobId: string;
  readonly taskIndex: number;
  readonly stepIndex: number;
}

export interface OutputSize {
  readonly bytes: number;
  readonly truncated: boolean;
}

/** Where job output is kept: written as it arrives, durable once the step is sealed. */
export interface OutputStore {
  /**
   * Adds text to a step's output; past the limit the text is cut with a line that says so, and later
   * text is dropped. Returns what was kept of it and the byte offset it was written at.
   */
  append(key: OutputKey, text: string): Promise<{ kept: string; offset: number }>;
  /** The step has ended: its output is made durable. */
  seal(key: OutputKey): Promise<OutputSize>;
  read(key: OutputKey): Promise<string | null>;
  /** Removes every step's output of the job, wherever it is kept (retention); a second call finds nothing and is no error. */
  removeJob(jobId: string): Promise<void>;
}
