import type { Entry, HardState, Message } from '../types.js';

/**
 * Compact, stable text forms for the interaction tests. Positions are written term/index,
 * as etcd-io/raft does: `2/5` is the entry at index 5 of term 2.
 */

/** Data longer than this prints as its size only. */
const MAX_DATA_CHARS = 16;

export function formatEntry(entry: Entry): string {
  const position = `${entry.term}/${entry.index}`;
  if (entry.type === 'noop') return `${position} noop`;
  const data = entry.data.length > MAX_DATA_CHARS ? `<${entry.data.length}B>` : JSON.stringify(entry.data);
  return entry.type === 'config' ? `${position} config ${data}` : `${position} ${data}`;
}

export function formatEntries(entries: readonly Entry[]): string {
  return `[${entries.map(formatEntry).join(', ')}]`;
}

export function formatHardState(hardState: HardState): string {
  return `term=${hardState.term} vote=${hardState.vote ?? '-'} commit=${hardState.commit}`;
}

/** One message on one line: `1->2 AppendEntries term=2 prev=1/1 commit=1 entries=[2/2 noop]`. */
export function formatMessage(m: Message): string {
  return `${m.from}->${m.to} ${m.type} term=${m.term}${messageDetails(m)}`;
}

function messageDetails(m: Message): string {
  switch (m.type) {
    case 'PreVote':
      return ` last=${m.lastLogTerm}/${m.lastLogIndex}`;
    case 'RequestVote':
      return ` last=${m.lastLogTerm}/${m.lastLogIndex}${m.force ? ' force' : ''}`;
    case 'PreVoteResponse':
    case 'RequestVoteResponse':
      return m.granted ? ' granted' : ' rejected';
    case 'AppendEntries':
      return ` prev=${m.prevLogTerm}/${m.prevLogIndex} commit=${m.commit} entries=${formatEntries(m.entries)}`;
    case 'AppendEntriesResponse':
      if (m.success) return ` ok match=${m.matchIndex}`;
      return ` reject rejected=${m.rejectedIndex} hint=${m.conflictTerm ?? '-'}/${m.conflictIndex}`;
    case 'Heartbeat':
      return ` commit=${m.commit} read=${m.readRound}`;
    case 'HeartbeatResponse':
      return ` read=${m.readRound}`;
    case 'InstallSnapshot':
      return ` snap=${m.meta.term}/${m.meta.index} offset=${m.offset} len=${m.chunk.length}${m.done ? ' done' : ''}`;
    case 'InstallSnapshotResponse':
      return ` snap=${m.snapshotIndex} next=${m.nextOffset}${m.done ? ` done last=${m.lastLogIndex}` : ''}`;
    case 'TimeoutNow':
      return '';
    case 'ReadIndex':
      return ` id=${m.requestId}`;
    case 'ReadIndexResponse':
      return ` id=${m.requestId} index=${m.index ?? 'none'}`;
  }
}
