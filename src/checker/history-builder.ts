import type { FailCode, HistoryOp, Json } from './types.js';

/**
 * Terse constructors for hand-written histories in tests:
 * `b.write('c1', 7, 0, 10)`, `b.read('c2', 7, 12, 20)`, `b.cas('c3', 7, 8, 30, 40, 'ok')`.
 * Ids are assigned in call order. A null completion time means "indeterminate".
 */
export class HistoryBuilder {
  readonly ops: HistoryOp[] = [];

  constructor(private readonly key = 'k') {}

  write(clientId: string, value: Json, invokeMs: number, completeMs: number | null, key = this.key): HistoryOp {
    return this.add({ clientId, key, kind: 'write', input: { value }, invokeMs, completeMs, outcome: completeMs === null ? 'indeterminate' : 'ok' });
  }

  read(clientId: string, output: Json, invokeMs: number, completeMs: number, key = this.key): HistoryOp {
    return this.add({ clientId, key, kind: 'read', input: {}, invokeMs, completeMs, outcome: 'ok', output });
  }

  /** result: 'ok', a failure code, or 'indeterminate'. `current` is the 409 body's current value. */
  cas(clientId: string, from: Json, to: Json, invokeMs: number, completeMs: number | null, result: 'ok' | FailCode | 'indeterminate', current?: Json): HistoryOp {
    const base = { clientId, key: this.key, kind: 'cas' as const, input: { from, to }, invokeMs, completeMs };
    if (result === 'ok' || result === 'indeterminate') return this.add({ ...base, outcome: result, completeMs: result === 'ok' ? completeMs : null });
    return this.add({ ...base, outcome: 'fail', error: result, ...(current === undefined ? {} : { output: current }) });
  }

  delete(clientId: string, invokeMs: number, completeMs: number, result: 'ok' | 'not_found'): HistoryOp {
    const base = { clientId, key: this.key, kind: 'delete' as const, input: {}, invokeMs, completeMs };
    return this.add(result === 'ok' ? { ...base, outcome: 'ok' } : { ...base, outcome: 'fail', error: 'not_found' });
  }

  private add(op: Omit<HistoryOp, 'id'>): HistoryOp {
    const full: HistoryOp = { id: this.ops.length, ...op };
    this.ops.push(full);
    return full;
  }
}
