import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { ApiRequest } from '../../src/api/context.js';
import { matchRoute } from '../../src/api/router.js';
import { nodeFlags, parseNodeConfig } from '../../src/cli/config.js';
import { REPO_ROOT } from '../support/cluster.js';

/**
 * deploy/kubernetes (issue 18): there is no Kubernetes here, so the manifests are checked
 * against the code they configure. Every environment variable is one `raftquotes node`
 * accepts, and the whole environment of every pod passes the CLI's own validation; the probe
 * paths are routes; ports, names, selectors, DNS names and Secret keys agree.
 */

const DIR = join(REPO_ROOT, 'deploy/kubernetes');

type Doc = Record<string, any>;

function load(file: string): Doc[] {
  return parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => {
    expect(doc.errors, file).toEqual([]);
    return doc.toJS() as Doc;
  });
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
const docs = files.flatMap((file) => load(file).filter(Boolean).map((doc) => ({ file, doc })));
const one = (kind: string, pred: (d: Doc) => boolean = () => true): Doc => {
  const found = docs.filter(({ doc }) => doc.kind === kind && pred(doc));
  expect(found, kind).toHaveLength(1);
  return (found[0] as { doc: Doc }).doc;
};

const sts = one('StatefulSet');
const pod = sts.spec.template.spec;
const container = pod.containers[0] as Doc;
const ns: string = sts.metadata.namespace;
const headless = one('Service', (d) => d.spec.clusterIP === 'None');
const pdb = one('PodDisruptionBudget');
const secret = one('Secret');
const portOf = (name: string): number => (container.ports as Doc[]).find((p) => p.name === name)?.containerPort;
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The environment pod `ordinal` gets: fieldRefs, Secret values and $(VAR) expansion as the kubelet does them. */
function podEnv(ordinal: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of container.env as Doc[]) {
    if (entry.valueFrom?.fieldRef) {
      expect(entry.valueFrom.fieldRef.fieldPath).toBe('metadata.name');
      env[entry.name] = `${sts.metadata.name}-${ordinal}`;
    } else if (entry.valueFrom?.secretKeyRef) {
      env[entry.name] = secret.stringData[entry.valueFrom.secretKeyRef.key];
    } else {
      env[entry.name] = String(entry.value).replace(/\$\(([A-Z_]+)\)/g, (_, name: string) => env[name] ?? `$(${name})`);
    }
  }
  return env;
}

describe('deploy/kubernetes manifests', () => {
  it('are all listed in kustomization.yaml (but the example Secret), in one namespace', () => {
    const kustomization = load('kustomization.yaml')[0] as Doc;
    for (const resource of kustomization.resources as string[]) expect(existsSync(join(DIR, resource)), resource).toBe(true);
    expect([...kustomization.resources, 'kustomization.yaml', 'secret.example.yaml'].sort()).toEqual([...files].sort());
    expect(one('Namespace').metadata.name).toBe(ns);
    for (const { file, doc } of docs) if (doc.kind !== 'Namespace' && doc.kind !== 'Kustomization') expect(doc.metadata.namespace, file).toBe(ns);
  });

  it('use only environment variables that `raftquotes node` accepts, and every pod\'s environment passes its validation', () => {
    const accepted = new Set(nodeFlags().map((f) => f.env));
    for (const entry of container.env as Doc[]) expect(accepted, entry.name).toContain(entry.name);
    for (let ordinal = 0; ordinal < sts.spec.replicas; ordinal++) {
      const config = parseNodeConfig({}, podEnv(ordinal));
      const id = `${sts.metadata.name}-${ordinal}`;
      expect(config.id).toBe(id);
      expect(config.secret).not.toBeNull();
      expect(config.adminToken).not.toBeNull();
      expect(config.insecure).toBe(false);
      // Peers: every pod, by its stable DNS name through the headless Service, on the Raft port.
      expect(Object.keys(config.peers)).toEqual(Array.from({ length: sts.spec.replicas }, (_, n) => `${sts.metadata.name}-${n}`));
      for (const [peer, address] of Object.entries(config.peers)) expect(address).toEqual({ host: `${peer}.${sts.spec.serviceName}.${ns}.svc.cluster.local`, port: portOf('raft') });
      expect(config.raft.port).toBe(portOf('raft'));
      expect(config.http.port).toBe(portOf('http'));
      expect(config.controller.port).toBe(portOf('controller'));
      expect(config.advertiseHttp).toBe(`http://${id}.${sts.spec.serviceName}.${ns}.svc.cluster.local:${portOf('http')}`);
    }
  });

  it('name one StatefulSet of 5 behind a headless Service, a volume per pod at the data dir, and a PDB that keeps a quorum', () => {
    expect(sts.spec.replicas).toBe(5);
    expect(sts.spec.serviceName).toBe(headless.metadata.name);
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    const labels = sts.spec.template.metadata.labels as Record<string, string>;
    expect(matches(sts.spec.selector.matchLabels, labels)).toBe(true);
    for (const service of docs.filter(({ doc }) => doc.kind === 'Service').map(({ doc }) => doc)) {
      expect(matches(service.spec.selector, labels), service.metadata.name).toBe(true);
      for (const port of service.spec.ports as Doc[]) {
        const target = (container.ports as Doc[]).find((p) => p.name === port.targetPort);
        expect(target, `${service.metadata.name} ${port.name}`).toBeDefined();
        expect(target?.protocol ?? 'TCP').toBe(port.protocol ?? 'TCP');
        expect(port.port).toBe(target?.containerPort);
      }
    }
    const claim = sts.spec.volumeClaimTemplates[0] as Doc;
    const mount = (container.volumeMounts as Doc[]).find((m) => m.name === claim.metadata.name);
    expect(mount?.mountPath).toBe(podEnv(0).RAFTQUOTES_DATA_DIR);
    expect(claim.spec.accessModes).toEqual(['ReadWriteOnce']);
    expect(pdb.spec.minAvailable).toBe(Math.floor(sts.spec.replicas / 2) + 1);
    expect(matches(pdb.spec.selector.matchLabels, labels)).toBe(true);
  });

  it('probe readiness on /readyz and liveness on /healthz, routes the node serves, with a Host it accepts', () => {
    const probes = { readinessProbe: '/readyz', livenessProbe: '/healthz' };
    for (const [probe, path] of Object.entries(probes)) {
      const get = container[probe].httpGet as Doc;
      expect(get.path).toBe(path);
      expect(matchRoute({ method: 'GET', path } as ApiRequest)?.label, path).toBe(path);
      expect(portOf(get.port), probe).toBe(portOf('http'));
      // The kubelet connects to the pod IP; every node accepts localhost:<its port> as itself (SPEC §7).
      expect(get.httpHeaders).toEqual([{ name: 'Host', value: `localhost:${portOf('http')}` }]);
    }
  });

  it('take the peer secret and the admin token from the Secret, whose keys exist', () => {
    const refs = (container.env as Doc[]).filter((e) => e.valueFrom?.secretKeyRef).map((e) => [e.name, e.valueFrom.secretKeyRef]);
    expect(refs.map(([name]) => name).sort()).toEqual(['RAFTQUOTES_ADMIN_TOKEN', 'RAFTQUOTES_SECRET']);
    for (const [name, ref] of refs) {
      expect(ref.name, name).toBe(secret.metadata.name);
      expect(Object.keys(secret.stringData), name).toContain(ref.key);
    }
    // Secrets never travel as plain values in the manifest (SPEC §7).
    for (const entry of container.env as Doc[]) if (/SECRET|TOKEN/.test(entry.name)) expect(entry.value, entry.name).toBeUndefined();
  });
});
