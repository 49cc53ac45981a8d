/** What replaces a secret value in a job's output, as CircleCI prints it. */
export const maskedOutput = '********';
/** Values shorter than this stay visible, and so do booleans, as CircleCI leaves them: masking them would blank ordinary words. */
export const minimumMaskedLength = 4;
const unmasked = new Set(['true', 'True', 'false', 'False']);

export interface OutputMasker {
  /** Masks a chunk; text that could be the start of a secret is held back until the next chunk shows. */
  push(chunk: string): string;
  /** Whatever was held back, masked: call it when the output ends. */
  end(): string;
}

/**
 * Masks secret values in output that arrives in chunks, so a value split across two writes is still
 * masked. Longer values are replaced first, so a value containing a shorter one is masked whole.
 */
export const createOutputMasker = (secrets: Iterable<string>): OutputMasker => {
  const values = [...new Set([...secrets].filter((s) => s.length >= minimumMaskedLength && !unmasked.has(s)))].sort((a, b) => b.length - a.length);
  const longest = values[0]?.length ?? 0;
  const maskAll = (text: string) => values.reduce((t, v) => t.split(v).join(maskedOutput), text);
  let held = '';
  return {
    push(chunk) {
      if (values.length === 0) return chunk;
      const text = maskAll(held + chunk);
      // keep back the longest tail that is a proper prefix of some value
      let keep = 0;
      for (let n = Math.min(longest - 1, text.length); n > 0; n--) {
        const tail = text.slice(text.length - n);
        if (values.some((v) => v.startsWith(tail))) {
          keep = n;
          break;
        }
      }
      held = text.slice(text.length - keep);
      return text.slice(0, text.length - keep);
    },
    end() {
      const rest = maskAll(held);
      held = '';
      return rest;
    },
  };
};

/** Masks whole texts one at a time (a reason, a test's message, a cache key): nothing is held back between them. */
export const createTextMasker = (secrets: Iterable<string>): ((text: string) => string) => {
  const masker = createOutputMasker(secrets);
  return (text) => masker.push(text) + masker.end();
};
