import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT, sleep, waitFor } from '../support/cluster.js';
import { httpTo, killHard, MAIN_JS, publishPort, startIn, type HostProcess } from './hosts-support.js';
import { HostNetwork, namespaceProblem, run } from './netns.js';

/**
 * The Docker course layout of docker-compose.yml (SPEC §4, §10 "Many hosts"), without Docker:
 * six hosts (Node1..Node5, Controller) as network namespaces on one bridge, names resolved
 * from per-namespace hosts files the way Docker's DNS resolves container names, every node
 * started with exactly the environment the compose file gives it. Nothing runs on loopback
 * between nodes: this is the test of advertised addresses, forwarding between hosts, the
 * public URL and the controller's allow list on a private range, and of the links when a
 * host's cable is pulled and plugged back (issue 18).
 */

const problem = namespaceProblem();
if (problem) console.log(`compose-netns: skipped, cannot create network namespaces here: ${problem}`);

/** Our private range; see `substitutions` for why the compose range is replaced. */
const PREFIX = '10.77.0';
const NODES = ['Node1', 'Node2', 'Node3', 'Node4', 'Node5'];
/** Docker publishes Node i's 8080 on the host's 808i; ours are in this test's port range. */
const PUBLISHED_BASE = 30080;
/** How long the host stays cut off, and the SLOs after the heal (issue 18). */
const CUT_MS = 30_000;
const CATCH_UP_SLO_MS = 1_000;
const STAY_CAUGHT_UP_MS = 5_000;

interface ComposeService {
  environment?: Record<string, string | number | boolean>;
  command?: string[];
  entrypoint?: string[];
  ports?: string[];
}
const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, ComposeService>; networks: { raft: { ipam: { config: Array<{ subnet: string }> } } } };
const COMPOSE_SUBNET = compose.networks.raft.ipam.config[0]?.subnet as string;
/** The image's own ENV lines (Dockerfile), which a container gets under the service's environment. */
const IMAGE_ENV = Object.fromEntries([...readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').matchAll(/\b(NODE_ENV|RAFTQUOTES_\w+)=(\S+)/g)].map((m) => [m[1] as string, m[2] as string]));

describe.skipIf(problem !== null)('five hosts in network namespaces, with the docker-compose.yml environment', () => {
  const hosts = new HostNetwork({ names: [...NODES, 'Controller'], prefix: PREFIX });
  const scratch = mkdtempSync(join(tmpdir(), 'rq-netns-'));
  const nodes = new Map<string, HostProcess>();
  const envs = new Map<string, NodeJS.ProcessEnv>();
  const unpublish: Array<() => Promise<void>> = [];
  let secretFile = '';
  const acknowledged = new Map<string, number>();
  let writerRunning = false;
  let writer: Promise<void> = Promise.resolve();
  const report: Record<string, unknown> = {};

  /** The volume `secret:/secret`, written by the compose file's own one-shot `secret` service script. */
  function runSecretService(): string {
    const volume = join(scratch, 'secret-volume');
    mkdirSync(volume, { mode: 0o755 });
    const script = (compose.services.secret?.entrypoint as string[])[2] as string;
    const r = spawnSync(process.execPath, ['-e', script.replaceAll('/secret/', `${volume}/`)], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`secret service failed: ${r.stderr}`);
    return join(volume, 'secret');
  }

  /**
   * A service's environment as the container gets it (image ENV, then the service's), with
   * the substitutions that having no Docker forces, and nothing else:
   *   - RAFTQUOTES_DATA_DIR /data: the named volume, here a directory per node;
   *   - RAFTQUOTES_CONTROLLER_ALLOW names the compose network 172.29.86.0/24, which Docker
   *     would have given these hosts; ours are on 10.77.0.0/24, so that one entry is
   *     replaced by our subnet (keeping loopback), to test the same rule on our range;
   *   - RAFTQUOTES_PUBLIC_URL names the published port 808i on the host; ours is 3008i,
   *     which this test publishes the same way (a forwarder on 127.0.0.1).
   */
  function environmentOf(name: string): NodeJS.ProcessEnv {
    const service = compose.services[name.toLowerCase()] as ComposeService;
    const env: Record<string, string> = { ...IMAGE_ENV };
    for (const [key, value] of Object.entries(service.environment ?? {})) env[key] = String(value);
    const dataDir = join(scratch, `${name}-data`);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    expect(env.RAFTQUOTES_DATA_DIR).toBe('/data');
    env.RAFTQUOTES_DATA_DIR = dataDir;
    expect(env.RAFTQUOTES_CONTROLLER_ALLOW).toContain(COMPOSE_SUBNET);
    env.RAFTQUOTES_CONTROLLER_ALLOW = (env.RAFTQUOTES_CONTROLLER_ALLOW as string).replace(COMPOSE_SUBNET, hosts.subnet);
    const published = /^http:\/\/127\.0\.0\.1:(\d+)$/.exec(env.RAFTQUOTES_PUBLIC_URL ?? '');
    expect(Number(published?.[1])).toBe(8080 + NODES.indexOf(name) + 1);
    env.RAFTQUOTES_PUBLIC_URL = `http://127.0.0.1:${PUBLISHED_BASE + NODES.indexOf(name) + 1}`;
    return { PATH: process.env.PATH, ...env };
  }

  function startNode(name: string): HostProcess {
    const command = compose.services[name.toLowerCase()]?.command as string[];
    expect(command).toEqual(['node', '--secret-file', '/secret/secret']);
    const proc = startIn(hosts, name, [process.execPath, MAIN_JS, 'node', '--secret-file', secretFile], envs.get(name) as NodeJS.ProcessEnv);
    nodes.set(name, proc);
    return proc;
  }

  const url = (name: string, path: string): string => `http://${name}:8080${path}`;
  const status = async (name: string, timeoutMs = 1_000): Promise<any> => (await httpTo(hosts, url(name, '/api/status'), 'GET', undefined, {}, timeoutMs)).body;

  async function leaderOf(among: string[]): Promise<string> {
    return waitFor(
      `a leader among ${among.join(',')}`,
      async () => {
        const seen = await Promise.all(among.map((n) => status(n).catch(() => null)));
        const leader = seen.find((s) => s?.state === 'leader')?.id as string | undefined;
        return leader && seen.filter((s) => s?.leader === leader).length >= 3 ? leader : null;
      },
      20_000,
      100,
    );
  }

  /** Keeps writing distinct keys through the nodes in turn; records what was acknowledged. */
  function startWriter(): void {
    writerRunning = true;
    let n = 0;
    const loop = async (lane: number): Promise<void> => {
      while (writerRunning) {
        const value = n++;
        const key = `w${lane}-${value}`;
        const via = NODES[value % NODES.length] as string;
        try {
          const answer = await httpTo(hosts, url(via, `/api/kv/${key}`), 'PUT', { value }, {}, 3_000);
          if (answer.status === 200) acknowledged.set(key, value);
          else await sleep(50);
        } catch {
          await sleep(50); // a node down or cut off: another one next time
        }
      }
    };
    writer = Promise.all([loop(1), loop(2)]).then(() => undefined);
  }

  beforeAll(async () => {
    hosts.setUp();
    secretFile = runSecretService();
    chmodSync(secretFile, 0o600);
    for (const name of NODES) envs.set(name, environmentOf(name));
    for (const [i, name] of NODES.entries()) unpublish.push(await publishPort(PUBLISHED_BASE + i + 1, hosts.host(name).address, 8080));
    for (const name of NODES) startNode(name);
    await leaderOf(NODES).catch((err: Error) => {
      throw new Error(`${err.message}\n${[...nodes.values()].map((p) => `--- ${p.name}\n${p.output.slice(-1500)}`).join('\n')}`);
    });
  }, 60_000);

  afterAll(async () => {
    writerRunning = false;
    await Promise.race([writer, sleep(5_000)]);
    for (const proc of nodes.values()) await killHard(proc);
    for (const close of unpublish) await close();
    const problems = hosts.tearDown();
    rmSync(scratch, { recursive: true, force: true });
    console.log(`compose-netns: ${JSON.stringify(report)}`);
    expect(problems).toEqual([]);
  }, 60_000);

  it('the course controller in the Controller host drives the cluster over UDP 5555 by name', () => {
    const r = spawnSync(hosts.exec('Controller')[0] as string, [...hosts.exec('Controller').slice(1), 'python3', join(REPO_ROOT, 'test/hosts/namespace_controller.py')], { encoding: 'utf8', timeout: 90_000 });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    expect(r.stderr).toBe('');
    const result = JSON.parse(line) as { ok: boolean; failure?: string };
    expect(result, line).toMatchObject({ ok: true });
    report.controller = result;
  }, 120_000);

  it('forwards between hosts, to the URL the leader advertised, and serves the board on its public URL', async () => {
    const leader = await leaderOf(NODES);
    const follower = NODES.find((n) => n !== leader) as string;
    const put = await httpTo(hosts, url(follower, '/api/kv/forwarded'), 'PUT', { value: 'across hosts' });
    expect(put.status).toBe(200);
    expect(put.headers['x-raft-leader']).toBe(leader);
    const members = await httpTo(hosts, url(follower, '/api/status'));
    expect(members.body.http).toBe(`http://${follower}:8080`);
    const read = await httpTo(hosts, url(follower, '/api/kv/forwarded'));
    expect(read.body).toMatchObject({ key: 'forwarded', value: 'across hosts' });
    // The board through the published port: Host and Origin are the public URL, which the node accepts.
    const i = NODES.indexOf(follower) + 1;
    const publicUrl = `http://127.0.0.1:${PUBLISHED_BASE + i}`;
    const page = await fetch(`${publicUrl}/`);
    expect(page.status).toBe(200);
    const post = await fetch(`${publicUrl}/api/quotes`, { method: 'POST', headers: { 'content-type': 'application/json', origin: publicUrl }, body: JSON.stringify({ text: 'Across hosts.', author: 'netns' }) });
    expect(post.status).toBe(201);
    expect(post.headers.get('access-control-allow-origin')).toBe(publicUrl);
    // Another member's page (its advertised URL) may call this node; a stranger's may not.
    const member = NODES.find((n) => n !== follower) as string;
    const cors = await httpTo(hosts, url(follower, '/api/status'), 'GET', undefined, { origin: `http://${member}:8080` });
    expect(cors.headers['access-control-allow-origin']).toBe(`http://${member}:8080`);
    const stranger = await httpTo(hosts, url(follower, '/api/status'), 'GET', undefined, { origin: 'http://evil.example:8080' });
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('answers the controller from the allowed private range only', () => {
    // Node1 and the Controller also get addresses in 192.168.77.0/24 on the same link: a
    // datagram from there reaches Node1 and could be answered, but is outside the allow list.
    run('ip', ['-n', hosts.host('Node1').ns, 'addr', 'add', '192.168.77.11/24', 'dev', 'eth0']);
    run('ip', ['-n', hosts.host('Controller').ns, 'addr', 'add', '192.168.77.20/24', 'dev', 'eth0']);
    const ask = (source: string, target: string): string => {
      const script = `import json,socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(("${source}",0))\ns.settimeout(1.5)\ns.sendto(json.dumps({"sender_name":"Controller","request":"LEADER_INFO","term":None,"key":None,"value":None}).encode(),("${target}",5555))\ntry:\n  print(s.recvfrom(2048)[0].decode())\nexcept socket.timeout:\n  print("no reply")`;
      return spawnSync('ip', ['netns', 'exec', hosts.host('Controller').ns, 'python3', '-c', script], { encoding: 'utf8', timeout: 10_000 }).stdout.trim();
    };
    expect(JSON.parse(ask(hosts.host('Controller').address, hosts.host('Node1').address))).toMatchObject({ request: 'LEADER_INFO', sender_name: 'Node1' });
    expect(ask('192.168.77.20', '192.168.77.11')).toBe('no reply');
  });

  it('survives kill -9 of the leader, with writes going on', async () => {
    startWriter();
    await sleep(1_000);
    const leader = await leaderOf(NODES);
    await killHard(nodes.get(leader) as HostProcess);
    const survivors = NODES.filter((n) => n !== leader);
    const started = Date.now();
    const next = await leaderOf(survivors);
    report.failoverMs = Date.now() - started;
    expect(next).not.toBe(leader);
    // Restarted from the same volume and environment (RAFTQUOTES_INIT on a live volume is harmless).
    startNode(leader);
    await waitFor(`${leader} back`, async () => (await status(leader).catch(() => null))?.leader ?? null, 20_000, 100);
  }, 60_000);

  it('a host cut off for 30 s catches up within 1 s of the heal and stays caught up', async () => {
    const leader = await leaderOf(NODES);
    const cut = NODES.find((n) => n !== leader) as string;
    hosts.cut(cut);
    await sleep(CUT_MS);
    const before = await status(leader);
    hosts.heal(cut);
    const healedAt = Date.now();
    const caughtUp = await waitFor(
      `${cut} caught up after the heal`,
      async () => {
        const s = await status(cut, 500).catch(() => null);
        return s && s.leader !== null && s.state === 'follower' && s.appliedIndex >= before.commitIndex ? Date.now() - healedAt : null;
      },
      60_000,
      25,
    );
    report.catchUpAfterCutMs = caughtUp;
    const drops: string[] = [];
    const watchUntil = Date.now() + STAY_CAUGHT_UP_MS;
    while (Date.now() < watchUntil) {
      const s = await status(cut, 500).catch((err: Error) => ({ error: err.message }));
      if (!s || s.error || s.leader === null || s.state !== 'follower') drops.push(JSON.stringify({ at: Date.now() - healedAt, leader: s?.leader, state: s?.state, error: s?.error }));
      await sleep(100);
    }
    expect(drops, `${cut} lost the leader after the heal`).toEqual([]);
    expect(caughtUp, `${cut} caught up ${caughtUp} ms after the heal`).toBeLessThanOrEqual(CATCH_UP_SLO_MS);
  }, 120_000);

  it('lost no acknowledged write', async () => {
    writerRunning = false;
    await writer;
    const leader = await leaderOf(NODES);
    expect(acknowledged.size).toBeGreaterThan(50);
    report.acknowledgedWrites = acknowledged.size;
    const missing: string[] = [];
    const keys = [...acknowledged.entries()];
    for (let i = 0; i < keys.length; i += 16) {
      const batch = keys.slice(i, i + 16);
      const answers = await Promise.all(batch.map(([key]) => httpTo(hosts, url(leader, `/api/kv/${key}`), 'GET', undefined, {}, 5_000)));
      answers.forEach((a, j) => {
        const [key, value] = batch[j] as [string, number];
        if (a.status !== 200 || a.body.value !== value) missing.push(`${key}: ${a.status} ${JSON.stringify(a.body)}`);
      });
    }
    expect(missing).toEqual([]);
  }, 120_000);
});
