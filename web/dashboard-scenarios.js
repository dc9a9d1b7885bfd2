// Scripted, narrated scenarios on the live cluster (SPEC §11): each step acts through the
// lab's controls (pause, deliver, cut, campaign) and says in one sentence what Raft does and
// why, citing the paper. "Next" runs one step.
//
// A node answers a message only after its fsync, so a step that delivers answers (or the
// messages an action makes) waits until they are held on the link, then delivers them: a step
// never depends on how fast the reader presses Next.

import { sleep } from '/static/common.js';
import { leaderOf } from '/static/dashboard-lab.js';

/** Messages released or discarded at once when a step delivers "everything on a link". */
const ALL = 1_000;
/** How long a step waits for a message it is about to deliver to be sent. */
const ARRIVAL_TIMEOUT_MS = 5_000;
const ARRIVAL_POLL_MS = 50;
/** A leader that has sent nothing more for this long has nothing more to send to that follower. */
const QUIET_MS = 1_500;
/** Most leader ↔ follower round trips one step makes (backtracking to a follower's log takes two). */
const MAX_ROUND_TRIPS = 4;

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** The cast of a scenario: the leader and the four others, by their role in the script. */
function castOf(lab) {
  const frame = lab.state.frames[lab.state.frames.length - 1];
  const leader = leaderOf(frame?.cluster);
  if (!leader) throw new Error('no leader right now: wait for one, then start');
  const others = lab.state.nodeIds.filter((id) => id !== leader);
  if (others.length < 4) throw new Error('the scenarios need five nodes');
  return { L: leader, A: others[0], B: others[1], C: others[2], D: others[3], others };
}

/** A write that is left to finish (or time out) on its own: the steps show its progress. */
function write(key) {
  void fetch(`/api/kv/${encodeURIComponent(key)}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 'x' }) }).catch(() => undefined);
}

/** Delivers what is held on from → to as soon as something is; resolves with how many (0: nothing came in time). */
async function deliverWhenSent(k, from, to, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const released = Number((await k.deliver(from, to, ALL))?.released) || 0;
    if (released > 0 || Date.now() >= deadline) return released;
    await sleep(ARRIVAL_POLL_MS);
  }
}

/** Like deliverWhenSent, for a message the step counts on: throws when none comes. */
async function deliverExpected(k, from, to) {
  if ((await deliverWhenSent(k, from, to, ARRIVAL_TIMEOUT_MS)) === 0) {
    throw new Error(`no message from ${from} to ${to === '*' ? 'its peers' : to} within ${ARRIVAL_TIMEOUT_MS / 1000} s`);
  }
}

/** Round trips between a leader and one follower until the leader has nothing more to send it. */
async function exchange(k, leader, follower) {
  for (let round = 0; round < MAX_ROUND_TRIPS; round++) {
    if ((await deliverWhenSent(k, leader, follower, QUIET_MS)) === 0) return;
    await deliverExpected(k, follower, leader);
  }
}

/** A candidate's election with every message delivered: its RequestVotes out, the answers back. */
async function electionRound(k, candidate, voters) {
  await k.campaign(candidate);
  await deliverExpected(k, candidate, '*');
  await Promise.all(voters.map((id) => deliverExpected(k, id, candidate)));
}

function electionSteps(c, k) {
  const voters = c.others.filter((id) => id !== c.A).concat(c.L);
  return [
    [`The cluster is paused: every clock is frozen and every outgoing message is held, so nothing happens until you press Next. ${c.L} leads.`, () => k.pause()],
    [`${c.A}'s election timer fires (we force it): it becomes a candidate, adds one to its term, votes for itself and sends RequestVote to every peer (§5.2). The requests wait on the links, drawn on the ring.`, () => k.campaign(c.A)],
    [`The RequestVotes arrive. Each peer sees a higher term and steps down to follower in it (§5.1), then grants its vote because ${c.A}'s log is at least as up to date as its own (§5.4.1); the vote is on disk before the answer leaves.`, () => deliverExpected(k, c.A, '*')],
    [`The votes reach ${c.A}. With a majority it becomes leader; at most one node can win a term, because each node votes once per term (§5.2, election safety). It appends a no-op of its own term at once (§8).`, () => Promise.all(voters.map((id) => deliverExpected(k, id, c.A)))],
    [`${c.A}'s AppendEntries, carrying the no-op, reach the followers: from now on its heartbeats keep everyone else from campaigning.`, () => deliverExpected(k, c.A, '*')],
    ['Resume: links open, clocks at real time.', () => k.resume()],
  ];
}

function replicationSteps(c, k) {
  const deliverEach = (pairs) => Promise.all(pairs.map(([from, to]) => deliverExpected(k, from, to)));
  return [
    [`Paused. ${c.L} is the leader.`, () => k.pause()],
    [`A client writes a key. ${c.L} appends it at the next index (not yet committed: pale) and sends AppendEntries to every follower; they wait on the links.`, () => write(`scenario-${Date.now()}`)],
    [`${c.A} and ${c.B} receive it. Each checks that its log has the leader's entry at prevLogIndex with the same term (log matching, §5.3), appends, persists and acknowledges.`, () => deliverEach([[c.L, c.A], [c.L, c.B]])],
    [`The acknowledgements arrive: the entry is on 3 of 5 nodes, a majority, and of ${c.L}'s own term, so it is committed (§5.3, §5.4.2) and applied; the client gets its answer. The followers do not know yet.`, () => deliverEach([[c.A, c.L], [c.B, c.L]])],
    [`${c.C} and ${c.D} receive the entry too, and acknowledge it: it is now on every node.`, async () => {
      await deliverEach([[c.L, c.C], [c.L, c.D]]);
      await deliverEach([[c.C, c.L], [c.D, c.L]]);
    }],
    ['The commit index travels on the next AppendEntries or heartbeat: one heartbeat interval of ticks, the heartbeats are delivered, and every follower learns the commit and applies the entry.', async () => {
      await k.tick(5);
      await deliverExpected(k, c.L, '*');
    }],
    ['Resume.', () => k.resume()],
  ];
}

function partitionSteps(c, k) {
  return [
    [`${c.L}, the leader, is cut off from every other node in both directions.`, () => Promise.all(c.others.map((id) => k.cut(c.L, id)))],
    [`The others stop hearing heartbeats. After an election timeout one of them pre-votes (it asks whether it could win before raising its term), then campaigns and wins with 3 of the 4 it can reach. ${c.L} keeps leading alone until check-quorum makes it step down: it has not heard from a majority for an election timeout. Watch the ring.`, () => undefined],
    [`The links heal. ${c.L} sees the higher term on the first message it gets and becomes a follower (§5.1); anything it appended alone was never committed and is replaced by the new leader's entries (§5.3).`, () => Promise.all(c.others.map((id) => k.heal(c.L, id)))],
  ];
}

function figure8Steps(c, k) {
  const others = (id) => c.others.filter((x) => x !== id);
  return [
    [`Figure 8 of the paper, live. Paused; ${c.L} leads. A client writes: ${c.L} appends the entry at index n in its term t.`, async () => {
      await k.pause();
      write(`figure8-${Date.now()}`);
    }],
    [`The entry reaches only ${c.A}. It is on 2 of 5 nodes: not committed.`, () => deliverExpected(k, c.L, c.A)],
    [`${c.L} is cut off, as if it crashed. ${c.B} campaigns in term t+1; ${c.C} and ${c.D} will grant (their logs are no longer than ${c.B}'s), ${c.A} will refuse (it holds entry n of term t, which is more up to date, §5.4.1).`, async () => {
      await Promise.all(c.others.map((id) => k.cut(c.L, id)));
      await k.campaign(c.B);
      await deliverExpected(k, c.B, '*');
    }],
    [`${c.B} gets 3 votes and leads term t+1. Its no-op at index n, of term t+1, is held: it reaches no one.`, () => Promise.all([c.A, c.C, c.D].map((id) => deliverExpected(k, id, c.B)))],
    [`Now ${c.B} is cut off and ${c.L} comes back. Its clock is frozen, so it still believes it leads term t: it steps down and campaigns. In term t+1 only ${c.A} grants (${c.C} and ${c.D} already voted for ${c.B} in t+1: one vote per term, §5.2), so it campaigns again in t+2, and ${c.A}, ${c.C} and ${c.D} grant (its last entry, n of term t, is as up to date as theirs). ${c.L} leads term t+2 and appends its no-op at n+1.`, async () => {
      await Promise.all(others(c.B).map((id) => k.cut(c.B, id)));
      await Promise.all(c.others.map((id) => k.heal(c.L, id)));
      await k.stepDown(c.L);
      await electionRound(k, c.L, [c.A, c.C, c.D]);
      await electionRound(k, c.L, [c.A, c.C, c.D]);
    }],
    [`${c.L} sends entry n (term t) with its no-op n+1 (term t+2) to ${c.C}, which acknowledges. Entry n is now on ${c.L}, ${c.A} and ${c.C}, a majority, and still NOT committed. In Figure 8 a leader that committed it by counting would lose it: ${c.B}, whose last term t+1 beats t, could still be elected and overwrite n. The rule that prevents it: a leader commits by counting only entries of its own term (§5.4.2).`, () => exchange(k, c.L, c.C)],
    [`n+1, of term t+2, reaches ${c.A} too: it is on a majority and of the leader's term, so it commits, and n with it (log matching). ${c.B} can never be elected again without these entries: a majority now has a newer last term than its t+1.`, () => exchange(k, c.L, c.A)],
    [`Heal and resume: ${c.B} learns term t+2 and its uncommitted no-op at n is replaced by ${c.L}'s entries.`, async () => {
      await Promise.all(others(c.B).map((id) => k.heal(c.B, id)));
      await k.resume();
    }],
  ];
}

/** Every scenario's steps, [sentence, action] each, for this cast and these controls. */
function scenarios(c, k) {
  return { election: electionSteps(c, k), replication: replicationSteps(c, k), partition: partitionSteps(c, k), figure8: figure8Steps(c, k) };
}

/** Wires the scenario panel. */
export function createScenarios(lab, status) {
  const select = /** @type {HTMLSelectElement} */ ($('scenario-select'));
  const start = $('scenario-start');
  const next = /** @type {HTMLButtonElement} */ ($('scenario-next'));
  const text = $('scenario-text');
  const progress = $('scenario-progress');
  let steps = [];
  let at = 0;

  function show() {
    next.disabled = at >= steps.length;
    progress.textContent = steps.length ? `step ${Math.min(at, steps.length)} of ${steps.length}` : '';
  }

  let running = false;

  async function runStep() {
    const step = steps[at];
    if (!step || running) return;
    running = true;
    const [say, run] = step;
    next.disabled = true;
    try {
      await run();
      at++;
      text.textContent = say;
    } catch (err) {
      status(`Scenario step failed: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
    running = false;
    show();
  }

  start.addEventListener('click', () => {
    try {
      steps = scenarios(castOf(lab), lab.controls)[select.value] || [];
      at = 0;
      text.textContent = 'Press Next to run the first step.';
      show();
    } catch (err) {
      status(`Cannot start the scenario: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
  });
  next.addEventListener('click', () => void runStep());
  show();
}
