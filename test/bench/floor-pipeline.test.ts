import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FloorSystem } from '../../bench/floor-pipeline.js';

/**
 * The floor pipeline's numbers stand in the README as the least work a replicated write needs:
 * that only holds if it really replicates, commits on a majority and reads linearizably. Five
 * real processes per floor, on ports 13400-13431.
 */
async function call(system: FloorSystem, node: number, method: 'GET' | 'PUT', key: string, value?: string): Promise<{ status: number; body: any }> {
  const { port } = system.target(node);
  const res = await fetch(`http://127.0.0.1:${port}/v1/kv/${encodeURIComponent(key)}`, { method, body: value === undefined ? undefined : JSON.stringify({ value }), signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

for (const [storage, ports] of [['spec', { http: 13400, peer: 13410 }], ['file', { http: 13420, peer: 13430 }]] as const) {
  describe(`floor pipeline (${storage})`, () => {
    const system = new FloorSystem(storage, ports);
    beforeAll(() => system.start(), 60_000);
    afterAll(() => system.stop());

    it('answers a write on any node with its log index, and a read on any node sees every write answered before it', async () => {
      const indexes: number[] = [];
      for (let i = 0; i < 20; i++) {
        const write = await call(system, i % 5, 'PUT', `k${i % 3}`, `v${i}`);
        expect(write.status).toBe(200);
        indexes.push(write.body.index);
        // Read-your-writes from another node: linearizable, so never an older value.
        const read = await call(system, (i + 2) % 5, 'GET', `k${i % 3}`);
        expect(read).toEqual({ status: 200, body: { key: `k${i % 3}`, value: `v${i}` } });
      }
      expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
      expect(new Set(indexes).size).toBe(indexes.length);
    });

    it('commits concurrent writes from every node in one order, and refuses what is not a PUT of a JSON string', async () => {
      const writes = await Promise.all(Array.from({ length: 50 }, (_, i) => call(system, i % 5, 'PUT', `c${i}`, `x${i}`)));
      expect(writes.every((w) => w.status === 200)).toBe(true);
      expect(new Set(writes.map((w) => w.body.index)).size).toBe(50);
      const reads = await Promise.all(Array.from({ length: 50 }, (_, i) => call(system, (i + 1) % 5, 'GET', `c${i}`)));
      expect(reads.map((r) => r.body.value)).toEqual(Array.from({ length: 50 }, (_, i) => `x${i}`));
      expect((await call(system, 0, 'GET', 'missing')).status).toBe(404);
      const { port } = system.target(1);
      expect((await fetch(`http://127.0.0.1:${port}/v1/kv/a`, { method: 'PUT', body: '{"value":1}' })).status).toBe(400);
    });
  });
}
