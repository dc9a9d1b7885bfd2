import { generateLinearizableHistory } from './generate.js';
import { checkLinearizability } from './index.js';
import { Prng } from '../prng.js';
const ind = Number(process.argv[2]);
let worst = 0; const verdicts: Record<string, number> = {};
for (let seed = 1; seed <= 100; seed++) {
  const history = generateLinearizableHistory({ seed, ops: 2000, clients: 10, maxLatencyMs: 40, indeterminateChance: ind });
  const prng = new Prng(seed);
  const reads = history.filter((o) => o.kind === 'read' && o.outcome === 'ok');
  const r = prng.pick(reads);
  const near = reads.filter((o) => Math.abs(o.invokeMs - r.invokeMs) < 60 && JSON.stringify(o.output) !== JSON.stringify(r.output));
  if (!near.length) continue;
  r.output = prng.pick(near).output!;
  const t = Date.now();
  const res = checkLinearizability(history, { maxElapsedMs: 20000, maxCacheEntries: 300000 });
  const el = Date.now() - t; worst = Math.max(worst, el);
  const k = `${res.ok}/${res.perKey.k.reason}`; verdicts[k] = (verdicts[k] ?? 0) + 1;
  if (res.perKey.k.steps > 0 && res.ok !== true) console.log(seed, res.ok, el, res.perKey.k.steps, res.perKey.k.cacheEntries, r.invokeMs);
}
console.log('worst', worst, verdicts);
