import type { ForgerMode } from './forger.js';
import { runSeed, type SimResult } from './simulation.js';

/** Forged messages per simulated ms with --forger: one every FORGE_EVERY_MS on average. */
const FORGE_EVERY_MS = 20;
/** Spare nodes at most: the nemesis keeps at most 7 voters, a few learners beyond that are enough. */
const MAX_SPARES = 8;

/**
 * `npm run sim -- --seeds 10000 [--nodes 5] [--seed N] [--forger invalid|chaos] [--spares N]`:
 * runs seeds and prints a summary. --spares adds N spare nodes and the membership nemesis. --forger adds a hostile peer (forger.ts): with `invalid` every safety
 * property and liveness are still checked; with `chaos` (Byzantine messages too) only that no
 * node throws.
 */
function parseArgs(argv: string[]): { seeds: number; nodes: number; seed: number | null; forger: ForgerMode | null; spares: number | null } {
  const args = { seeds: 1000, nodes: 5, seed: null as number | null, forger: null as ForgerMode | null, spares: null as number | null };
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--forger') {
      const mode = argv[i + 1];
      if (mode !== 'invalid' && mode !== 'chaos') fail('--forger needs invalid or chaos');
      args.forger = mode;
      continue;
    }
    const [flag, value] = [argv[i], Number(argv[i + 1])];
    if (!Number.isInteger(value) || value < 0) fail(`${flag} needs a non-negative integer`);
    if (flag === '--seeds') args.seeds = value;
    else if (flag === '--nodes') args.nodes = value;
    else if (flag === '--seed') args.seed = value;
    else if (flag === '--spares') args.spares = value;
    else fail(`unknown flag ${flag} (use --seeds N, --nodes 3|5, --seed N, --forger invalid|chaos, --spares N)`);
  }
  if (args.nodes < 1 || args.nodes > 9) fail('--nodes must be between 1 and 9');
  if (args.spares !== null && args.spares > MAX_SPARES) fail(`--spares must be between 0 and ${MAX_SPARES}`);
  return args;
}

function fail(message: string): never {
  console.error(`sim: ${message}`);
  process.exit(2);
}

function printFailure(result: SimResult): void {
  console.log(`FAILED seed=${result.seed}`);
  for (const v of result.violations) console.log(`  violation at ${v.at.toFixed(1)} ms: ${v.rule}: ${v.detail}`);
  console.log('  last events:');
  for (const line of result.trace.slice(-120)) console.log(`    ${line}`);
  console.log(`  reproduce: npm run sim -- --seed ${result.seed} --nodes ... [--spares ...]`);
}

async function main(): Promise<void> {
  const { seeds, nodes, seed, forger, spares } = parseArgs(process.argv.slice(2));
  const list = seed !== null ? [seed] : Array.from({ length: seeds }, (_, i) => i + 1);
  const started = Date.now();
  let violations = 0;
  const elect: number[] = [];
  const recover: number[] = [];
  let committed = 0;
  let installs = 0;
  let forged = 0;
  const honestRejections: Record<string, number> = {};
  const clientTotals: Record<string, number> = {};
  const diskTotals: Record<string, number> = {};
  let unknownHistories = 0;
  let membershipChanges = 0;
  const finalVoterCounts: Record<number, number> = {};
  for (const s of list) {
    let result: SimResult;
    try {
      result = await runSeed(s, { nodes, ...(spares !== null ? { spares } : {}), ...(forger ? { forger: { mode: forger, everyMs: FORGE_EVERY_MS } } : {}) });
    } catch (err) {
      violations++;
      console.log(`FAILED seed=${s}: threw ${(err as Error).stack ?? String(err)}`);
      continue;
    }
    forged += result.forged;
    for (const [reason, n] of Object.entries(result.honestRejections)) honestRejections[reason] = (honestRejections[reason] ?? 0) + n;
    // Byzantine (chaos) messages may break safety by design: only a throw fails that mode.
    if (forger === 'chaos') result = { ...result, violations: [] };
    if (result.firstElectionMs !== null) elect.push(result.firstElectionMs);
    if (result.recoveryMs !== null) recover.push(result.recoveryMs);
    committed += result.committed;
    for (const [k, v] of Object.entries(result.clients)) clientTotals[k] = (clientTotals[k] ?? 0) + v;
    for (const [k, v] of Object.entries(result.disk)) diskTotals[k] = (diskTotals[k] ?? 0) + v;
    if (result.linearizable === 'unknown') unknownHistories++;
    installs += result.snapshotsInstalled;
    membershipChanges += result.membershipChanges;
    finalVoterCounts[result.finalVoters.length] = (finalVoterCounts[result.finalVoters.length] ?? 0) + 1;
    if (result.violations.length > 0) {
      violations++;
      printFailure(result);
    }
  }
  const stats = (xs: number[]): string => (xs.length ? `max=${Math.max(...xs).toFixed(0)}ms mean=${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(0)}ms` : 'n/a');
  console.log(
    JSON.stringify({
      seeds: list.length,
      nodes,
      violations,
      firstElection: stats(elect),
      recoveryAfterHeal: stats(recover),
      entriesCommitted: committed,
      snapshotsInstalled: installs,
      clientOps: clientTotals,
      unknownHistories,
      storage: diskTotals,
      ...(forger ? { forger, forged } : {}),
      ...(spares !== null ? { spares, membershipChanges, finalVoterCounts } : {}),
      honestRejections,
      seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
    }),
  );
  process.exit(violations > 0 ? 1 : 0);
}

void main();
