import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand } from './interaction/commands.js';
import { formatDataDriven, parseDataDriven } from './interaction/datadriven.js';
import { InteractionEnv } from './interaction/env.js';

/**
 * Interaction tests in the style of etcd-io/raft's rafttest: each file in testdata/ is a
 * script of commands against a small deterministic cluster, with the expected output after
 * each command. `REWRITE=1 npx vitest run src/raft/interaction` regenerates the expected
 * output; read the diff before committing it, since it must be correct Raft behaviour.
 */
const TESTDATA = join(import.meta.dirname, 'testdata');
const REWRITE = process.env['REWRITE'] === '1';

/** Runs a script; returns the file text with actual outputs, and the first mismatch if any. */
function runScript(file: string, text: string): { actual: string; firstMismatch: string | null } {
  const chunks = parseDataDriven(text);
  const env = new InteractionEnv();
  const outputs: string[] = [];
  let firstMismatch: string | null = null;
  for (const chunk of chunks) {
    if (chunk.kind !== 'case') continue;
    const { line, input, command, args, expected } = chunk.testCase;
    let output: string;
    try {
      output = runCommand(env, command, args);
    } catch (error) {
      throw new Error(`${file}:${line}: "${input}" failed: ${(error as Error).message}`, { cause: error });
    }
    outputs.push(output);
    if (firstMismatch === null && output !== expected) firstMismatch = `${file}:${line}: "${input}"`;
  }
  return { actual: formatDataDriven(chunks, outputs), firstMismatch };
}

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
      const { actual, firstMismatch } = runScript(name, text);
      if (REWRITE) {
        if (actual !== text) writeFileSync(path, actual);
        return;
      }
      expect(actual, firstMismatch ? `first difference at ${firstMismatch}` : undefined).toBe(text);
    });
  }
});
