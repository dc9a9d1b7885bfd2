// Scripted, narrated scenarios on the live cluster (SPEC §11): each step acts through the
// lab's controls (pause, deliver, cut, campaign) and says in one sentence what Raft does and
// why, citing the paper. "Next" runs one step.

import { leaderOf } from '/static/dashboard-lab.js';

/** Messages released or discarded at once when a step delivers "everything on a link". */
const ALL = 1_000;

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

function scenarios(c, k) {
  const deliverEach = (pairs) => Promise.all(pairs.map(([from, to]) => k.deliver(from, to, ALL)));
  return {
    election: [
      [`The cluster is paused: every clock is frozen and every outgoing message is held, so nothing happens until you press Next. ${c.L} leads.`, () => k.pause()],
      [`${c.A}'s election timer fires (we force it): it becomes a candidate, adds one to its term, votes for itself and sends RequestVote to every peer (§5.2). The requests wait on the links, drawn on the ring.`, () => k.campaign(c.A)],
      [`The RequestVotes arrive. Each peer sees a higher term and steps down to follower in it (§5.1), then grants its vote because ${c.A}'s log is at least as up to date as its own (§5.4.1); the vote is on disk before the answer leaves.`, () => k.deliver(c.A, '*', ALL)],
      [`The votes reach ${c.A}. With a majority it becomes leader; at most one node can win a term, because each node votes once per term (§5.2, election safety). It appends a no-op of its own term at once (§8).`, () => deliverEach(c.others.filter((id) => id !== c.A).concat(c.L).map((id) => [id, c.A]))],
      [`${c.A}'s AppendEntries, carrying the no-op, reach the followers: from now on its heartbeats keep everyone else from campaigning.`, () => k.deliver(c.A, '*', ALL)],
      ['Resume: links open, clocks at real time.', () => k.resume()],
    ],
    replication: [
      [`Paused. ${c.L} is the leader.`, () => k.pause()],
      [`A client writes a key. ${c.L} appends it at the next index (not yet committed: pale) and sends AppendEntries to every follower; they wait on the links.`, () => write(`scenario-${Date.now()}`)],
      [`${c.A} and ${c.B} receive it. Each checks that its log has the leader's entry at prevLogIndex with the same term (log matching, §5.3), appends, persists and acknowledges.`, () => deliverEach([[c.L, c.A], [c.L, c.B]])],
      [`The acknowledgements arrive: the entry is on 3 of 5 nodes, a majority, and of ${c.L}'s own term, so it is committed (§5.3, §5.4.2) and applied; the client gets its answer.`, () => deliverEach([[c.A, c.L], [c.B, c.L]])],
      ['The commit index travels on the next AppendEntries or heartbeat: one heartbeat interval of ticks, then the held messages are delivered and every follower learns the commit.', async () => {
        await k.tick(5);
        await k.deliver(c.L, '*', ALL);
      }],
      ['Resume.', () => k.resume()],
    ],
    partition: [
      [`${c.L}, the leader, is cut off from every other node in both directions.`, () => Promise.all(c.others.map((id) => k.cut(c.L, id)))],
      [`The others stop hearing heartbeats. After an election timeout one of them pre-votes (it asks whether it could win before raising its term), then campaigns and wins with 3 of the 4 it can reach. ${c.L} keeps leading alone until check-quorum makes it step down: it has not heard from a majority for an election timeout. Watch the ring.`, () => undefined],
      [`The links heal. ${c.L} sees the higher term on the first message it gets and becomes a follower (§5.1); anything it appended alone was never committed and is replaced by the new leader's entries (§5.3).`, () => Promise.all(c.others.map((id) => k.heal(c.L, id)))],
    ],
    figure8: [
      [`Figure 8 of the paper, live. Paused; ${c.L} leads. A client writes: ${c.L} appends the entry at index n in its term t.`, async () => {
        await k.pause();
        write(`figure8-${Date.now()}`);
      }],
      [`The entry reaches only ${c.A}. It is on 2 of 5 nodes: not committed.`, () => k.deliver(c.L, c.A, ALL)],
      [`${c.L} is cut off, as if it crashed. ${c.B} campaigns in term t+1; ${c.C} and ${c.D} will grant (their logs are no longer than ${c.B}'s), ${c.A} will refuse (it holds entry n of term t, which is more up to date, §5.4.1).`, async () => {
        await Promise.all(c.others.map((id) => k.cut(c.L, id)));
        await k.campaign(c.B);
        await k.deliver(c.B, '*', ALL);
      }],
      [`${c.B} gets 3 votes and leads term t+1. Its no-op at index n, of term t+1, is held: it reaches no one.`, () => deliverEach([c.A, c.C, c.D].map((id) => [id, c.B]))],
      [`Now ${c.B} is cut off and ${c.L} comes back and campaigns in term t+2: ${c.A}, ${c.C} and ${c.D} grant (its last entry, n of term t, is as up to date as theirs). ${c.L} leads term t+2 and appends its no-op at n+1.`, async () => {
        await Promise.all(c.others.filter((id) => id !== c.B).map((id) => k.cut(c.B, id)));
        await Promise.all(c.others.map((id) => k.heal(c.L, id)));
        await k.campaign(c.L);
        await k.deliver(c.L, '*', ALL);
        await deliverEach([c.A, c.C, c.D].map((id) => [id, c.L]));
      }],
      [`${c.L} sends entry n (term t) with its no-op n+1 (term t+2) to ${c.C}, which acknowledges. Entry n is now on ${c.L}, ${c.A} and ${c.C}, a majority, and still NOT committed. In Figure 8 a leader that committed it by counting would lose it: ${c.B}, whose last term t+1 beats t, could still be elected and overwrite n. The rule that prevents it: a leader commits by counting only entries of its own term (§5.4.2).`, async () => {
        await k.deliver(c.L, c.C, ALL);
        await k.deliver(c.C, c.L, ALL);
      }],
      [`n+1, of term t+2, reaches ${c.A} too: it is on a majority and of the leader's term, so it commits, and n with it (log matching). ${c.B} can never be elected again without these entries: a majority now has a newer last term than its t+1.`, async () => {
        await k.deliver(c.L, c.A, ALL);
        await k.deliver(c.A, c.L, ALL);
      }],
      [`Heal and resume: ${c.B} learns term t+2 and its uncommitted no-op at n is replaced by ${c.L}'s entries.`, async () => {
        await Promise.all(c.others.filter((id) => id !== c.B).map((id) => k.heal(c.B, id)));
        await k.resume();
      }],
    ],
  };
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

  async function runStep() {
    const step = steps[at];
    if (!step) return;
    const [say, run] = step;
    next.disabled = true;
    try {
      await run();
      at++;
      text.textContent = say;
    } catch (err) {
      status(`Scenario step failed: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
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
