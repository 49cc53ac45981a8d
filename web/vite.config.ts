import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/** The web UI: built into dist/web, its scripts and styles under /assets/ with hashed names (cached for good). */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    // no inline script: the CSP allows only files of this origin
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
