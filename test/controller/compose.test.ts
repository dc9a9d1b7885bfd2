import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { nodeFlags, parseNodeConfig, parsePeers, type NodeConfig } from '../../src/cli/config.js';
import { REPO_ROOT } from '../support/cluster.js';

/**
 * The Docker course layout (SPEC §1, §4), checked without a Docker engine: docker-compose.yml
 * parsed with `yaml`, each node's environment run through the node's own config validation.
 */
interface ComposeService {
  image?: string;
  build?: string | { context: string; additional_contexts?: Record<string, string> };
  container_name?: string;
  environment?: Record<string, string> | string[];
  volumes?: string[];
  ports?: string[];
  stdin_open?: boolean;
  tty?: boolean;
  command?: unknown;
  entrypoint?: unknown;
  depends_on?: unknown;
  network_mode?: string;
}

const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');
const compose = parse(read('docker-compose.yml')) as {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, { ipam?: { config?: Array<{ subnet?: string }> } }>;
};
const services = compose.services;
const NODE_SERVICES = ['node1', 'node2', 'node3', 'node4', 'node5'];
const KNOWN_VARIABLES = new Set(nodeFlags().map((f) => f.env));

/** Compose allows a map or a list of KEY=VALUE. */
function environment(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
  return Object.fromEntries(env.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

/** In-container path of the peer secret, written by the one-shot `secret` service. */
const SECRET_PATH = '/secret/secret';
const scratch = mkdtempSync(join(tmpdir(), 'rq-compose-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs the `secret` service's own script with /secret mapped to a scratch dir; returns the file. */
function runSecretService(): string {
  const entrypoint = services.secret?.entrypoint as string[];
  expect(entrypoint.slice(0, 2)).toEqual(['node', '-e']);
  const script = (entrypoint[2] as string).replaceAll('/secret/', `${scratch}/`);
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return join(scratch, 'secret');
}

let secretFile: string | null = null;

/** A node's flags from its `command` (after the `node` subcommand), the secret file mapped to the scratch copy. */
function flagsOf(service: ComposeService): Record<string, string> {
  const command = (service.command ?? []) as string[];
  expect(command[0]).toBe('node');
  const flags: Record<string, string> = {};
  for (let i = 1; i < command.length; i += 2) {
    expect(command[i]).toBe('--secret-file');
    flags.secret = command[i + 1] === SECRET_PATH ? (secretFile ??= runSecretService()) : (command[i + 1] as string);
  }
  return flags;
}

const configOf = (name: string): NodeConfig => parseNodeConfig(flagsOf(services[name] as ComposeService), environment(services[name] as ComposeService));
const containerNames = (): string[] => NODE_SERVICES.map((s) => services[s]?.container_name as string);

describe('docker-compose.yml (course layout)', () => {
  it('has node1..node5 named Node1..Node5 and a Controller', () => {
    expect(Object.keys(services).sort()).toEqual(['controller', ...NODE_SERVICES, 'secret']);
    expect(containerNames()).toEqual(['Node1', 'Node2', 'Node3', 'Node4', 'Node5']);
    expect(services.controller?.container_name).toBe('Controller');
  });

  it('runs every node from one image, built once by node1', () => {
    expect(new Set(NODE_SERVICES.map((s) => services[s]?.image))).toEqual(new Set(['raftquotes:latest']));
    expect(services.node1?.build).toBe('.');
    for (const s of NODE_SERVICES.slice(1)) expect(services[s]?.build, s).toBeUndefined();
  });

  for (const [i, name] of NODE_SERVICES.entries()) {
    it(`${name}: its environment passes the node's own config validation, with Docker's fixed ports`, () => {
      const env = environment(services[name] as ComposeService);
      for (const variable of Object.keys(env)) expect(KNOWN_VARIABLES.has(variable), `${variable} is not a raftquotes node setting`).toBe(true);
      const config = configOf(name);
      expect(config.id).toBe(`Node${i + 1}`);
      expect(config.http).toEqual({ host: '0.0.0.0', port: 8080 });
      expect(config.raft).toEqual({ host: '0.0.0.0', port: 7000 });
      expect(config.controller).toEqual({ host: '0.0.0.0', port: 5555 });
      expect(config.advertiseHttp).toBe(`http://Node${i + 1}:8080`);
    });

    it(`${name}: peers are the five containers on Raft port 7000`, () => {
      const config = configOf(name);
      expect(Object.keys(config.peers)).toEqual(containerNames());
      for (const [id, address] of Object.entries(config.peers)) expect(address, id).toEqual({ host: id, port: 7000 });
    });

    it(`${name}: its own named volume holds the data dir, and HTTP is published on ${8081 + i}`, () => {
      const service = services[name] as ComposeService;
      const config = configOf(name);
      expect(service.volumes).toEqual([`${name}-data:${config.dataDir}`, 'secret:/secret:ro']);
      expect(compose.volumes).toHaveProperty(`${name}-data`);
      expect(service.ports).toEqual([`${8081 + i}:8080`]);
    });
  }

  it('authenticates peers with a secret the one-shot secret service makes once, mode 0600', () => {
    const file = runSecretService();
    const secret = readFileSync(file, 'utf8');
    expect(secret).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(runSecretService(), 'utf8')).toBe(secret); // a second `up` keeps it
    expect(services.secret?.network_mode).toBe('none');
    expect(services.secret?.volumes).toEqual(['secret:/secret']);
    for (const name of NODE_SERVICES) {
      expect(services[name]?.depends_on, name).toEqual({ secret: { condition: 'service_completed_successfully' } });
      const config = configOf(name);
      expect(config.secret).toMatch(/^[0-9a-f]{64}$/);
      expect(config.insecure).toBe(false);
      expect(JSON.stringify(services[name])).not.toContain(config.secret);
    }
    expect(read('Dockerfile')).toMatch(/chmod 700 \/data \/secret/);
  });

  it('answers the controller from loopback and the fixed raft subnet only (no RFC 1918 catch-all)', () => {
    const subnet = compose.networks?.raft?.ipam?.config?.[0]?.subnet;
    expect(subnet).toMatch(/^\d+\.\d+\.\d+\.\d+\/(2[4-9]|3[0-2])$/);
    for (const name of NODE_SERVICES) {
      expect(configOf(name).controllerAllow, name).toEqual(['127.0.0.0/8', '::1/128', subnet]);
      expect(services[name]?.ports, name).toEqual([`${NODE_SERVICES.indexOf(name) + 8081}:8080`]); // no UDP published
    }
  });

  it('runs the controller REPL from Controller/, interactive, pointed at every node on 5555', () => {
    const controller = services.controller as ComposeService;
    const build = typeof controller.build === 'string' ? { context: controller.build } : controller.build;
    expect(build?.context).toBe('Controller/.');
    // FROM raftquotes in Controller/Dockerfile resolves to node1's image, built first.
    expect(build?.additional_contexts).toEqual({ raftquotes: 'service:node1' });
    expect(controller.stdin_open).toBe(true);
    expect(controller.tty).toBe(true);
    expect(controller.command).toBeUndefined();
    const nodes = parsePeers(environment(controller).RAFTQUOTES_NODES as string, 'RAFTQUOTES_NODES');
    expect(Object.keys(nodes)).toEqual(containerNames());
    for (const [id, address] of Object.entries(nodes)) expect(address, id).toEqual({ host: id, port: 5555 });
  });
});

describe('Dockerfiles and Message.json', () => {
  const dockerfile = read('Dockerfile');
  const controllerDockerfile = read('Controller/Dockerfile');

  it('builds in stages on node:20-slim and runs as a non-root user with a /healthz check', () => {
    expect(dockerfile.match(/^FROM node:20-slim AS \w+$/gm)).toHaveLength(3);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends python3 make g\+\+/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\/healthz/ms);
    expect(dockerfile).toMatch(/^EXPOSE 8080 7000 5555\/udp$/m);
  });

  it('defaults the image to the ports docker-compose.yml and SPEC §1 use', () => {
    const defaults = Object.fromEntries([...dockerfile.matchAll(/(RAFTQUOTES_\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    expect(defaults).toMatchObject({ RAFTQUOTES_HTTP: '0.0.0.0:8080', RAFTQUOTES_RAFT: '0.0.0.0:7000', RAFTQUOTES_CONTROLLER: '0.0.0.0:5555', RAFTQUOTES_DATA_DIR: '/data' });
    for (const name of NODE_SERVICES) {
      const env = environment(services[name] as ComposeService);
      for (const key of ['RAFTQUOTES_HTTP', 'RAFTQUOTES_RAFT', 'RAFTQUOTES_CONTROLLER', 'RAFTQUOTES_DATA_DIR']) expect(env[key], `${name} ${key}`).toBe(defaults[key]);
    }
  });

  it('builds the controller from the node image and starts the ctl REPL', () => {
    expect(controllerDockerfile).toMatch(/^FROM raftquotes$/m);
    expect(controllerDockerfile).toMatch(/^CMD \["ctl"\]$/m);
    const nodes = /RAFTQUOTES_NODES=(\S+)/.exec(controllerDockerfile)?.[1] as string;
    expect(parsePeers(nodes, 'RAFTQUOTES_NODES')).toEqual(parsePeers(environment(services.controller as ComposeService).RAFTQUOTES_NODES as string, 'RAFTQUOTES_NODES'));
  });

  it('ships the course message template', () => {
    expect(JSON.parse(read('Message.json'))).toEqual({ sender_name: null, request: null, term: null, key: null, value: null });
  });
});
