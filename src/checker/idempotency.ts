/** An applied write as observed on some node: its Idempotency-Key and the log index it was applied at. */
export interface AppliedRecord {
  idempotencyKey: string;
  index: number;
  nodeId?: string;
}

/** One key applied at more than one log index. */
export interface DuplicateApplication {
  idempotencyKey: string;
  indexes: number[];
  nodes: string[];
}

/** Result of checkIdempotency. */
export interface IdempotencyResult {
  ok: boolean;
  duplicates: DuplicateApplication[];
  message?: string;
}

/**
 * SPEC §3 "Exactly once": a write with an Idempotency-Key is applied at most once. The
 * same application seen on several nodes shares one log index; two indexes for one key
 * mean the write was applied twice (e.g. a retry after a timeout was not deduplicated).
 */
export function checkIdempotency(appliedRecords: readonly AppliedRecord[]): IdempotencyResult {
  const byKey = new Map<string, { indexes: Set<number>; nodes: Set<string> }>();
  for (const record of appliedRecords) {
    const entry = byKey.get(record.idempotencyKey) ?? { indexes: new Set<number>(), nodes: new Set<string>() };
    byKey.set(record.idempotencyKey, entry);
    entry.indexes.add(record.index);
    if (record.nodeId) entry.nodes.add(record.nodeId);
  }
  const duplicates = [...byKey]
    .filter(([, entry]) => entry.indexes.size > 1)
    .map(([idempotencyKey, entry]) => ({ idempotencyKey, indexes: [...entry.indexes].sort((a, b) => a - b), nodes: [...entry.nodes].sort() }));
  if (duplicates.length === 0) return { ok: true, duplicates };
  const lines = duplicates.map((d) => `Idempotency-Key ${JSON.stringify(d.idempotencyKey)} applied ${d.indexes.length} times, at log indexes ${d.indexes.join(', ')}${d.nodes.length ? ` (seen on ${d.nodes.join(', ')})` : ''}`);
  return { ok: false, duplicates, message: lines.join('\n') };
}
