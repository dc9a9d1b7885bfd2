import { generateLinearizableHistory } from './generate.js';
import { prepareHistory } from './prepare.js';
for (const seed of [22, 24, 42, 4]) {
  const history = generateLinearizableHistory({ seed, ops: 2000, clients: 10, maxLatencyMs: 40, indeterminateChance: 0.03 });
  const [kh] = prepareHistory(history);
  const ind = kh!.reduced.filter((o) => o.outcome === 'indeterminate');
  const dropped = kh!.ops.filter((o) => o.outcome === 'indeterminate' && !kh!.reduced.some((r) => r.source === o.source));
  console.log(seed, 'kept', ind.map((o) => o.kind).join(','), 'dropped', dropped.map((o) => o.kind).join(','));
}
