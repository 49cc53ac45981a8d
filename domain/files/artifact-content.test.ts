import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { artifactHeaders, attachmentDisposition, extensionOf } from './artifact-content.ts';

const test = suite('domain/files: how an artifact is served');
const guard = { 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': 'sandbox' };
const type = (p: string) => artifactHeaders(p)['Content-Type'];

test("the guide's safe types are served as themselves", () => {
  const cases: Array<[string, string]> = [
    ['logs/build.txt', 'text/plain'],
    ['out/build.log', 'text/plain'],
    ['report.json', 'application/json'],
    ['shot.png', 'image/png'],
    ['shot.jpg', 'image/jpeg'],
    ['shot.JPEG', 'image/jpeg'],
    ['a.gif', 'image/gif'],
    ['a.bmp', 'image/bmp'],
    ['run.webm', 'video/webm'],
    ['run.ogv', 'video/ogg'],
    ['run.ogg', 'video/ogg'],
    ['run.mp4', 'video/mp4'],
    ['s.weba', 'audio/webm'],
    ['s.aac', 'audio/aac'],
    ['s.m4a', 'audio/mp4'],
    ['s.mp3', 'audio/mpeg'],
    ['s.oga', 'audio/ogg'],
    ['s.wav', 'audio/wav'],
  ];
  for (const [p, t] of cases) assert.equal(artifactHeaders(p), { 'Content-Type': t, ...guard }, p);
});

test('HTML, CSS, JavaScript, ECMAScript, XML and SVG are served as plain text, whatever the case of the name', () => {
  for (const p of ['site/index.html', 'a.HTML', 'b.htm', 'page.xhtml', 'style.css', 'app.js', 'mod.mjs', 'x.es', 'coverage.xml', 'x.svg', 'LOGO.SVG', 'a.xsl'])
    assert.equal(artifactHeaders(p), { 'Content-Type': 'text/plain', ...guard }, p);
});

test('with serveUnsafeArtifacts the unsafe types keep their own type, still sandboxed', () => {
  assert.equal(artifactHeaders('a.HTML', { serveUnsafe: true }), { 'Content-Type': 'text/html', ...guard });
  assert.equal(artifactHeaders('x.svg', { serveUnsafe: true })['Content-Type'], 'image/svg+xml');
  assert.equal(artifactHeaders('a.bin', { serveUnsafe: true })['Content-Type'], 'application/octet-stream');
});

test('everything else is a download named after the file', () => {
  assert.equal(artifactHeaders('dist/app.tar.gz'), {
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': 'attachment; filename="app.tar.gz"',
    ...guard,
  });
  assert.equal(artifactHeaders('bin/no-extension')['Content-Disposition'], 'attachment; filename="no-extension"');
  assert.equal(type('.bashrc'), 'application/octet-stream');
  assert.equal(type('dir.html/file'), 'application/octet-stream');
  assert.equal(type('trailing.'), 'application/octet-stream');
  assert.equal(type('app.pdf'), 'application/octet-stream');
  assert.equal(type('build.jar'), 'application/octet-stream');
});

test('attachment names are quoted safely: quotes and backslashes escaped, control characters dropped, non-ASCII also given as filename*', () => {
  assert.is(attachmentDisposition('out/say "hi".bin'), 'attachment; filename="say \\"hi\\".bin"');
  // a backslash separates segments (a Windows path), so it never reaches the name
  assert.is(attachmentDisposition('out\\a\\b.bin'), 'attachment; filename="b.bin"');
  assert.is(attachmentDisposition('evil\r\nSet-Cookie: x.bin'), 'attachment; filename="evilSet-Cookie: x.bin"');
  assert.is(attachmentDisposition('rapport-été.bin'), `attachment; filename="rapport-_t_.bin"; filename*=UTF-8''rapport-%C3%A9t%C3%A9.bin`);
  assert.is(attachmentDisposition("it's (1).bin"), `attachment; filename="it's (1).bin"`);
  assert.is(attachmentDisposition('dir/'), 'attachment; filename="artifact"');
  for (const v of Object.values(artifactHeaders('x\ny\u0000.zip'))) assert.ok(!/[\r\n\u0000]/.test(v));
});

test('the extension is the last dot of the last segment, lower case', () => {
  assert.is(extensionOf('a/b.c/d.TAR.GZ'), 'gz');
  assert.is(extensionOf('a/b.c/d'), '');
  assert.is(extensionOf('.env'), '');
  assert.is(extensionOf('C:\\out\\x.Png'), 'png');
});

test.run();
