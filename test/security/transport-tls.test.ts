import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, makeNodeCert, type CertPair } from '../../src/cli/certs.js';
import { sleep, waitFor } from '../support/cluster.js';
import { RawPeer } from '../support/raw-peer.js';
import { CLUSTER_ID, ProcCluster, writeBenchmark } from './transport-procs.js';

/**
 * Mutual TLS between peers (SPEC §7) on real processes: a cluster over TLS serves writes,
 * survives kill -9 of the leader, refuses plaintext, foreign-CA and misnamed certificates
 * (logged with "refused"), and reloads certificates on SIGHUP. Then the cost of TLS against
 * the shared secret on a write benchmark. Ports 23300-23899.
 */

const TEST_TIMEOUT_MS = 180_000;
const dir = mkdtempSync(join(tmpdir(), 'rq-transport-tls-'));
const ca = makeCa();
const IDS = ['Node1', 'Node2', 'Node3'];

function writePair(name: string, pair: CertPair): { cert: string; key: string } {
  const paths = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  writeFileSync(paths.cert, pair.cert);
  writeFileSync(paths.key, pair.key, { mode: 0o600 });
  return paths;
}

const caPath = join(dir, 'ca.crt');
writeFileSync(caPath, ca.cert);
const nodeFiles = Object.fromEntries(IDS.map((id) => [id, writePair(id, makeNodeCert(ca, id, ['127.0.0.1', 'localhost']))]));
const tlsFlags = (id: string): string[] => ['--tls-cert', (nodeFiles[id] as { cert: string }).cert, '--tls-key', (nodeFiles[id] as { key: string }).key, '--tls-ca', caPath];

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('peer transport over mutual TLS (real processes)', () => {
  const cluster = new ProcCluster({ basePort: 23300, flagsFor: tlsFlags, env: {} });

  beforeAll(async () => {
    await cluster.startAll();
    await cluster.waitForLeader();
  }, TEST_TIMEOUT_MS);
  afterAll(() => cluster.stop());

  it('serves writes and survives kill -9 of the leader', async () => {
    const leader = await cluster.waitForLeader();
    expect(await cluster.put(leader, 'tls-1', 'a')).toBe(200);
    await cluster.kill9(leader);
    const next = await cluster.waitForLeader(cluster.live(), 20_000);
    expect(next).not.toBe(leader);
    expect(await cluster.put(next, 'tls-2', 'b')).toBe(200);
    cluster.spawn(cluster.node(leader));
    await cluster.waitHealthy(cluster.node(leader));
    expect(cluster.exited()).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('refuses a plaintext peer, a certificate of another CA and a certificate that does not name the claimed id, and logs each with "refused"', async () => {
    const target = cluster.node('Node1');
    const plain = await RawPeer.connect(target.raftPort);
    plain.sendHello({ clusterId: CLUSTER_ID, from: 'Node2', to: 'Node1', mode: 'tls' });
    expect(await plain.waitClosed()).toBe(true);
    await waitFor('plaintext refusal logged', () => /refused peer connection .*TLS handshake failed/.test(target.log), 10_000);

    const foreign = makeNodeCert(makeCa('evil CA'), 'Node2', ['127.0.0.1']);
    const other = await RawPeer.connect(target.raftPort, { cert: foreign.cert, key: foreign.key, ca: ca.cert, checkServerIdentity: () => undefined });
    if (!other.isClosed) other.sendHello({ clusterId: CLUSTER_ID, from: 'Node2', to: 'Node1', mode: 'tls' });
    expect(await other.waitClosed()).toBe(true);
    await waitFor('foreign CA refusal logged', () => /refused peer connection .*not signed by the cluster CA/.test(target.log), 10_000);

    const misnamed = makeNodeCert(ca, 'Node3', ['127.0.0.1']);
    const liar = await RawPeer.connect(target.raftPort, { cert: misnamed.cert, key: misnamed.key, ca: ca.cert, checkServerIdentity: () => undefined });
    liar.sendHello({ clusterId: CLUSTER_ID, from: 'Node2', to: 'Node1', mode: 'tls' });
    expect(await liar.next(0)).toEqual({ kind: 'refused' });
    await waitFor('misnamed refusal logged', () => /refused peer connection .*claims to be \\"Node2\\" but its certificate names/.test(target.log), 10_000);
    expect(cluster.exited()).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('SIGHUP reloads new certificates from the same CA; the cluster keeps working, also across a restart of a peer', async () => {
    for (const id of IDS) {
      const renewed = makeNodeCert(ca, id, ['127.0.0.1', 'localhost']);
      writeFileSync((nodeFiles[id] as { cert: string }).cert, renewed.cert);
      writeFileSync((nodeFiles[id] as { key: string }).key, renewed.key);
      cluster.node(id).child?.kill('SIGHUP');
    }
    await waitFor('reloads logged', () => IDS.every((id) => /SIGHUP: reloaded peer TLS certificates/.test(cluster.node(id).log)), 10_000);
    // New connections use the new certificates: restart one node so every link to it is redialed.
    const leader = await cluster.waitForLeader();
    const follower = IDS.find((id) => id !== leader) as string;
    await cluster.kill9(follower);
    cluster.spawn(cluster.node(follower));
    await cluster.waitHealthy(cluster.node(follower));
    expect(await cluster.put(leader, 'after-reload', 'ok')).toBe(200);
    const { commitIndex } = await cluster.status(leader);
    await waitFor('restarted follower caught up', async () => ((await cluster.status(follower).catch(() => null))?.appliedIndex ?? 0) >= commitIndex, 15_000);
    // A broken file on SIGHUP keeps the old certificates.
    writeFileSync((nodeFiles.Node1 as { cert: string }).cert, 'garbage');
    cluster.node('Node1').child?.kill('SIGHUP');
    await waitFor('bad reload logged', () => /SIGHUP: could not reload peer TLS certificates, keeping the current one/.test(cluster.node('Node1').log), 10_000);
    expect(await cluster.put(await cluster.waitForLeader(), 'after-bad-reload', 'ok')).toBe(200);
    expect(cluster.exited()).toEqual([]);
  }, TEST_TIMEOUT_MS);
});

/** Fresh certificate files for the benchmark cluster (the SIGHUP test broke Node1's). */
function benchTlsFlags(id: string): string[] {
  const files = writePair(`${id}-bench`, makeNodeCert(ca, id, ['127.0.0.1']));
  return ['--tls-cert', files.cert, '--tls-key', files.key, '--tls-ca', caPath];
}

describe('cost of TLS against the shared secret', () => {
  it('64 concurrent PUT clients for 10 s against the leader, both modes', async () => {
    const results: Record<string, { opsPerSecond: number; failures: number }> = {};
    for (const [mode, base, flags, env] of [
      ['secret', 23600, () => [], undefined],
      ['tls', 23700, benchTlsFlags, {}],
    ] as const) {
      const cluster = new ProcCluster({ basePort: base, flagsFor: flags as (id: string) => string[], env: env as NodeJS.ProcessEnv | undefined });
      try {
        await cluster.startAll();
        const leader = await cluster.waitForLeader();
        await sleep(500);
        results[mode] = await writeBenchmark(cluster.node(leader).http, 64, 10_000);
      } finally {
        await cluster.stop();
      }
    }
    console.log(`write benchmark (3 nodes, 64 clients, 10 s): secret ${JSON.stringify(results.secret)}, tls ${JSON.stringify(results.tls)}`);
    expect(results.secret?.opsPerSecond).toBeGreaterThan(0);
    expect(results.tls?.opsPerSecond).toBeGreaterThan(0);
  }, TEST_TIMEOUT_MS);
});
