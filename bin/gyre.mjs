#!/usr/bin/env node
// The `gyre` command: runs the TypeScript entry through tsx (Node 20 cannot strip types).
import { register } from 'tsx/esm/api';

register();
await import('./gyre.ts');
