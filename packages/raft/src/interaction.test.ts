import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCommand } from './interaction/commands.js';
import { formatDataDriven, parseCommandLine, parseDataDriven } from './interaction/datadriven.js';
import { InteractionEnv } from './interaction/env.js';
import { runTranscript, TRANSCRIPTS_URL } from './testing.js';

/**
 * Interaction tests in the style of etcd-io/raft's rafttest: each file in testdata/ is a
 * script of commands against a small deterministic cluster, with the expected output after
 * each command. `REWRITE=1 npx vitest run packages/raft/src/interaction` regenerates the expected
 * output; read the diff before committing it, since it must be correct Raft behaviour.
 */
const TESTDATA = fileURLToPath(TRANSCRIPTS_URL);
const REWRITE = process.env['REWRITE'] === '1';

describe('raft interaction scripts (testdata/*.txt)', () => {
  const files = readdirSync(TESTDATA)
    .filter((name) => name.endsWith('.txt'))
    .sort();

  it('has scripts', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const name of files) {
    it(name, () => {
      const path = join(TESTDATA, name);
      const text = readFileSync(path, 'utf8');
      const { actual, firstMismatch } = runTranscript(text, name);
      if (REWRITE) {
        if (actual !== text) writeFileSync(path, actual);
        return;
      }
      expect(actual, firstMismatch ? `first difference at ${firstMismatch}` : undefined).toBe(text);
    });
  }
});

describe('the interaction harness itself', () => {
  it('parses and rewrites the datadriven format, keeping comments and blank lines', () => {
    const text = '# comment\n\nadd-nodes 3 prevote=false\n----\nold output\nsecond line\n\n# next\nstatus 1\n----\n';
    const chunks = parseDataDriven(text);
    const cases = chunks.flatMap((c) => (c.kind === 'case' ? [c.testCase] : []));
    expect(cases.map((c) => [c.line, c.command, c.expected])).toEqual([
      [3, 'add-nodes', 'old output\nsecond line'],
      [9, 'status', ''],
    ]);
    expect(formatDataDriven(chunks, ['old output\nsecond line', ''])).toBe(text);
    expect(formatDataDriven(chunks, ['new', 'x'])).toBe(text.replace('old output\nsecond line', 'new').replace('status 1\n----\n', 'status 1\n----\nx\n'));
    expect(() => formatDataDriven(chunks, ['a\n\nb', ''])).toThrow(/blank line/);
    expect(() => parseDataDriven('status 1\nno separator\n')).toThrow(/line 1/);
  });

  it('parses key=value lists and bare words', () => {
    expect(parseCommandLine('deliver-msgs 2 from=1,3 drop=true')).toEqual({
      command: 'deliver-msgs',
      args: [
        { key: '2', values: [] },
        { key: 'from', values: ['1', '3'] },
        { key: 'drop', values: ['true'] },
      ],
    });
  });

  it('rejects unknown commands and arguments, so a typo cannot silently do nothing', () => {
    const env = new InteractionEnv();
    expect(() => runCommand(env, 'add-nodes', parseCommandLine('add-nodes 3 prevot=false').args)).toThrow(/unknown argument prevot/);
    expect(() => runCommand(env, 'campain', [])).toThrow(/unknown command/);
  });

  it('fails a script loudly when a safety property breaks', () => {
    const env = new InteractionEnv();
    runCommand(env, 'add-nodes', parseCommandLine('add-nodes 3').args);
    // Two nodes applying different entries at one index: State Machine Safety.
    const safety = (env as unknown as { safety: { checkApplied: (n: string, t: number, e: unknown[]) => void } }).safety;
    safety.checkApplied('1', 1, [{ index: 1, term: 1, type: 'normal', data: 'x' }]);
    expect(() => safety.checkApplied('2', 1, [{ index: 1, term: 2, type: 'normal', data: 'y' }])).toThrow(/state machine safety/);
  });
});
