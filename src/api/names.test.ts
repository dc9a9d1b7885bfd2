import { describe, expect, it } from 'vitest';
import { NodeNames } from './names.js';

/** A node whose voters and peer URLs the test changes, on a clock the test moves. */
function names() {
  const state = { voters: ['Node1', 'Node2'], urls: new Map([['Node2', 'http://127.0.0.2:8002']]), now: 0, voterReads: 0 };
  const node = {
    id: 'Node1',
    get voters() {
      state.voterReads++;
      return state.voters;
    },
    peerHttpUrl: (id: string) => state.urls.get(id) ?? null,
  };
  const nodeNames = new NodeNames({ node, scheme: 'http', publicUrls: [], bound: () => ({ host: '127.0.0.1', port: 8001 }) }, () => state.now);
  return { state, nodeNames };
}

describe('NodeNames (SPEC §7 Host and Origin checks)', () => {
  it('accepts this node and its members, and refuses other names', () => {
    const { nodeNames } = names();
    expect(nodeNames.hostAllowed('127.0.0.1:8001')).toBe(true);
    expect(nodeNames.hostAllowed('localhost:8001')).toBe(true);
    expect(nodeNames.hostAllowed('127.0.0.2:8002')).toBe(true);
    expect(nodeNames.hostAllowed('evil.example:8001')).toBe(false);
    expect(nodeNames.hostAllowed('not a host')).toBe(false);
    expect(nodeNames.memberOrigin('http://127.0.0.2:8002')).toBe(true);
    expect(nodeNames.ownOrigin('http://127.0.0.2:8002')).toBe(false);
    expect(nodeNames.ownOrigin('HTTP://LOCALHOST:8001')).toBe(true);
  });

  it('does not rebuild the member lists for every request', () => {
    const { state, nodeNames } = names();
    nodeNames.hostAllowed('127.0.0.1:8001');
    const reads = state.voterReads;
    for (let i = 0; i < 100; i++) expect(nodeNames.memberOrigin('http://127.0.0.2:8002')).toBe(true);
    expect(state.voterReads).toBe(reads);
  });

  it('accepts a member added a moment ago at once', () => {
    const { state, nodeNames } = names();
    expect(nodeNames.memberOrigin('http://127.0.0.3:8003')).toBe(false);
    state.voters = ['Node1', 'Node2', 'Node3'];
    state.urls.set('Node3', 'http://127.0.0.3:8003');
    expect(nodeNames.memberOrigin('http://127.0.0.3:8003')).toBe(true);
    expect(nodeNames.hostAllowed('127.0.0.3:8003')).toBe(true);
  });

  it('refuses a removed member within a second', () => {
    const { state, nodeNames } = names();
    expect(nodeNames.memberOrigin('http://127.0.0.2:8002')).toBe(true);
    state.voters = ['Node1'];
    state.now += 999;
    expect(nodeNames.memberOrigin('http://127.0.0.2:8002')).toBe(true);
    state.now += 1;
    expect(nodeNames.memberOrigin('http://127.0.0.2:8002')).toBe(false);
    expect(nodeNames.hostAllowed('127.0.0.2:8002')).toBe(false);
  });

  it('remembers a bounded number of Host headers, and still checks each one', () => {
    const { nodeNames } = names();
    for (let i = 0; i < 1000; i++) expect(nodeNames.hostAllowed(`h${i}.example:8001`)).toBe(false);
    expect(nodeNames.hostAllowed('127.0.0.1:8001')).toBe(true);
  });
});
