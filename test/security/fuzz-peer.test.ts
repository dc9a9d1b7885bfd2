import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_TERM } from '@raftquotes/raft';
import { BULK_FRAME_MARKER, encodeFrame, MAX_FRAME_BYTES } from '../../src/transport/frame-codec.js';
import { http, TestCluster, waitFor, isAlive } from '../support/cluster.js';
import { openRawPeerSocket, rawFrame, type ForgerPeerOptions } from '../support/forger-peer.js';
import { forgeHostile, MESSAGE_TYPES, viewOf } from '../support/hostile-messages.js';

/**
 * Issue 15: random and mutated peer frames on authenticated connections. A dialer that holds
 * the secret passes the handshake as a member, then writes: random bytes, valid frame headers
 * with garbage payloads, valid msgpack of the wrong shape, message-shaped objects with random
 * fields, hostile messages, bulk frames (raw snapshot chunks) with any header, headers
 * announcing huge or empty frames, and all of these split
 * at random points or several in one write. Afterwards no node has exited, the cluster elects
 * a leader, and writes and linearizable reads work through every node. Seeded.
 * Ports 28300-28599 (HTTP 28300+i, Raft 28400+i, controller 28500+i).
 */
const PORTS = { httpBase: 28300, raftBase: 28400, controllerBase: 28500 };
const SEED = 15_016;
/** How long each connection stays open after its bytes were written. */
const LINGER_MS = 60;

/** The msgpack payload of a value, as the transport encodes it (without the frame header). */
function payloadOf(value: unknown): Buffer {
  return encodeFrame(value).subarray(4);
}

describe('fuzz: random and mutated peer frames after a valid handshake', () => {
  let cluster: TestCluster;
  let clusterId: string;
  let secret: string;
  const ids = (): string[] => cluster.nodes.map((n) => n.id);

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, ...PORTS, nodeArgs: ['--rate-limit', '0'] });
    clusterId = (JSON.parse(readFileSync(join(cluster.dataDir, 'cluster.json'), 'utf8')) as { clusterId: string }).clusterId;
    secret = readFileSync(join(cluster.dataDir, 'secret'), 'utf8').trim();
    await cluster.waitForLeader();
  }, 60_000);
  afterAll(() => cluster?.stop());

  const peerOptions = (as: string, target: string): ForgerPeerOptions => {
    const [host, port] = cluster.node(target).raft.split(':') as [string, string];
    return { as, target, address: { host, port: Number(port) }, clusterId, secret, http: cluster.node(as).http };
  };

  it('survives random bytes, garbage frames, wrong shapes, huge lengths and hostile messages from every member identity', async () => {
    const members = ids();
    const pairs = members.flatMap((as) => members.filter((t) => t !== as).map((target) => [as, target] as const));
    // A term no correct member would use now: a past one, or one above MAX_TERM.
    const hostileTerm = fc.oneof(fc.constant(1), fc.integer({ min: MAX_TERM + 1, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom(0, -1, 0.5, 2 ** 53, NaN, '1', null));
    /** A piece of the stream: `sealed` payloads get the session's frame MAC (they reach the decoder and the checks), `raw` bytes do not (the MAC layer refuses them). */
    type Piece = { sealed: Buffer } | { raw: Buffer };
    const frames = (as: string, target: string): fc.Arbitrary<Piece> =>
      fc.oneof(
        // Bytes with no framing at all: the first four become a length.
        fc.uint8Array({ minLength: 1, maxLength: 600 }).map((b) => ({ raw: Buffer.from(b) })),
        // A valid header around a payload but no MAC.
        fc.uint8Array({ minLength: 1, maxLength: 600 }).map((b) => ({ raw: rawFrame(Buffer.from(b)) })),
        // A sealed payload that is not msgpack (or is, by chance, something odd).
        fc.uint8Array({ minLength: 1, maxLength: 600 }).map((b) => ({ sealed: Buffer.from(b) })),
        // Valid msgpack of any shape, sealed.
        fc.anything({ maxDepth: 3 }).map((v) => ({ sealed: payloadOf(v) })),
        // Message-shaped: right addressing, a random type, random fields, a hostile term; sealed.
        fc.record({ type: fc.oneof(fc.constantFrom(...MESSAGE_TYPES), fc.string({ maxLength: 12 })), term: hostileTerm, fields: fc.dictionary(fc.string({ maxLength: 12 }), fc.anything({ maxDepth: 2 }), { maxKeys: 8 }) })
          .map(({ type, term, fields }) => ({ sealed: payloadOf({ ...fields, type, from: as, to: target, term }) })),
        // Bulk frames (raw snapshot chunks): a marker, a declared header length (true or not), a
        // header of any shape or an InstallSnapshot with hostile fields, and a random body; sealed.
        fc.record({ declared: fc.option(fc.nat({ max: 70_000 }), { nil: undefined }), header: fc.oneof(fc.anything({ maxDepth: 2 }), fc.record({ type: fc.constant('InstallSnapshot'), term: hostileTerm, fields: fc.dictionary(fc.constantFrom('meta', 'offset', 'done', 'chunk', 'x'), fc.anything({ maxDepth: 2 }), { maxKeys: 4 }) }).map(({ term, fields }) => ({ ...fields, type: 'InstallSnapshot', from: as, to: target, term }))), body: fc.uint8Array({ maxLength: 600 }) })
          .map(({ declared, header, body }) => {
            const packed = payloadOf(header);
            const prefix = Buffer.from([BULK_FRAME_MARKER, 0, 0, 0, 0]);
            prefix.writeUInt32BE(declared ?? packed.length, 1);
            return { sealed: Buffer.concat([prefix, packed, Buffer.from(body)]) };
          }),
        // Headers announcing a frame that is empty, over the limit, or huge and never sent.
        fc.constantFrom(0, MAX_FRAME_BYTES + 1, 0xffff_ffff, MAX_FRAME_BYTES, 1 << 20).map((length) => {
          const header = Buffer.alloc(4);
          header.writeUInt32BE(length >>> 0, 0);
          return { raw: Buffer.concat([header, Buffer.from('partial')]) };
        }),
      );
    let connections = 0;
    let bytes = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...pairs).chain(([as, target]) =>
          fc.record({
            as: fc.constant(as),
            target: fc.constant(target),
            chunks: fc.array(frames(as, target), { minLength: 1, maxLength: 4 }),
            hostile: fc.gen(),
            splitAt: fc.array(fc.nat(), { maxLength: 3 }),
          }),
        ),
        async ({ as, target, chunks, hostile, splitAt }) => {
          // Hostile but well-formed messages first (they keep the connection open), then the fuzz.
          const choose = { int: (n: number): number => (n <= 1 ? 0 : hostile(fc.integer, { min: 0, max: n - 1 })) };
          const view = viewOf(await cluster.status(target));
          if (!view) throw new Error(`${target} gave no status`);
          const well: Piece[] = Array.from({ length: 3 }, () => ({ sealed: payloadOf(forgeHostile(choose, view, as, members, { keepConnection: true }).message) }));
          const { socket, closed, seal } = await openRawPeerSocket(peerOptions(as, target));
          // Sealed in writing order: the per-frame MAC counts frames.
          const data = Buffer.concat([...well, ...chunks].map((piece) => ('sealed' in piece ? seal(piece.sealed) : piece.raw)));
          connections++;
          bytes += data.length;
          // Written in pieces cut at random points, so frames also arrive split.
          const cuts = [...new Set(splitAt.map((n) => n % data.length))].sort((a, b) => a - b);
          let from = 0;
          for (const cut of [...cuts, data.length]) {
            if (cut > from) socket.write(data.subarray(from, cut));
            from = cut;
          }
          await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, LINGER_MS))]);
          socket.destroy();
          expect(isAlive(cluster.node(target).pid), `${target} exited:\n${cluster.output.slice(-3000)}`).toBe(true);
        },
      ),
      { numRuns: 150, seed: SEED },
    );
    console.log(`peer fuzz: ${connections} authenticated connections, ${bytes} bytes written`);

    for (const node of cluster.nodes) expect(isAlive(node.pid), `${node.id} (pid ${node.pid}) exited:\n${cluster.output.slice(-3000)}`).toBe(true);
    const protocolErrors = cluster.output.split('\n').filter((line) => line.includes('closing connection from')).length;
    expect(protocolErrors, 'nodes log the connections they close').toBeGreaterThan(0);
    // And the well-formed part got past the transport to the core, which refused it.
    let rejected = 0;
    for (const id of members) {
      const text = (await http('GET', `${cluster.node(id).http}/metrics`)).body as string;
      for (const match of text.matchAll(/^raft_rejected_messages_total\{[^}]*\} (\d+)$/gm)) rejected += Number(match[1]);
    }
    console.log(`peer fuzz: ${protocolErrors} protocol-error lines logged, ${rejected} messages rejected by the core`);
    expect(rejected).toBeGreaterThan(0);
    expect(await cluster.waitForLeader(members, 20_000)).toMatch(/^Node/);
    // Each connection replaced a member's own link for a moment; let them all come back.
    await waitFor('every peer link up', async () => {
      const statuses = (await Promise.all(members.map((id) => cluster.status(id)))) as Array<{ id: string; peers: Record<string, { connected: boolean }> }>;
      return statuses.every((st) => members.every((p) => p === st.id || st.peers[p]?.connected === true)) || undefined;
    }, 10_000, 50);
    for (const [i, id] of members.entries()) {
      const put = await waitFor(`a write through ${id}`, async () => {
        const res = await http('PUT', `${cluster.node(id).http}/api/kv/after-peer-fuzz-${i}`, { value: i });
        return res.status === 200 ? res : undefined;
      }, 15_000, 200);
      expect(put.body.index).toBeGreaterThan(0);
      for (const reader of members) {
        const got = await http('GET', `${cluster.node(reader).http}/api/kv/after-peer-fuzz-${i}`);
        expect(got.status, `${reader} reads after-peer-fuzz-${i}`).toBe(200);
        expect(got.body.value).toBe(i);
      }
    }
  }, 180_000);
});

