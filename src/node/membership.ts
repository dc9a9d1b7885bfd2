import { allVoterIds, type ConfChangeResult, type Configuration, type Member, type MembershipView, type NodeId } from '@raftquotes/raft';
import { isRecord } from '../narrow.js';

/** The configuration as GET /api/members shows it (SPEC §9). */
export interface MembersView {
  configIndex: number;
  voters: Member[];
  learners: Member[];
  joint: null | { outgoing: NodeId[] };
}

/**
 * Reads a MembersView from an untrusted answer (what `raftquotes member` gets back from a
 * node), field by field; null when it is not one.
 */
export function parseMembersView(value: unknown): MembersView | null {
  if (!isRecord(value)) return null;
  const { configIndex, voters, learners, joint } = value;
  if (typeof configIndex !== 'number' || !isMemberList(voters) || !isMemberList(learners)) return null;
  if (joint === null) return { configIndex, voters, learners, joint };
  if (!isRecord(joint) || !Array.isArray(joint['outgoing'])) return null;
  const outgoing = joint['outgoing'].filter((id): id is NodeId => typeof id === 'string');
  return outgoing.length === joint['outgoing'].length ? { configIndex, voters, learners, joint: { outgoing } } : null;
}

function isMemberList(value: unknown): value is Member[] {
  return Array.isArray(value) && value.every((m) => isRecord(m) && typeof m['id'] === 'string' && typeof m['raft'] === 'string' && typeof m['http'] === 'string');
}

/** Why a membership change was refused; the API maps `code` to 400 or 409. */
export class MembershipError extends Error {
  override readonly name = 'MembershipError';

  constructor(
    readonly code: 'bad_request' | 'precondition_failed',
    message: string,
    readonly field?: string,
    readonly lag?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The configuration with every member's addresses: the log's own where the change recorded
 * them, else the runtime's (the --peers seed carries no HTTP URL: `addressOf` fills them in).
 */
export function membersView(view: MembershipView, addressOf: (id: NodeId) => { raft: string; http: string }): MembersView {
  const fill = (m: Member): Member => {
    const known = m.raft === '' || m.http === '' ? addressOf(m.id) : null;
    return { id: m.id, raft: m.raft || (known?.raft ?? ''), http: m.http || (known?.http ?? '') };
  };
  const { config } = view;
  return {
    configIndex: view.configIndex,
    voters: config.voters.map(fill),
    learners: config.learners.map(fill),
    joint: config.outgoing === null ? null : { outgoing: config.outgoing.map((m) => m.id) },
  };
}

/** A refused proposal as the error the API answers; null when the caller should map it itself. */
export function confChangeRefusal(result: Extract<ConfChangeResult, { ok: false }>): MembershipError | null {
  switch (result.error) {
    case 'invalid':
      return new MembershipError('bad_request', `${result.field ?? 'changes'}: ${result.message ?? 'invalid change'}`, result.field ?? 'changes');
    case 'pending':
    case 'own_term':
      return new MembershipError('precondition_failed', result.message ?? 'a configuration change is under way; retry shortly');
    case 'lagging':
      return new MembershipError('precondition_failed', result.message ?? 'the learner is behind', result.field, result.lag);
    default:
      return null;
  }
}

/** True once `index` (or a later configuration) is in effect, committed and not joint. */
export function changeFinished(view: MembershipView, index: number): boolean {
  return view.configIndex >= index && view.committed && view.config.outgoing === null;
}

/** Voters of either half of the configuration. */
export function voterIds(config: Configuration): NodeId[] {
  return allVoterIds(config);
}
