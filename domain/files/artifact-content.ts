/**
 * How an artifact is served, after CircleCI Server's operations guide (Managing build artifacts):
 * the guide's safe types are rendered as themselves; HTML, CSS, JavaScript, ECMAScript and XML are
 * rendered as plain text (SVG with them: it is XML that runs scripts); anything else is a download.
 * Every answer forbids sniffing and sandboxes the page, so a stored file never runs as Gyre's origin.
 */

/** The guide's allowed list: text/plain, application/json, png, jpg, gif, bmp, video webm/ogg/mp4, audio webm/aac/mp4/mpeg/ogg/wav. */
const safe: Record<string, string> = {
  txt: 'text/plain',
  text: 'text/plain',
  log: 'text/plain',
  json: 'application/json',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  bmp: 'image/bmp',
  webm: 'video/webm',
  ogv: 'video/ogg',
  ogg: 'video/ogg',
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  weba: 'audio/webm',
  aac: 'audio/aac',
  m4a: 'audio/mp4',
  mp3: 'audio/mpeg',
  mpga: 'audio/mpeg',
  oga: 'audio/ogg',
  opus: 'audio/ogg',
  wav: 'audio/wav',
};

/** The guide's unsafe types (served as text/plain unless the operator allows them), with their real types. */
const unsafe: Record<string, string> = {
  html: 'text/html',
  htm: 'text/html',
  xhtml: 'application/xhtml+xml',
  css: 'text/css',
  js: 'text/javascript',
  mjs: 'text/javascript',
  cjs: 'text/javascript',
  es: 'application/ecmascript',
  xml: 'text/xml',
  xsl: 'text/xml',
  svg: 'image/svg+xml',
};

/** The extension Gyre judges a name by: after the last dot of the last segment, lower case; '' for none or a dotfile. */
export const extensionOf = (path: string): string => {
  const name = path.split(/[\\/]/).at(-1) ?? '';
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
};

/** A header-safe `Content-Disposition: attachment` naming the file, with an RFC 5987 form for names beyond ASCII. */
export const attachmentDisposition = (path: string): string => {
  const name = (path.split(/[\\/]/).at(-1) ?? '').replace(/[\u0000-\u001f\u007f]/g, '') || 'artifact';
  const plain = /^[\x20-\x7e]*$/.test(name);
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '\\$&');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return plain ? `attachment; filename="${ascii}"` : `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
};

/**
 * The response headers for an artifact at `path`. `serveUnsafe` is the guide's `serveUnsafeArtifacts`:
 * HTML, CSS, scripts and XML then keep their own type (still sandboxed).
 */
export const artifactHeaders = (path: string, opts: { serveUnsafe?: boolean } = {}): Record<string, string> => {
  const ext = extensionOf(path);
  const always = { 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': 'sandbox' };
  const own = safe[ext];
  if (own) return { 'Content-Type': own, ...always };
  const risky = unsafe[ext];
  if (risky) return { 'Content-Type': opts.serveUnsafe ? risky : 'text/plain', ...always };
  return { 'Content-Type': 'application/octet-stream', 'Content-Disposition': attachmentDisposition(path), ...always };
};
