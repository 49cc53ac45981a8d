import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cacheEntryName, cacheHomeName, formatBytes } from './file-steps.ts';

/** The pure parts of the file steps; the steps themselves run through a real Gyre in test/files-host.test.ts and test/files.test.ts. */
const test = suite('agent: file steps, pure parts');

test('sizes print as CircleCI prints them', () => {
  assert.equal([0, 32, 1024, 1536, 666 * 1024 * 1024, 3 * 1024 ** 4, 2 * 1024 ** 5].map(formatBytes), [
    '0 B',
    '32 B',
    '1 KiB',
    '1.5 KiB',
    '666 MiB',
    '3 TiB',
    '2048 TiB',
  ]);
});

test("a cached path under home is named from ~, any other from /; restoring gives home's entries relative to home", () => {
  const home = '/home/circleci';
  assert.equal(
    ['/home/circleci', '/home/circleci/project/node_modules', '/usr/local/bundle', '/home/circleci2/x'].map((p) => cacheEntryName(home, p)),
    ['~', '~/project/node_modules', 'usr/local/bundle', 'home/circleci2/x'],
  );
  assert.equal(['~', '~/project/node_modules', 'usr/local/bundle', '~x'].map(cacheHomeName), ['.', 'project/node_modules', null, null]);
});

test.run();
