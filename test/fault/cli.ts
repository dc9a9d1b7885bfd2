/**
 * `npm run fault -- --seconds 120 --nemesis kill,pause,partition,restart,leader --seed N`
 * (`--nemesis all,forger` adds the opt-in forger nemesis: hostile peer messages from a member;
 * `--nemesis all,member` the membership nemesis on `--spares N` spare nodes, default 2)
 * `--campaigns N` runs N campaigns, seeds seed, seed+1, ..., and ends with one table row each
 * (seed, ops, linearizable, lost writes, membership changes).
 *
 * One fault campaign on real processes (issue 7): prints progress, the summary (ops, ok,
 * failed, indeterminate, leader changes, longest unavailability, linearizable, lost
 * writes) and every check's verdict. Exit code 0 on a pass, 1 on a failed check, 2 on a
 * usage error. A failing run leaves its history, explanation, HTML timeline and node logs
 * in test/fault/artifacts/<seed>/. The last line is the summary as JSON (for tables).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_ARTIFACTS_ROOT, DEFAULT_SNAPSHOT_EVERY, parseKinds, renderSummary, runCampaign } from './harness.js';
import { seedFromString } from '../../src/checker/prng.js';

/** Default ports: 19700+i (HTTP), 19800+i (Raft), 19900+i (controller); no other test uses them. */
const DEFAULT_PORT_BASE = 19700;

function usage(message: string): never {
  process.stderr.write(`npm run fault: ${message}\nusage: npm run fault -- [--seconds 120] [--nemesis kill,pause,partition,restart,leader[,forger] | all[,forger]] [--seed N] [--port-base 19700] [--clients 10] [--snapshot-every 200] [--spares 2] [--campaigns 1] [--artifacts DIR] [--always-artifacts] [--unsafe-local-reads]\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '120' },
      nemesis: { type: 'string', default: 'all' },
      seed: { type: 'string' },
      'port-base': { type: 'string', default: String(DEFAULT_PORT_BASE) },
      artifacts: { type: 'string', default: DEFAULT_ARTIFACTS_ROOT },
      'always-artifacts': { type: 'boolean', default: false },
      clients: { type: 'string', default: '10' },
      'unsafe-local-reads': { type: 'boolean', default: false },
      'snapshot-every': { type: 'string', default: String(DEFAULT_SNAPSHOT_EVERY) },
      spares: { type: 'string' },
      campaigns: { type: 'string', default: '1' },
    },
    strict: true,
  });
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds < 5 || seconds > 3600) usage(`--seconds must be within [5, 3600], got ${values.seconds}`);
  const clients = Number(values.clients);
  if (!Number.isInteger(clients) || clients < 1 || clients > 64) usage(`--clients must be an integer within [1, 64], got ${values.clients}`);
  const portBase = Number(values['port-base']);
  if (!Number.isInteger(portBase) || portBase < 1024 || portBase > 65000 - 300) usage(`--port-base must be an integer within [1024, 64700], got ${values['port-base']}`);
  const overlap = ephemeralOverlap(portBase, portBase + 300);
  if (overlap) usage(`--port-base ${portBase}: ports ${portBase}-${portBase + 300} overlap the kernel's ephemeral range ${overlap} (outgoing connections take ports there, and a node restarted later finds its port in use); pick a base below it`);
  const snapshotEvery = Number(values['snapshot-every']);
  if (!Number.isInteger(snapshotEvery) || snapshotEvery < 10) usage(`--snapshot-every must be an integer >= 10, got ${values['snapshot-every']}`);
  let kinds;
  try {
    kinds = parseKinds(values.nemesis as string);
  } catch (err) {
    usage((err as Error).message);
  }
  if (kinds.length === 0) usage('--nemesis: give at least one kind');
  const spares = values.spares === undefined ? undefined : Number(values.spares);
  if (spares !== undefined && (!Number.isInteger(spares) || spares < 0 || spares > MAX_SPARES)) usage(`--spares must be an integer within [0, ${MAX_SPARES}], got ${values.spares}`);
  const campaigns = Number(values.campaigns);
  if (!Number.isInteger(campaigns) || campaigns < 1 || campaigns > MAX_CAMPAIGNS) usage(`--campaigns must be an integer within [1, ${MAX_CAMPAIGNS}], got ${values.campaigns}`);
  const seedText = values.seed ?? String(Date.now() % 1_000_000);
  const firstSeed = /^\d+$/.test(seedText) ? Number(seedText) >>> 0 : seedFromString(seedText);
  const rows: string[] = [];
  let allOk = true;
  for (let i = 0; i < campaigns; i++) {
    const result = await oneCampaign({ seed: (firstSeed + i) >>> 0, seconds, kinds, clients, snapshotEvery, portBase, spares, artifacts: values.artifacts, alwaysArtifacts: values['always-artifacts'], unsafe: values['unsafe-local-reads'] });
    const s = result.summary;
    rows.push(`| ${s.seed} | ${s.ops} | ${s.ok} | ${s.linearizable === true ? 'yes' : s.linearizable === false ? 'NO' : 'unknown'} | ${s.lostWrites} | ${s.membershipChanges} | ${s.finalVoters.join(',')} | ${s.faults} | ${s.ok_ ? 'PASS' : 'FAIL'} |`);
    allOk &&= result.ok;
    if (campaigns > 1) process.stdout.write(`CAMPAIGN_ROW ${rows[rows.length - 1]}\n`);
  }
  if (campaigns > 1) {
    process.stdout.write(`\n| seed | ops | ok | linearizable | lost writes | membership changes | voters at end | faults | result |\n|---|---|---|---|---|---|---|---|---|\n${rows.join('\n')}\n`);
  }
  process.exit(allOk ? 0 : 1);
}

/** The kernel's range for outgoing connections' local ports, as "low-high", if [from, to] overlaps it. */
function ephemeralOverlap(from: number, to: number): string | null {
  let range: string;
  try {
    range = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    return null; // not Linux: nothing to check against
  }
  const [low, high] = range.trim().split(/\s+/).map(Number);
  if (low === undefined || high === undefined || !Number.isInteger(low) || !Number.isInteger(high)) return null;
  return from <= high && to >= low ? `${low}-${high}` : null;
}

/** Most spares a campaign may have (ports base+6 ... stay below base+100, where Raft ports start). */
const MAX_SPARES = 4;
/** Most campaigns one command runs. */
const MAX_CAMPAIGNS = 200;

interface OneCampaign {
  seed: number;
  seconds: number;
  kinds: ReturnType<typeof parseKinds>;
  clients: number;
  snapshotEvery: number;
  portBase: number;
  spares: number | undefined;
  artifacts: string;
  alwaysArtifacts: boolean;
  unsafe: boolean;
}

async function oneCampaign(o: OneCampaign): Promise<Awaited<ReturnType<typeof runCampaign>>> {
  const { seed, seconds, kinds, clients, snapshotEvery, portBase } = o;
  const started = Date.now();
  const result = await runCampaign({
    seed,
    ...(o.spares === undefined ? {} : { spares: o.spares }),
    durationMs: seconds * 1000,
    kinds,
    kvClients: clients,
    snapshotEvery,
    ports: { httpBase: portBase, raftBase: portBase + 100, controllerBase: portBase + 200 },
    artifactsRoot: o.artifacts,
    alwaysWriteArtifacts: o.alwaysArtifacts,
    // The debug-only broken build (reads without ReadIndex): to see a random campaign catch it.
    env: o.unsafe ? { RAFTQUOTES_UNSAFE_LOCAL_READS: '1' } : {},
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`\n${result.reportText}\n\n${renderSummary(result.summary)}\n`);
  if (result.artifactsDir) process.stdout.write(`artifacts: ${result.artifactsDir}\n`);
  process.stdout.write(`total ${((Date.now() - started) / 1000).toFixed(0)} s\nFAULT_SUMMARY ${JSON.stringify(result.summary)}\n`);
  return result;
}

let interrupted = false;
for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(name, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`${name}: stopping the nodes this run started\n`);
    process.exit(130); // the exit hook in harness-cluster.ts kills every node it started
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`npm run fault: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
