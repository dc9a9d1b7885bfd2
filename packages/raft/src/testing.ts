/**
 * `@raftquotes/raft/testing`: what a user who changes the core, or builds on it, needs to
 * test it: the safety checker the simulator runs after every step, and the runner of the
 * interaction transcripts shipped in `testdata/`.
 *
 * @packageDocumentation
 */
export { SafetyChecker } from './safety.js';
export type { LogView, RaftView, Violation } from './safety.js';
