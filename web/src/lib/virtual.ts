/**
 * Which lines of a long output to put in the page: those in the scroll container's view, and a few
 * either side, given a fixed line height. The rest is stood for by spacers of the right height.
 */
export const visibleWindow = (scrollTop: number, viewport: number, lineHeight: number, count: number, overscan = 20): { start: number; end: number } => {
  const first = Math.floor(Math.max(scrollTop, 0) / lineHeight);
  const shown = Math.ceil(Math.max(viewport, lineHeight) / lineHeight) + 1;
  const start = Math.max(0, Math.min(first - overscan, count));
  const end = Math.min(count, first + shown + overscan);
  return { start, end: Math.max(start, end) };
};

/** The scrollTop that shows `line` near the middle of the view. */
export const scrollTopFor = (line: number, viewport: number, lineHeight: number) => Math.max(0, line * lineHeight - Math.floor(viewport / 2) + lineHeight);
