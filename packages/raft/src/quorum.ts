import type { NodeId } from './types.js';

/** The number of voters that makes a majority: always of the configured voters (§5.2). */
export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index that a majority of voters have matched: sort descending and take the
 * majority-th value. Voters missing from `matchIndex` count as 0.
 */
export function committedIndex(voters: readonly NodeId[], matchIndex: (id: NodeId) => number): number {
  const matches = voters.map(matchIndex).sort((a, b) => b - a);
  return matches[majority(voters.length) - 1] ?? 0;
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

/** Tallies granted and rejected votes against a fixed voter set. */
export function tallyVotes(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  let granted = 0;
  let rejected = 0;
  for (const voter of voters) {
    const vote = votes.get(voter);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const needed = majority(voters.length);
  if (granted >= needed) return 'won';
  if (rejected > voters.length - needed) return 'lost';
  return 'pending';
}

/**
 * Joint consensus (thesis §4.3): an index is committed only once a majority of every voter set
 * has it, so the committed index is the smallest of the per-set ones.
 */
export function jointCommittedIndex(voterSets: readonly (readonly NodeId[])[], matchIndex: (id: NodeId) => number): number {
  let index = Number.MAX_SAFE_INTEGER;
  for (const voters of voterSets) index = Math.min(index, committedIndex(voters, matchIndex));
  return voterSets.length === 0 ? 0 : index;
}

/** Joint consensus (thesis §4.3): an election is won with a majority of every voter set, lost once any set is lost. */
export function jointTally(voterSets: readonly (readonly NodeId[])[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  const outcomes = voterSets.map((voters) => tallyVotes(voters, votes));
  if (outcomes.includes('lost')) return 'lost';
  return outcomes.every((outcome) => outcome === 'won') ? 'won' : 'pending';
}
