import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeConfiguration, encodeConfiguration, type Entry } from '@raftquotes/raft';
import { forceNewCluster } from './force-new-cluster.js';
import { openNodeDatabase } from './sqlite-storage.js';

const five = { voters: ['Node1', 'Node2', 'Node3', 'Node4', 'Node5'].map((id, i) => ({ id, raft: `10.0.0.${i + 1}:7000`, http: `http://10.0.0.${i + 1}:8080` })), learners: [], outgoing: null };
const self = { id: 'Node2', raft: '127.0.0.1:7002', http: 'http://127.0.0.1:8082' };

describe('forceNewCluster (SPEC §10, --force-new-cluster)', () => {
  const dirs: string[] = [];
  const open = () => {
    const dir = mkdtempSync(join(tmpdir(), 'rq-force-'));
    dirs.push(dir);
    return openNodeDatabase(dir, { clusterId: 'c', nodeId: 'Node2' }, { init: true });
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('appends a one-voter configuration after the whole log, keeping the uncommitted tail, durably', () => {
    const { storage } = open();
    const entries: Entry[] = [
      { index: 1, term: 1, type: 'config', data: encodeConfiguration(five) },
      { index: 2, term: 1, type: 'normal', data: '{"op":"put"}' },
      { index: 3, term: 2, type: 'normal', data: '{"op":"put"}' },
    ];
    storage.persist({ hardState: { term: 3, vote: 'Node1', commit: 2 }, snapshot: null, entries });
    const result = forceNewCluster(storage, self);
    expect(result).toMatchObject({ rewritten: true, index: 4, term: 3, previousVoters: five.voters.map((m) => m.id), uncommittedKept: 1 });
    // The stored address of this node wins over the flags' (other members dial what the log says).
    expect(result.configuration.voters).toEqual([five.voters[1]]);
    const after = storage.recover();
    expect(after.entries.map((e) => [e.index, e.term, e.type])).toEqual([[1, 1, 'config'], [2, 1, 'normal'], [3, 2, 'normal'], [4, 3, 'config']]);
    expect(decodeConfiguration(after.entries[3]?.data)).toEqual(result.configuration);
    expect(after.hardState).toEqual({ term: 3, vote: 'Node1', commit: 2 });
    // A second start with the flag finds a one-voter cluster of itself: nothing is written.
    expect(forceNewCluster(storage, self)).toMatchObject({ rewritten: false, index: 4 });
    expect(storage.recover().entries).toHaveLength(4);
    storage.close();
  });

  it('uses the flags for a node whose configuration was only the --peers seed', () => {
    const { storage } = open();
    storage.persist({ hardState: { term: 1, vote: null, commit: 1 }, snapshot: null, entries: [{ index: 1, term: 1, type: 'noop', data: '' }] });
    const result = forceNewCluster(storage, self);
    expect(result).toMatchObject({ rewritten: true, index: 2, term: 1, previousVoters: [], uncommittedKept: 0 });
    expect(result.configuration).toEqual({ voters: [self], learners: [], outgoing: null });
    storage.close();
  });

  it('refuses a data dir with no log, snapshot or term', () => {
    const { storage } = open();
    expect(() => forceNewCluster(storage, self)).toThrow(/holds no Raft log, snapshot or term; there is nothing to recover from/);
    storage.close();
  });
});
