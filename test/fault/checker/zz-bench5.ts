import { generateLinearizableHistory } from './generate.js';
import { prepareHistory } from './prepare.js';
import { searchLinearization } from './search.js';
import { Prng } from '../prng.js';
import { describeOp } from './explain.js';
const seed = Number(process.argv[2]);
const history = generateLinearizableHistory({ seed, ops: 2000, clients: 10, maxLatencyMs: 40, indeterminateChance: 0.03 });
const prng = new Prng(seed);
const reads = history.filter((o) => o.kind === 'read' && o.outcome === 'ok');
const r = prng.pick(reads);
const near = reads.filter((o) => Math.abs(o.invokeMs - r.invokeMs) < 60 && JSON.stringify(o.output) !== JSON.stringify(r.output));
r.output = prng.pick(near).output!;
console.log('mutated', describeOp(r));
const [kh] = prepareHistory(history);
for (const ops of [kh!.reduced, kh!.ops]) {
  const counts = new Map<number, number>();
  (globalThis as any).__pushHook = (op: number) => counts.set(op, (counts.get(op) ?? 0) + 1);
  const res = searchLinearization(ops, { maxSteps: 3e6, maxCacheEntries: 300000, deadline: Date.now() + 60000 });
  console.log(res.ok, res.steps, res.cacheEntries);
  for (const o of ops.filter((o) => o.outcome === 'indeterminate')) console.log('  IND', counts.get(o.index) ?? 0, describeOp(o.source));
}
