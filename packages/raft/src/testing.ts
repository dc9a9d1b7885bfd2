/**
 * `@raftquotes/raft/testing`: what a user who changes the core, or builds on it, needs to
 * test it: the interaction transcripts and their runner, and the safety checker that the
 * transcripts and the project's simulator run after every step.
 *
 * ```ts
 * import { readdirSync, readFileSync } from 'node:fs';
 * import { runTranscript, TRANSCRIPTS_URL } from '@raftquotes/raft/testing';
 *
 * for (const name of readdirSync(new URL(TRANSCRIPTS_URL)).filter((n) => n.endsWith('.txt'))) {
 *   const text = readFileSync(new URL(name, TRANSCRIPTS_URL), 'utf8');
 *   const { actual, firstMismatch } = runTranscript(text, name);
 *   if (actual !== text) throw new Error(`transcript differs at ${firstMismatch}`);
 * }
 * ```
 *
 * @packageDocumentation
 */
export { runTranscript, TRANSCRIPTS_URL } from './transcripts.js';
export type { TranscriptResult } from './transcripts.js';
export { SafetyChecker } from './safety.js';
export type { LogView, RaftView, Violation } from './safety.js';
