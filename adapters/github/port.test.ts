import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultApiUrl } from './port.ts';

const test = suite('adapters/github: the API next to a GitHub URL');

test('github.com has api.github.com; an Enterprise host serves /api/v3', () => {
  assert.is(defaultApiUrl('https://github.com'), 'https://api.github.com');
  assert.is(defaultApiUrl('https://github.example.com/'), 'https://github.example.com/api/v3');
  assert.is(defaultApiUrl('http://127.0.0.1:9000'), 'http://127.0.0.1:9000/api/v3');
});

test.run();
