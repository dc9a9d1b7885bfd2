import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, TestCluster } from '../support/cluster.js';

/**
 * Issue 15 finding 11, as the attack: a secret or token passed to `cluster` must not be
 * readable by other local users through `ps` (/proc/<pid>/cmdline), cluster.json or the logs,
 * and the files holding it are the owner's only. Ports 25100-25129.
 */
const SECRET = `s3cret-${'x'.repeat(24)}-peer`;
const TOKEN = `t0ken-${'y'.repeat(24)}-admin`;

describe('secrets stay out of argv, cluster.json and logs (finding 11)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start({ nodes: 3, httpBase: 25100, raftBase: 25110, controllerBase: 25120, env: { RAFTQUOTES_SECRET: SECRET, RAFTQUOTES_ADMIN_TOKEN: TOKEN } });
    await cluster.waitForLeader();
  }, 60_000);
  afterAll(async () => cluster?.stop());

  it('no node command line (what ps shows) holds the secret or the token', () => {
    for (const node of cluster.nodes) {
      const cmdline = readFileSync(`/proc/${node.pid}/cmdline`, 'utf8').split('\0');
      expect(cmdline).toContain('--secret-file');
      expect(cmdline.join(' '), node.id).not.toContain(SECRET);
      expect(cmdline.join(' '), node.id).not.toContain(TOKEN);
      expect(cmdline, node.id).not.toContain('--init'); // cluster's first start initializes the data dirs itself (SPEC §5)
      expect(node.argv, node.id).not.toContain('--init'); // so a restart from cluster.json never makes a new node
    }
  });

  it('nodes get the admin token through their environment, and no copy of the secret there', async () => {
    for (const node of cluster.nodes) {
      const environ = readFileSync(`/proc/${node.pid}/environ`, 'utf8').split('\0');
      expect(environ, node.id).toContain(`RAFTQUOTES_ADMIN_TOKEN=${TOKEN}`);
      expect(environ.some((e) => e.startsWith('RAFTQUOTES_SECRET=')), node.id).toBe(false);
      expect(statSync(`/proc/${node.pid}/environ`).mode & 0o077, 'only the owner can read a process environment').toBe(0);
    }
  });

  it('cluster.json holds neither value; the secret is in <data-dir>/secret, mode 0600, in a 0700 data dir', () => {
    const text = readFileSync(join(cluster.dataDir, 'cluster.json'), 'utf8');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(TOKEN);
    expect(readFileSync(join(cluster.dataDir, 'secret'), 'utf8').trim()).toBe(SECRET);
    expect(statSync(join(cluster.dataDir, 'secret')).mode & 0o777).toBe(0o600);
    expect(statSync(cluster.dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(cluster.dataDir, 'cluster.json')).mode & 0o022, 'nobody else may write cluster.json').toBe(0);
    for (const node of cluster.nodes) expect(statSync(node.dataDir.startsWith('/') ? node.dataDir : join(cluster.dataDir, node.id)).mode & 0o777, node.id).toBe(0o700);
  });

  it('no file in the data dir that others can read holds either value', () => {
    const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
    for (const file of walk(cluster.dataDir)) {
      if ((statSync(file).mode & 0o044) === 0) continue;
      const bytes = readFileSync(file);
      expect(bytes.includes(SECRET), file).toBe(false);
      expect(bytes.includes(TOKEN), file).toBe(false);
    }
  });

  it('the logs never print either value, even after admin requests with the token and forwards', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((n) => n.id !== leader) as { http: string };
    const auth = { authorization: `Bearer ${TOKEN}` };
    await http('POST', `${follower.http}/api/quotes`, { text: 'Secrets stay secret.', author: 'test' }, auth);
    await http('POST', `${follower.http}/api/admin/step-down`, {}, auth);
    await http('POST', `${follower.http}/api/admin/step-down`, {}, { authorization: 'Bearer wrong-token-wrong-token' });
    await cluster.waitForLeader();
    expect(cluster.output).toContain('up: http=');
    expect(cluster.output).not.toContain(SECRET);
    expect(cluster.output).not.toContain(TOKEN);
  });
});
