import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Hosts on one machine: Linux network namespaces on one bridge, each with a veth pair and a
 * private address, and names resolved the way Docker's embedded DNS resolves container
 * names. `ip netns exec NS cmd` bind-mounts /etc/netns/NS/hosts over /etc/hosts for `cmd`,
 * so a hosts file per namespace gives every process in it the same name → address map.
 *
 * Everything is named with a per-run tag (namespaces `rqns-<tag>-<host>`, bridge and veths
 * `rq<tag>...`), so two runs never touch each other's devices; teardown removes exactly
 * what setup made, and is safe to call after a partial setup.
 */

/** Why namespaces cannot be used here, or null when they can. */
export function namespaceProblem(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (network namespaces need CAP_NET_ADMIN)';
  const probe = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return 'no `ip` command (iproute2)';
  return null;
}

export interface NamespaceHost {
  /** The host name other hosts use (Node1, Controller). */
  name: string;
  /** The namespace it lives in. */
  ns: string;
  address: string;
  /** The veth end inside the namespace (named eth0 there, like a container). */
  insideIf: string;
  /** The veth end attached to the bridge, in the root namespace. */
  bridgeIf: string;
}

export interface HostNetworkOptions {
  /** Host names, e.g. Node1..Node5 and Controller. */
  names: string[];
  /** The /24 prefix, e.g. "10.77.0": hosts get .11, .12, ...; the bridge gets .1. */
  prefix: string;
}

/** Runs `ip` (or another command) and throws with its stderr on failure. */
export function run(command: string, args: string[], timeoutMs = 10_000): string {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error || r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout;
}

/** Like run(), for teardown: failures are collected, not thrown. */
function tryRun(command: string, args: string[], problems: string[]): void {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) problems.push(`${command} ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
}

/** A bridge, one namespace per host with a veth pair, addresses and hosts files. */
export class HostNetwork {
  readonly tag: string;
  readonly bridge: string;
  readonly hosts: NamespaceHost[];
  readonly subnet: string;
  readonly bridgeAddress: string;
  private readonly made = { bridge: false, namespaces: [] as string[], netnsDirs: [] as string[] };

  constructor(options: HostNetworkOptions) {
    // 4 base-36 characters: interface names must fit IFNAMSIZ (15), e.g. "rqab12v6".
    this.tag = (process.pid % 36 ** 2).toString(36).padStart(2, '0') + Math.floor(Math.random() * 36 ** 2).toString(36).padStart(2, '0');
    this.bridge = `rq${this.tag}br`;
    this.subnet = `${options.prefix}.0/24`;
    this.bridgeAddress = `${options.prefix}.1`;
    this.hosts = options.names.map((name, i) => ({ name, ns: `rqns-${this.tag}-${name}`, address: `${options.prefix}.${11 + i}`, insideIf: 'eth0', bridgeIf: `rq${this.tag}v${i}` }));
  }

  host(name: string): NamespaceHost {
    const host = this.hosts.find((h) => h.name === name);
    if (!host) throw new Error(`no host ${name}`);
    return host;
  }

  /** Creates everything; on failure, removes what it made and rethrows. */
  setUp(): void {
    try {
      run('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
      this.made.bridge = true;
      // The test process (root namespace) reaches the hosts through the bridge's address.
      run('ip', ['addr', 'add', `${this.bridgeAddress}/24`, 'dev', this.bridge]);
      run('ip', ['link', 'set', this.bridge, 'up']);
      for (const [i, host] of this.hosts.entries()) this.addHost(host, i);
      this.writeHostsFiles();
    } catch (err) {
      this.tearDown();
      throw err;
    }
  }

  private addHost(host: NamespaceHost, i: number): void {
    run('ip', ['netns', 'add', host.ns]);
    this.made.namespaces.push(host.ns);
    const temp = `rq${this.tag}n${i}`;
    run('ip', ['link', 'add', host.bridgeIf, 'type', 'veth', 'peer', 'name', temp]);
    run('ip', ['link', 'set', temp, 'netns', host.ns]);
    run('ip', ['-n', host.ns, 'link', 'set', temp, 'name', host.insideIf]);
    run('ip', ['link', 'set', host.bridgeIf, 'master', this.bridge]);
    run('ip', ['link', 'set', host.bridgeIf, 'up']);
    run('ip', ['-n', host.ns, 'addr', 'add', `${host.address}/24`, 'dev', host.insideIf]);
    run('ip', ['-n', host.ns, 'link', 'set', host.insideIf, 'up']);
    run('ip', ['-n', host.ns, 'link', 'set', 'lo', 'up']);
  }

  /** /etc/netns/<ns>/hosts: every host by name, as Docker's DNS answers on a user network. */
  private writeHostsFiles(): void {
    const lines = ['127.0.0.1 localhost', '::1 localhost', ...this.hosts.map((h) => `${h.address} ${h.name}`)].join('\n');
    for (const host of this.hosts) {
      const dir = join('/etc/netns', host.ns);
      mkdirSync(dir, { recursive: true });
      this.made.netnsDirs.push(dir);
      writeFileSync(join(dir, 'hosts'), `${lines}\n`);
    }
  }

  /** Cuts a host off the bridge: its own end of the veth goes down (the cable is pulled). */
  cut(name: string): void {
    const host = this.host(name);
    run('ip', ['-n', host.ns, 'link', 'set', host.insideIf, 'down']);
  }

  heal(name: string): void {
    const host = this.host(name);
    run('ip', ['-n', host.ns, 'link', 'set', host.insideIf, 'up']);
  }

  /** The argv prefix that runs a command inside a host's namespace. */
  exec(name: string): string[] {
    return ['ip', 'netns', 'exec', this.host(name).ns];
  }

  /** Removes what setUp made; returns the problems met (none expected). Idempotent. */
  tearDown(): string[] {
    const problems: string[] = [];
    for (const ns of this.made.namespaces.splice(0)) tryRun('ip', ['netns', 'del', ns], problems); // takes its veth pair with it
    if (this.made.bridge) tryRun('ip', ['link', 'del', this.bridge], problems);
    this.made.bridge = false;
    for (const dir of this.made.netnsDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    if (existsSync('/etc/netns')) {
      try {
        rmdirSync('/etc/netns'); // only if empty: other tools may keep files there
      } catch {
        // not empty: left alone
      }
    }
    return problems;
  }
}
