import { describe, expect, it } from 'vitest';
import { ConfigHistory, type Configuration, type Member } from './configuration.js';

const member = (id: string): Member => ({ id, raft: `10.0.0.1:${id}`, http: `http://${id}` });

describe('ConfigHistory.knownMembers', () => {
  it('names the members of every configuration held, not only the latest (a truncatable leftover)', () => {
    // Committed: Node1..Node3 voters, Node4 learner. Then an old leader appended a change that
    // demotes Node2 and removes Node4; a new leader elected by Node2 will truncate it, so the
    // node must still accept Node2 and Node4 (sim seed 371 deadlocked when its transport refused Node2).
    const base: Configuration = { voters: ['Node1', 'Node2', 'Node3'].map(member), learners: [member('Node4')], outgoing: null };
    const history = new ConfigHistory(10, 2, base);
    history.push(12, 3, { voters: ['Node1', 'Node3'].map(member), learners: [], outgoing: null });
    expect(history.latest().config.voters.map((m) => m.id)).toEqual(['Node1', 'Node3']);
    expect(history.knownMembers().map((m) => m.id).sort()).toEqual(['Node1', 'Node2', 'Node3', 'Node4']);
    expect(history.knownMembers().find((m) => m.id === 'Node2')?.raft).toBe('10.0.0.1:Node2');
    // Once compacted past the change, the earlier configuration (and Node2, Node4) is forgotten.
    history.compactTo(12);
    expect(history.knownMembers().map((m) => m.id).sort()).toEqual(['Node1', 'Node3']);
  });
});
