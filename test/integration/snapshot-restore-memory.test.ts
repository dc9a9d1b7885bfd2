import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NODE_V8_FLAGS } from '../../src/cli/cluster.js';
import { REPO_ROOT } from '../support/cluster.js';

/**
 * Nodes run with a capped V8 old space (NODE_V8_FLAGS). A follower restoring an InstallSnapshot
 * image must not need the whole decoded state in its heap at once, or a large enough state
 * could never be installed: the follower would run out of heap on every attempt. This restores
 * an image that decodes to ~3x the heap the child is given; a whole-image decode aborts with
 * "heap out of memory" here, a page-by-page one holds one page of rows at a time.
 */
const ROWS = 300_000;
const CHILD_OLD_SPACE_MB = 48;

const CHILD = `
import Database from 'better-sqlite3';
import { SqliteStateMachine } from ${JSON.stringify(join(REPO_ROOT, 'dist/state/sqlite-state-machine.js'))};
import { IMAGE_PAGE_ROWS, StateImageWriter } from ${JSON.stringify(join(REPO_ROOT, 'dist/state/snapshot-codec.js'))};
const [rows, dbPath] = [Number(process.argv[1]), process.argv[2]];
const keyOf = (i) => 'key-' + String(i).padStart(8, '0');
// One shared value string while building: the image's bytes live outside the V8 heap.
const valueJson = JSON.stringify('v'.repeat(200));
const writer = new StateImageWriter(rows, 3);
for (let start = 0; start < rows; start += IMAGE_PAGE_ROWS) {
  const page = [];
  for (let i = start; i < Math.min(rows, start + IMAGE_PAGE_ROWS); i++) page.push([keyOf(i), valueJson, i + 1]);
  writer.page('kv', page);
}
const data = writer.finish();
const sm = new SqliteStateMachine(new Database(dbPath));
sm.restore(rows, 3, data);
const count = new Database(dbPath, { readonly: true }).prepare('SELECT count(*) AS n FROM sm_kv').get().n;
console.log(JSON.stringify({ imageMb: data.length / 1048576, applied: sm.appliedIndex(), count, last: sm.get(keyOf(rows - 1)) }));
`;

describe('InstallSnapshot restore under the nodes capped heap', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rq-restore-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the nodes run with a capped old space, so the bound matters', () => {
    expect(NODE_V8_FLAGS.some((flag) => flag.startsWith('--max-old-space-size='))).toBe(true);
  });

  it(`restores a ${ROWS.toLocaleString('en')}-key image page by page in a ${CHILD_OLD_SPACE_MB} MB old space`, () => {
    const child = spawnSync(process.execPath, [`--max-old-space-size=${CHILD_OLD_SPACE_MB}`, '--input-type=module', '-e', CHILD, String(ROWS), join(dir, 'sm.db')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.stderr).not.toMatch(/out of memory/);
    expect(child.status).toBe(0);
    const result = JSON.parse(child.stdout.trim()) as { imageMb: number; applied: number; count: number; last: { value: string; index: number } };
    // Decoded whole, this image needs ~3x the child's old space (rows of ~300 bytes of heap each).
    expect(result.imageMb).toBeGreaterThan(CHILD_OLD_SPACE_MB);
    expect(result.applied).toBe(ROWS);
    expect(result.count).toBe(ROWS);
    expect(result.last).toEqual({ key: `key-${String(ROWS - 1).padStart(8, '0')}`, value: 'v'.repeat(200), index: ROWS });
  }, 90_000);
});
