/**
 * Preloaded into the benchmark's nodes by `RAFTQUOTES_FANOUT_PROFILE=DIR npx tsx bench/fanout.ts`
 * (through NODE_OPTIONS=--require, since --cpu-prof itself is not allowed there): profiles the
 * process from its start, and on each SIGUSR2 writes DIR/<pid>-<n>.cpuprofile (Chrome DevTools
 * format) of the time since the last one, the node carrying on.
 */
/* eslint-disable @typescript-eslint/no-require-imports, no-undef -- a CommonJS preload for node --require */
'use strict';
const { Session } = require('node:inspector');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.env.RAFTQUOTES_FANOUT_PROFILE;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  let dumps = 0;
  process.on('SIGUSR2', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `${process.pid}-${++dumps}.cpuprofile`), JSON.stringify(result.profile));
      session.post('Profiler.start');
    });
  });
}
