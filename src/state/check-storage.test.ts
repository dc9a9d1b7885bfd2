import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openNodeDatabase } from '../storage/sqlite-storage.js';

it('checkStorage (GET /healthz) is null while the database answers, and names the failure once it does not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rq-health-'));
  try {
    const { storage, stateMachine } = openNodeDatabase(dir, { clusterId: 'c', nodeId: 'Node1' }, { init: true });
    expect(stateMachine.checkStorage()).toBeNull();
    storage.close();
    expect(stateMachine.checkStorage()).toMatch(/database connection is not open/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
