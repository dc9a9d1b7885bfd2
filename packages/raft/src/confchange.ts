import { allVoterIds, type Configuration, isMemberId, MAX_MEMBER_ADDRESS_CHARS, type Member, validateConfiguration } from './configuration.js';
import type { NodeId } from './types.js';

/** The operations of a membership change (SPEC §9). */
export type ConfChangeOp = 'add-learner' | 'add-voter' | 'promote' | 'demote' | 'remove';

/** Every ConfChangeOp, in one list (for validating input). */
export const CONF_CHANGE_OPS: readonly ConfChangeOp[] = ['add-learner', 'add-voter', 'promote', 'demote', 'remove'];

/** One change; `raft` and `http` only for the adds. */
export interface ConfChange {
  op: ConfChangeOp;
  id: NodeId;
  raft?: string;
  http?: string;
}

/** Changes in one request: a cluster has at most a few dozen members. */
export const MAX_CHANGES_PER_REQUEST = 16;

/**
 * A planned change: the configuration to append, and whether it is joint (§4.3: a change of
 * more than one voter goes through C_old,new, left automatically once committed).
 */
export type ConfChangePlan = { ok: true; config: Configuration; joint: boolean } | { ok: false; field: string; message: string };

/**
 * Applies `changes` to a non-joint configuration, in order, and decides how to get there.
 * Refusals name the JSON path at fault (`changes[1].id`), as the API reports them. Pure.
 */
export function planConfChange(current: Configuration, changes: readonly ConfChange[]): ConfChangePlan {
  if (current.outgoing !== null) return refuse('changes', 'the configuration is joint: a change is still under way');
  if (changes.length === 0 || changes.length > MAX_CHANGES_PER_REQUEST) return refuse('changes', `must hold 1..${MAX_CHANGES_PER_REQUEST} changes`);
  const voters = current.voters.slice();
  const learners = current.learners.slice();
  const seen = new Set<NodeId>();
  for (const [i, change] of changes.entries()) {
    const problem = applyOne(voters, learners, change, `changes[${i}]`, seen);
    if (problem) return problem;
  }
  const next: Configuration = { voters, learners, outgoing: null };
  const invalid = validateConfiguration(next);
  if (invalid) return refuse('changes', invalid);
  const before = new Set(current.voters.map((m) => m.id));
  const after = new Set(voters.map((m) => m.id));
  const changed = [...before].filter((id) => !after.has(id)).length + [...after].filter((id) => !before.has(id)).length;
  // §4.1/§4.3: one voter in or out at a time keeps every majority of the old and new sets
  // overlapping; anything larger needs the joint configuration in between.
  if (changed <= 1) return { ok: true, config: next, joint: false };
  return { ok: true, config: { voters, learners, outgoing: current.voters.slice() }, joint: true };
}

/** The configuration that ends a joint change: the incoming half alone. */
export function leaveJoint(config: Configuration): Configuration {
  return { voters: config.voters.slice(), learners: config.learners.slice(), outgoing: null };
}

function applyOne(voters: Member[], learners: Member[], change: ConfChange, path: string, seen: Set<NodeId>): ConfChangePlan | null {
  const { op, id } = change;
  if (!CONF_CHANGE_OPS.includes(op)) return refuse(`${path}.op`, `must be one of ${CONF_CHANGE_OPS.join(', ')}`);
  if (!isMemberId(id)) return refuse(`${path}.id`, 'must be a node id');
  if (seen.has(id)) return refuse(`${path}.id`, `${id} appears twice in this request`);
  seen.add(id);
  const voterAt = voters.findIndex((m) => m.id === id);
  const learnerAt = learners.findIndex((m) => m.id === id);
  const voter = voters[voterAt];
  const learner = learners[learnerAt];
  switch (op) {
    case 'add-learner':
    case 'add-voter': {
      if (voter !== undefined || learner !== undefined) return refuse(`${path}.id`, `${id} is already a member`);
      const member = memberFrom(change, path);
      if ('ok' in member) return member;
      (op === 'add-voter' ? voters : learners).push(member);
      return null;
    }
    case 'promote':
      if (learner === undefined) return refuse(`${path}.id`, `${id} is not a learner`);
      learners.splice(learnerAt, 1);
      voters.push(learner);
      return null;
    case 'demote':
      if (voter === undefined) return refuse(`${path}.id`, `${id} is not a voter`);
      if (voters.length === 1) return refuse(`${path}.id`, `${id} is the last voter`);
      voters.splice(voterAt, 1);
      learners.push(voter);
      return null;
    case 'remove':
      if (voter === undefined && learner === undefined) return refuse(`${path}.id`, `${id} is not a member`);
      if (voter !== undefined && voters.length === 1) return refuse(`${path}.id`, `${id} is the last voter`);
      if (voter !== undefined) voters.splice(voterAt, 1);
      else learners.splice(learnerAt, 1);
      return null;
  }
}

function memberFrom(change: ConfChange, path: string): Member | ConfChangePlan {
  const { id, raft, http } = change;
  if (!isChangeAddress(raft)) return refuseAddress(`${path}.raft`);
  if (!isChangeAddress(http)) return refuseAddress(`${path}.http`);
  return { id, raft, http };
}

function isChangeAddress(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_MEMBER_ADDRESS_CHARS;
}

function refuseAddress(field: string): ConfChangePlan {
  return refuse(field, `must be a non-empty address of at most ${MAX_MEMBER_ADDRESS_CHARS} characters`);
}

function refuse(field: string, message: string): ConfChangePlan {
  return { ok: false, field, message };
}

/** Ids a plan makes stop voting (for the leader's "is it removing me" checks). */
export function votersLeaving(current: Configuration, next: Configuration): NodeId[] {
  const after = new Set(next.voters.map((m) => m.id));
  return allVoterIds(current).filter((id) => !after.has(id));
}
