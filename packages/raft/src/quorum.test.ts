import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { committedIndex, majority, tallyVotes, type VoteOutcome } from './quorum.js';

const voterSets = fc.integer({ min: 1, max: 9 }).map((n) => Array.from({ length: n }, (_, i) => `n${i + 1}`));

/** The definition: the highest index that at least a majority of voters have reached. */
function naiveCommitted(matches: number[]): number {
  const candidates = [0, ...matches];
  const needed = Math.floor(matches.length / 2) + 1;
  return Math.max(...candidates.filter((index) => matches.filter((m) => m >= index).length >= needed));
}

/** The definition: won once a majority granted; lost once a majority can no longer grant. */
function naiveTally(voters: string[], votes: Map<string, boolean>): VoteOutcome {
  const needed = Math.floor(voters.length / 2) + 1;
  const granted = voters.filter((v) => votes.get(v) === true).length;
  const pending = voters.filter((v) => !votes.has(v)).length;
  if (granted >= needed) return 'won';
  if (granted + pending < needed) return 'lost';
  return 'pending';
}

describe('majority (§5.2: always of the configured voters)', () => {
  it('is more than half', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(majority)).toEqual([1, 2, 2, 3, 3, 4, 4]);
  });
});

describe('committedIndex', () => {
  it('takes the majority-th highest match index', () => {
    const voters = ['a', 'b', 'c', 'd', 'e'];
    const matches: Record<string, number> = { a: 9, b: 7, c: 7, d: 3, e: 0 };
    expect(committedIndex(voters, (id) => matches[id] as number)).toBe(7);
  });

  it('needs a majority, not a plurality: two of five at 9 do not commit 9', () => {
    const matches: Record<string, number> = { a: 9, b: 9, c: 2, d: 1, e: 1 };
    expect(committedIndex(['a', 'b', 'c', 'd', 'e'], (id) => matches[id] as number)).toBe(2);
  });

  it('counts every configured voter: silent ones hold the index down (a stopped node never shrinks the quorum)', () => {
    const matches: Record<string, number> = { a: 5, b: 5 };
    expect(committedIndex(['a', 'b', 'c', 'd', 'e'], (id) => matches[id] ?? 0)).toBe(0);
    expect(committedIndex(['a', 'b', 'c'], (id) => matches[id] ?? 0)).toBe(5);
  });

  it('does not reorder the caller’s voters', () => {
    const voters = ['c', 'a', 'b'];
    committedIndex(voters, () => 1);
    expect(voters).toEqual(['c', 'a', 'b']);
  });

  it('agrees with the definition for any match indexes (property)', () => {
    fc.assert(
      fc.property(voterSets.chain((voters) => fc.tuple(fc.constant(voters), fc.array(fc.nat(50), { minLength: voters.length, maxLength: voters.length }))), ([voters, matches]) => {
        const byVoter = new Map(voters.map((v, i) => [v, matches[i] as number]));
        expect(committedIndex(voters, (id) => byVoter.get(id) ?? 0)).toBe(naiveCommitted(matches));
      }),
      { numRuns: 500 },
    );
  });

  it('is monotonic: raising any match index never lowers it (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(50), { minLength: 1, maxLength: 9 }), fc.nat(8), fc.nat(20), (matches, which, raise) => {
        const voters = matches.map((_, i) => `n${i}`);
        const before = committedIndex(voters, (id) => matches[Number(id.slice(1))] as number);
        const raised = matches.slice();
        const i = which % raised.length;
        raised[i] = (raised[i] as number) + raise;
        const after = committedIndex(voters, (id) => raised[Number(id.slice(1))] as number);
        expect(after).toBeGreaterThanOrEqual(before);
      }),
    );
  });
});

describe('tallyVotes', () => {
  const five = ['a', 'b', 'c', 'd', 'e'];

  it('wins with a majority of grants, loses once a majority is out of reach', () => {
    expect(tallyVotes(five, new Map([['a', true], ['b', true]]))).toBe('pending');
    expect(tallyVotes(five, new Map([['a', true], ['b', true], ['c', true]]))).toBe('won');
    expect(tallyVotes(five, new Map([['a', true], ['b', false], ['c', false]]))).toBe('pending');
    expect(tallyVotes(five, new Map([['a', true], ['b', false], ['c', false], ['d', false]]))).toBe('lost');
  });

  it('ignores votes from nodes outside the configuration', () => {
    const votes = new Map([['a', true], ['x', true], ['y', true]]);
    expect(tallyVotes(five, votes)).toBe('pending');
  });

  it('agrees with the definition for any set of votes (property)', () => {
    const vote = fc.constantFrom<boolean | undefined>(true, false, undefined);
    fc.assert(
      fc.property(voterSets.chain((voters) => fc.tuple(fc.constant(voters), fc.array(vote, { minLength: voters.length, maxLength: voters.length }))), ([voters, choices]) => {
        const votes = new Map<string, boolean>();
        voters.forEach((v, i) => {
          const choice = choices[i];
          if (choice !== undefined) votes.set(v, choice);
        });
        expect(tallyVotes(voters, votes)).toBe(naiveTally(voters, votes));
      }),
      { numRuns: 500 },
    );
  });
});
