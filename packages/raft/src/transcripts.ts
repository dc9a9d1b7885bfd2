/**
 * The runner of the interaction transcripts (testdata/*.txt), for users of the package: a
 * transcript is a script of commands against a small deterministic cluster of RaftCores, with
 * the expected output after each command (etcd-io/raft's rafttest and datadriven format).
 * Pure: the caller reads the files (TRANSCRIPTS_URL says where they are) and writes any update.
 */
import { runCommand } from './interaction/commands.js';
import { formatDataDriven, parseDataDriven } from './interaction/datadriven.js';
import { InteractionEnv } from './interaction/env.js';

/** What running one transcript gave. */
export interface TranscriptResult {
  /** The transcript's text with each command's actual output: equal to the input when it passes. */
  actual: string;
  /** `name:line: "command"` of the first command whose output differs, or null when none does. */
  firstMismatch: string | null;
}

/**
 * Runs one transcript against a fresh cluster and returns its actual output. Throws, naming
 * the line, when a command is malformed or a safety property (Election Safety, Log Matching,
 * Leader Completeness, State Machine Safety) breaks.
 */
export function runTranscript(text: string, name = 'transcript'): TranscriptResult {
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
      throw new Error(`${name}:${line}: "${input}" failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    outputs.push(output);
    if (firstMismatch === null && output !== expected) firstMismatch = `${name}:${line}: "${input}"`;
  }
  return { actual: formatDataDriven(chunks, outputs), firstMismatch };
}

/**
 * The `file:` URL of the folder of transcripts shipped with the package (testdata/, one
 * `*.txt` per scenario), e.g. `readdirSync(new URL(TRANSCRIPTS_URL))` in Node. Meaningless
 * in a bundle, where the files are not next to the code.
 */
export const TRANSCRIPTS_URL: string = new URL('../testdata/', import.meta.url).href;
