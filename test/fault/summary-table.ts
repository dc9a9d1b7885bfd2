/**
 * `npx tsx test/fault/summary-table.ts <log>...`: a Markdown table of campaigns from the
 * `FAULT_SUMMARY {...}` line that `npm run fault` prints last. A log without that line
 * (a run that crashed or was stopped) is listed as such, so no run silently disappears.
 */
import { readFileSync } from 'node:fs';
import type { CampaignSummary } from './harness.js';

const MARKER = 'FAULT_SUMMARY ';

function row(file: string): string {
  const line = readFileSync(file, 'utf8').split('\n').reverse().find((l) => l.startsWith(MARKER));
  if (!line) return `| ${file} | no summary (run crashed or was stopped) | | | | | | | | | |`;
  const s = JSON.parse(line.slice(MARKER.length)) as CampaignSummary;
  const result = s.ok_ ? 'PASS' : 'FAIL';
  return `| ${s.seed} | ${s.seconds} s | ${s.ops} | ${s.ok} | ${s.failed} | ${s.indeterminate} | ${s.leaderChanges} | ${(s.longestUnavailabilityMs / 1000).toFixed(1)} s | ${s.linearizable === true ? 'yes' : String(s.linearizable)} | ${s.lostWrites} | ${result} |`;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: npx tsx test/fault/summary-table.ts <campaign log>...\n');
  process.exit(2);
}
process.stdout.write('| seed | length | ops | ok | failed | indeterminate | leader changes | longest unavailability | linearizable | lost writes | result |\n');
process.stdout.write('|---|---|---|---|---|---|---|---|---|---|---|\n');
for (const file of files) process.stdout.write(`${row(file)}\n`);
