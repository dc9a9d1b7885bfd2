/**
 * A small reader and writer for datadriven test files, the format of cockroachdb/datadriven
 * that etcd-io/raft's interaction tests use:
 *
 *     # a comment
 *     propose 1 hello
 *     ----
 *     ok index=3 term=2
 *
 * A case is a command line, a `----` line, then the expected output, which ends at the
 * next blank line (or the end of the file). Output therefore never contains blank lines.
 * Pure: the caller reads and writes the file.
 */

/** One argument of a command: `key=value` (value may be a comma list) or a bare word. */
export interface CommandArg {
  key: string;
  /** Empty for a bare word. */
  values: string[];
}

/** One command with its expected output. */
export interface TestCase {
  /** 1-based line of the command, for error messages. */
  line: number;
  /** The command line as written. */
  input: string;
  command: string;
  args: CommandArg[];
  expected: string;
}

/** A file as an alternation of verbatim text (comments, blank lines) and cases. */
export type Chunk = { kind: 'text'; lines: string[] } | { kind: 'case'; testCase: TestCase };

const SEPARATOR = '----';

/** Splits a command line into its command and arguments. */
export function parseCommandLine(input: string): { command: string; args: CommandArg[] } {
  const [command, ...words] = input.trim().split(/\s+/);
  if (!command) throw new Error(`empty command line`);
  const args = words.map((word): CommandArg => {
    const eq = word.indexOf('=');
    if (eq <= 0) return { key: word, values: [] };
    return { key: word.slice(0, eq), values: word.slice(eq + 1).split(',') };
  });
  return { command, args };
}

/** Parses a whole file into chunks; throws with the line number on a malformed case. */
export function parseDataDriven(text: string): Chunk[] {
  const lines = text.replace(/\n$/, '').split('\n');
  const chunks: Chunk[] = [];
  let verbatim: string[] = [];
  let i = 0;
  for (let line = lines[i]; line !== undefined; line = lines[i]) {
    if (line.trim() === '' || line.startsWith('#')) {
      verbatim.push(line);
      i++;
      continue;
    }
    if (verbatim.length > 0) chunks.push({ kind: 'text', lines: verbatim });
    verbatim = [];
    if (lines[i + 1] !== SEPARATOR) throw new Error(`line ${i + 1}: expected "${SEPARATOR}" after "${line}"`);
    const expected: string[] = [];
    let j = i + 2;
    for (let next = lines[j]; next !== undefined && next.trim() !== ''; next = lines[++j]) expected.push(next);
    chunks.push({ kind: 'case', testCase: { line: i + 1, input: line, ...parseCommandLine(line), expected: expected.join('\n') } });
    i = j;
  }
  if (verbatim.length > 0) chunks.push({ kind: 'text', lines: verbatim });
  return chunks;
}

/** Writes chunks back as a file, with `outputs[k]` as the output of the k-th case. */
export function formatDataDriven(chunks: Chunk[], outputs: string[]): string {
  const out: string[] = [];
  let k = 0;
  for (const chunk of chunks) {
    if (chunk.kind === 'text') {
      out.push(...chunk.lines);
      continue;
    }
    const output = outputs[k++] ?? '';
    if (/\n\s*\n/.test(output) || output.startsWith('\n')) {
      throw new Error(`line ${chunk.testCase.line}: output of "${chunk.testCase.input}" contains a blank line`);
    }
    out.push(chunk.testCase.input, SEPARATOR);
    if (output !== '') out.push(output);
  }
  return out.join('\n') + '\n';
}
