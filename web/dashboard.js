/* global AbortSignal */
// The cluster dashboard, in the spirit of RaftScope: polls GET /api/cluster?logTail=20 (the
// node serving this page fetches the others) and draws every node, its election timer, its
// log tail and, for the leader, its followers' replication progress. Buttons drive the
// controller actions through POST /api/admin/<action>. Errors show inline; nothing throws.

import { describeError, el, sleep, svg } from '/static/common.js';
import { createLab } from '/static/dashboard-lab.js';
import { createScenarios } from '/static/dashboard-scenarios.js';

/** Named limits of the page. */
const LIMITS = {
  pollIntervalMs: 200,
  pollTimeoutMs: 2_000,
  logTail: 20,
  burstWrites: 50,
  burstTimeoutMs: 10_000,
  adminTimeoutMs: 10_000,
};

const TIMER_RADIUS = 34;
const TIMER_CIRCUMFERENCE = 2 * Math.PI * TIMER_RADIUS;
const TERM_COLOURS = 8;
/** Geometry of the ring overview (SVG user units) and the window of the writes/s figure. */
const RING = { centre: 120, radius: 74, node: 26 };
const RATE_WINDOW_MS = 2_000;

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const ui = {
  nodes: $('nodes'),
  leaderId: $('leader-id'),
  term: $('term'),
  commitIndex: $('commit-index'),
  nodesUp: $('nodes-up'),
  writeRate: $('write-rate'),
  leaderChanges: $('leader-changes'),
  ring: $('ring'),
  burst: /** @type {HTMLButtonElement} */ ($('btn-burst')),
  burstResult: $('burst-result'),
  error: $('dash-error'),
  actionStatus: $('action-status'),
  logGrid: $('log-grid'),
  peersBody: $('peers-body'),
  peersEmpty: $('peers-empty'),
  peersSub: $('peers-sub'),
  selfNode: $('self-node'),
  pollIndicator: $('poll-indicator'),
};

/** The last cluster view; buttons read the current leader from it. */
let latest = { nodes: [], leader: null };

// ---------------------------------------------------------------------------------------
// Small DOM helpers


function termClass(term) {
  return `t${((Number(term) % TERM_COLOURS) + TERM_COLOURS) % TERM_COLOURS}`;
}

function showMessage(target, message, tone) {
  target.hidden = !message;
  target.textContent = message || '';
  target.dataset.tone = tone || 'info';
}

// ---------------------------------------------------------------------------------------
// Node cards (built once per node id, then updated in place)

/** @type {Map<string, ReturnType<typeof buildCard>>} */
const cards = new Map();

function buildTimer() {
  const ring = svg('svg', { viewBox: '0 0 80 80', class: 'timer', 'aria-hidden': 'true' });
  ring.append(svg('circle', { cx: 40, cy: 40, r: TIMER_RADIUS, class: 'timer-track' }));
  const arc = svg('circle', { cx: 40, cy: 40, r: TIMER_RADIUS, class: 'timer-arc', 'stroke-dasharray': TIMER_CIRCUMFERENCE.toFixed(2), 'stroke-dashoffset': TIMER_CIRCUMFERENCE.toFixed(2), transform: 'rotate(-90 40 40)' });
  ring.append(arc);
  return { ring, arc };
}

function buildCrown() {
  const crown = svg('svg', { viewBox: '0 0 24 18', class: 'crown', 'aria-label': 'leader', role: 'img' });
  crown.append(svg('path', { d: 'M2 15 L1 4 L7 9 L12 1 L17 9 L23 4 L22 15 Z' }));
  crown.append(svg('rect', { x: 2, y: 15.5, width: 20, height: 2.2, rx: 1 }));
  return crown;
}

function buildButtons(id) {
  const actions = el('div', 'node-actions');
  const spec = [
    ['timeout', 'Timeout', 'Start an election now (forced campaign)'],
    ['stepdown', 'Step down', 'Leader: become a follower'],
    ['shutdown', 'Shutdown', 'Stop all Raft activity on this node (process stays up)'],
    ['resume', 'Resume', 'Resume after shutdown, as a follower'],
    ['transfer', 'Lead here', 'Transfer leadership from the current leader to this node'],
  ];
  for (const [action, label, title] of spec) {
    const button = el('button', `button button-small action-${action}`, label);
    button.type = 'button';
    button.title = title;
    // The visible label is the same on every card; the accessible name says which node it acts on.
    button.setAttribute('aria-label', `${label} ${id}`);
    button.setAttribute('data-testid', `btn-${action}-${id}`);
    button.addEventListener('click', () => void runAction(action, id, button));
    actions.append(button);
  }
  return actions;
}

function buildStats(id) {
  const stats = el('dl', 'node-stats');
  const values = {};
  for (const [key, label] of [['commitIndex', 'commit'], ['appliedIndex', 'applied'], ['lastIndex', 'last'], ['snapshotIndex', 'snapshot']]) {
    const wrap = el('div', 'stat');
    const value = el('dd', 'stat-value', '–');
    value.setAttribute('data-testid', `${key}-${id}`);
    wrap.append(el('dt', 'stat-label', label), value);
    stats.append(wrap);
    values[key] = value;
  }
  return { stats, values };
}

function buildCard(id) {
  const card = el('article', 'node-card');
  card.setAttribute('data-testid', `node-${id}`);
  card.setAttribute('data-state', 'unknown');
  card.setAttribute('data-term', '0');
  card.setAttribute('data-leader', 'false');
  const head = el('header', 'node-head');
  const name = el('h3', 'node-name', id);
  const crown = buildCrown();
  const state = el('span', 'state-pill', '…');
  state.setAttribute('data-testid', `state-${id}`);
  head.append(crown, name, state);
  const { ring, arc } = buildTimer();
  const center = el('div', 'timer-center');
  const termValue = el('span', 'timer-term', '–');
  const timerLabel = el('span', 'timer-label', 'term');
  center.append(termValue, timerLabel);
  const timerWrap = el('div', 'timer-wrap');
  timerWrap.append(ring, center);
  const follows = el('p', 'node-follows', '');
  const { stats, values } = buildStats(id);
  const address = el('p', 'node-address', '');
  card.append(head, timerWrap, follows, stats, buildButtons(id), address);
  return { card, state, arc, termValue, timerLabel, follows, values, address };
}

function cardFor(id) {
  let card = cards.get(id);
  if (!card) {
    card = buildCard(id);
    cards.set(id, card);
    const ordered = [...cards.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    const next = ordered[ordered.indexOf(id) + 1];
    ui.nodes.insertBefore(card.card, next ? cards.get(next).card : null);
  }
  return card;
}

/** The visible state of a node: its Raft state, or 'down' when the serving node cannot reach it. */
function stateOf(node) {
  if (!node.reachable || !node.status) return 'down';
  return String(node.status.state);
}

function timerFraction(status, state) {
  if (state === 'leader') return 1;
  if (state === 'down' || state === 'shutdown') return 0;
  const timeout = Number(status.electionTimeoutMs);
  const elapsed = Number(status.electionElapsedMs);
  if (!(timeout > 0) || !(elapsed >= 0)) return 0;
  return Math.min(1, elapsed / timeout);
}

function timerText(status, state) {
  if (state === 'leader') return 'leading';
  if (state === 'down') return 'down';
  if (state === 'shutdown') return 'shut down';
  const timeout = Number(status.electionTimeoutMs);
  const elapsed = Number(status.electionElapsedMs);
  return timeout > 0 ? `${Math.round(elapsed)}/${Math.round(timeout)} ms` : 'term';
}

function updateCard(node, isLeader) {
  const card = cardFor(node.id);
  const status = node.status || {};
  const state = stateOf(node);
  card.card.setAttribute('data-state', state);
  card.card.setAttribute('data-term', String(status.term ?? 0));
  card.card.setAttribute('data-leader', isLeader ? 'true' : 'false');
  card.state.textContent = state;
  card.termValue.textContent = state === 'down' ? '–' : String(status.term ?? '–');
  card.timerLabel.textContent = timerText(status, state);
  const fraction = timerFraction(status, state);
  card.arc.setAttribute('stroke-dashoffset', (TIMER_CIRCUMFERENCE * (1 - fraction)).toFixed(2));
  card.arc.setAttribute('data-urgent', fraction > 0.8 && state !== 'leader' ? 'true' : 'false');
  for (const [key, value] of Object.entries(card.values)) value.textContent = state === 'down' ? '–' : String(status[key] ?? '–');
  card.follows.textContent = followsText(node, state, status);
  card.address.textContent = node.http ? String(node.http).replace(/^https?:\/\//, '') : '';
}

function followsText(node, state, status) {
  if (state === 'down') return 'unreachable';
  if (state === 'shutdown') return 'stopped by the controller';
  if (state === 'leader') return `leads term ${status.term}`;
  return status.leader ? `follows ${status.leader}` : 'no leader known';
}

// ---------------------------------------------------------------------------------------
// Summary, logs and replication panels

/** The one node to crown: a leader of the highest term seen among leaders (one per term, §5.2). */
function currentLeader(nodes) {
  let best = null;
  for (const node of nodes) {
    if (stateOf(node) !== 'leader') continue;
    if (!best || node.status.term > best.status.term) best = node;
  }
  return best;
}

function updateSummary(cluster, leader) {
  const reachable = cluster.nodes.filter((n) => n.reachable && n.status);
  const maxTerm = reachable.reduce((max, n) => Math.max(max, Number(n.status.term) || 0), 0);
  ui.leaderId.textContent = leader ? leader.id : 'none';
  ui.leaderId.dataset.none = leader ? 'false' : 'true';
  ui.term.textContent = String(leader ? leader.status.term : maxTerm);
  ui.commitIndex.textContent = leader ? String(leader.status.commitIndex) : '–';
  ui.nodesUp.textContent = `${reachable.filter((n) => n.status.state !== 'shutdown').length} / ${cluster.nodes.length}`;
}

/** Columns of the log grid: the last LIMITS.logTail indexes up to the longest log. */
function logWindow(nodes) {
  let last = 0;
  for (const node of nodes) {
    const entries = node.status?.log?.entries;
    if (Array.isArray(entries) && entries.length > 0) last = Math.max(last, entries[entries.length - 1].index);
    else if (node.status) last = Math.max(last, Number(node.status.lastIndex) || 0);
  }
  const first = Math.max(1, last - LIMITS.logTail + 1);
  return Array.from({ length: LIMITS.logTail }, (_, i) => first + i);
}

function logCell(node, index) {
  const log = node.status?.log;
  const cell = el('span', 'cell');
  if (!log || !node.reachable) {
    cell.classList.add('blank');
    return cell;
  }
  const entry = Array.isArray(log.entries) ? log.entries.find((e) => e.index === index) : undefined;
  if (!entry) {
    const inSnapshot = index < Number(log.firstIndex) || index <= Number(node.status.snapshotIndex);
    cell.classList.add(inSnapshot && index <= Number(node.status.lastIndex) ? 'compacted' : 'blank');
    return cell;
  }
  const committed = index <= Number(log.commitIndex);
  cell.classList.add(termClass(entry.term));
  if (committed) cell.classList.add('committed');
  if (entry.type === 'noop') cell.classList.add('noop');
  if (entry.type === 'config') cell.classList.add('config');
  cell.textContent = String(entry.term);
  cell.title = `#${index} · term ${entry.term} · ${entry.type}${committed ? ' · committed' : ' · not committed'}`;
  return cell;
}

function renderLogs(nodes) {
  const columns = logWindow(nodes);
  const rows = [];
  const header = el('div', 'log-row log-header');
  header.append(el('span', 'log-label', 'index'));
  for (const index of columns) header.append(el('span', 'log-index', index));
  rows.push(header);
  for (const node of nodes) {
    const row = el('div', `log-row state-${stateOf(node)}`);
    row.setAttribute('data-testid', `log-${node.id}`);
    row.append(el('span', 'log-label', node.id));
    for (const index of columns) row.append(logCell(node, index));
    rows.push(row);
  }
  ui.logGrid.replaceChildren(...rows);
}

function peerRow(peerId, peer, leaderLast) {
  const row = el('tr');
  row.setAttribute('data-testid', `peer-${peerId}`);
  const contact = peer.lastContactMs === null || peer.lastContactMs === undefined ? 'never' : `${Math.round(peer.lastContactMs)} ms`;
  row.append(el('th', 'peer-id', peerId), el('td', 'num', peer.matchIndex), el('td', 'num', peer.nextIndex), el('td', 'num', peer.inflight));
  row.append(el('td', `progress progress-${peer.progress}`, peer.progress), el('td', 'num', contact));
  row.append(el('td', peer.connected ? 'link-up' : 'link-down', peer.connected ? 'connected' : 'disconnected'));
  const meter = el('meter', 'peer-meter');
  meter.setAttribute('min', '0');
  meter.setAttribute('max', String(Math.max(1, leaderLast)));
  meter.setAttribute('value', String(Math.max(0, Number(peer.matchIndex) || 0)));
  const bar = el('td', 'peers-bar');
  bar.append(meter);
  row.append(bar);
  return row;
}

function renderPeers(leader) {
  const peers = leader?.status?.peers;
  const ids = peers ? Object.keys(peers).filter((id) => id !== leader.id).sort((a, b) => a.localeCompare(b, undefined, { numeric: true })) : [];
  ui.peersEmpty.hidden = ids.length > 0;
  ui.peersSub.textContent = leader ? `${leader.id}'s view of each follower (term ${leader.status.term})` : "the leader's view of each follower";
  ui.peersBody.replaceChildren(...ids.map((id) => peerRow(id, peers[id], Number(leader.status.lastIndex) || 0)));
}

// ---------------------------------------------------------------------------------------
// Ring overview and live rates

const ringNodes = new Map();

function buildRingNode(id) {
  const group = svg('g', { class: 'ring-node', 'data-testid': `ring-${id}` });
  const circle = svg('circle', { r: RING.node, class: 'ring-circle' });
  const name = svg('text', { class: 'ring-name', 'text-anchor': 'middle', dy: '-2' });
  const term = svg('text', { class: 'ring-term', 'text-anchor': 'middle', dy: '12' });
  const crown = svg('text', { class: 'ring-crown', 'text-anchor': 'middle', dy: `${-RING.node - 6}` });
  const state = svg('text', { class: 'ring-state', 'text-anchor': 'middle', dy: `${RING.node + 14}` });
  name.textContent = id;
  group.append(circle, name, term, crown, state);
  ui.ring.append(group);
  const entry = { group, term, crown, state };
  ringNodes.set(id, entry);
  return entry;
}

/** Where node i of n sits on the ring. */
function ringPoint(i, n) {
  const angle = -Math.PI / 2 + (2 * Math.PI * i) / n;
  return { x: RING.centre + RING.radius * Math.cos(angle), y: RING.centre + RING.radius * Math.sin(angle) };
}

/** Places every node on a circle (RaftScope's layout): colour = term, crown = leader, grey = down. */
function renderRing(nodes, leader) {
  nodes.forEach((node, i) => {
    const entry = ringNodes.get(node.id) || buildRingNode(node.id);
    const { x, y } = ringPoint(i, nodes.length);
    const state = stateOf(node);
    const isLeader = leader !== null && node.id === leader.id;
    entry.group.setAttribute('transform', `translate(${x.toFixed(1)} ${y.toFixed(1)})`);
    entry.group.setAttribute('class', `ring-node ${termClass(node.status?.term ?? 0)}`);
    entry.group.setAttribute('data-state', state);
    entry.group.setAttribute('data-leader', isLeader ? 'true' : 'false');
    entry.term.textContent = state === 'down' ? '–' : `term ${node.status.term}`;
    entry.state.textContent = state === 'shutdown' ? 'shut down' : state;
    entry.crown.textContent = isLeader ? '♛' : '';
  });
}

/** Commit samples of the leader over the last RATE_WINDOW_MS, and the leader changes seen. */
const rates = { samples: [], lastLeaderKey: null, changes: 0 };

function updateRates(leader, now) {
  if (leader) {
    const key = `${leader.id}@${leader.status.term}`;
    if (rates.lastLeaderKey !== null && key !== rates.lastLeaderKey) rates.changes++;
    rates.lastLeaderKey = key;
    rates.samples.push({ at: now, commit: Number(leader.status.commitIndex) || 0 });
  }
  while (rates.samples.length > 2 && now - rates.samples[0].at > RATE_WINDOW_MS) rates.samples.shift();
  const first = rates.samples[0];
  const last = rates.samples[rates.samples.length - 1];
  const seconds = first && last ? (last.at - first.at) / 1000 : 0;
  ui.writeRate.textContent = seconds > 0.3 ? String(Math.max(0, Math.round((last.commit - first.commit) / seconds))) : '–';
  ui.leaderChanges.textContent = String(rates.changes);
}

function render(cluster) {
  const nodes = Array.isArray(cluster.nodes) ? cluster.nodes : [];
  const leader = currentLeader(nodes);
  for (const node of nodes) updateCard(node, leader !== null && node.id === leader.id);
  updateSummary({ nodes }, leader);
  renderRing(nodes, leader);
  lab.drawHeld({ nodes });
  updateRates(leader, performance.now());
  renderLogs(nodes);
  renderPeers(leader);
  renderMembers(cluster.members);
}

/** The configuration line (SPEC §9), as text: ids come from the network, never HTML. */
function renderMembers(members) {
  const target = document.getElementById('members');
  if (!target) return;
  if (!members || !Array.isArray(members.voters)) {
    target.textContent = '…';
    return;
  }
  const list = (ids) => (Array.isArray(ids) && ids.length > 0 ? ids.join(', ') : '–');
  const parts = [`voters ${list(members.voters)}`, `learners ${list(members.learners)}`];
  if (members.joint) parts.push(`joint, leaving ${list(members.joint.outgoing)}`);
  parts.push(`removed ${list(members.removed)}`);
  target.textContent = parts.join(' · ');
}

// ---------------------------------------------------------------------------------------
// Polling

async function fetchJson(url, init, timeoutMs) {
  const res = await fetch(url, { cache: 'no-store', ...init, signal: AbortSignal.timeout(timeoutMs) });
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON
  }
  return { res, body };
}

async function pollOnce() {
  try {
    const { res, body } = await fetchJson(`/api/cluster?logTail=${LIMITS.logTail}`, {}, LIMITS.pollTimeoutMs);
    if (!res.ok || !body || !Array.isArray(body.nodes)) {
      showMessage(ui.error, `Cluster view failed: ${describeError(res.status, body)}`, 'error');
      ui.pollIndicator.dataset.state = 'reconnecting';
      return;
    }
    latest = body;
    ui.pollIndicator.dataset.state = 'live';
    lab.onCluster(body);
    // While the timeline is scrubbed back, polls are recorded but not drawn.
    if (lab.isLive()) drawSafely(body);
  } catch (err) {
    if (!polling) return;
    const why = err instanceof Error && err.name === 'TimeoutError' ? 'no answer in time' : 'unreachable';
    showMessage(ui.error, `The node serving this page is ${why}; retrying…`, 'error');
    ui.pollIndicator.dataset.state = 'reconnecting';
  }
}

/** Draws a cluster view; a malformed answer shows as an inline error, never as an uncaught one. */
function drawSafely(cluster) {
  try {
    render(cluster);
    showMessage(ui.error, '', 'info');
  } catch (err) {
    showMessage(ui.error, `Could not draw the cluster view: ${err instanceof Error ? err.message : String(err)}`, 'error');
  }
}

/** False once a recording file is replayed: the page then needs no cluster. */
let polling = true;

async function pollForever() {
  while (polling) {
    const started = performance.now();
    await pollOnce();
    await sleep(Math.max(0, LIMITS.pollIntervalMs - (performance.now() - started)));
  }
}

async function identifySelf() {
  try {
    const { res, body } = await fetchJson('/api/status', {}, LIMITS.pollTimeoutMs);
    if (res.ok && body?.id) ui.selfNode.textContent = String(body.id);
  } catch {
    // shown as '…'; the cluster view still works
  }
}

// ---------------------------------------------------------------------------------------
// Actions

const ACTION_PATHS = { timeout: 'timeout', stepdown: 'step-down', shutdown: 'shutdown', resume: 'resume', transfer: 'transfer-leadership' };

function actionBody(action, id) {
  if (action !== 'transfer') return { node: id };
  const leader = currentLeader(latest.nodes || []);
  if (!leader) return null;
  return { node: leader.id, to: id };
}

async function runAction(action, id, button) {
  const body = actionBody(action, id);
  if (!body) {
    showMessage(ui.actionStatus, `No leader to transfer leadership from right now.`, 'error');
    return;
  }
  const label = action === 'transfer' ? `Transfer leadership ${body.node} → ${id}` : `${button.textContent} ${id}`;
  button.disabled = true;
  showMessage(ui.actionStatus, `${label}…`, 'info');
  try {
    const { res, body: reply } = await fetchJson(`/api/admin/${ACTION_PATHS[action]}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }, LIMITS.adminTimeoutMs);
    if (res.ok) showMessage(ui.actionStatus, `${label}: done.`, 'ok');
    else showMessage(ui.actionStatus, `${label} failed: ${describeError(res.status, reply)}`, 'error');
  } catch (err) {
    showMessage(ui.actionStatus, `${label} failed: ${err instanceof Error ? err.message : String(err)}`, 'error');
  } finally {
    button.disabled = false;
  }
}

async function burstWrite(n, runId) {
  try {
    const { res, body } = await fetchJson(`/api/kv/burst-${n}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: { n, run: runId } }) }, LIMITS.burstTimeoutMs);
    return res.ok ? { ok: true } : { ok: false, code: body?.error || `http_${res.status}` };
  } catch {
    return { ok: false, code: 'network' };
  }
}

function formatDuration(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

async function runBurst() {
  ui.burst.disabled = true;
  ui.burstResult.textContent = `Sending ${LIMITS.burstWrites} writes…`;
  ui.burstResult.dataset.tone = 'info';
  const runId = Date.now();
  const started = performance.now();
  try {
    const results = await Promise.all(Array.from({ length: LIMITS.burstWrites }, (_, i) => burstWrite(i + 1, runId)));
    const elapsed = performance.now() - started;
    const ok = results.filter((r) => r.ok).length;
    const failures = new Map();
    for (const r of results) if (!r.ok) failures.set(r.code, (failures.get(r.code) || 0) + 1);
    const failed = [...failures].map(([code, count]) => `${count} ${code}`).join(', ');
    ui.burstResult.textContent = `${ok}/${LIMITS.burstWrites} ok in ${formatDuration(elapsed)}${failed ? ` · failed: ${failed}` : ''}`;
    ui.burstResult.dataset.ok = String(ok);
    ui.burstResult.dataset.tone = ok === LIMITS.burstWrites ? 'ok' : 'error';
  } catch (err) {
    ui.burstResult.textContent = `Burst failed: ${err instanceof Error ? err.message : String(err)}`;
    ui.burstResult.dataset.tone = 'error';
  } finally {
    ui.burst.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------

const lab = createLab({
  render: drawSafely,
  status: (text, tone) => showMessage(ui.actionStatus, text, tone),
  stopPolling: () => {
    polling = false;
    showMessage(ui.error, '', 'info');
    ui.pollIndicator.dataset.state = 'replay';
  },
  ringElement: () => ui.ring,
  ringPosition: ringPoint,
});
createScenarios(lab, (text, tone) => showMessage(ui.actionStatus, text, tone));

ui.burst.addEventListener('click', () => void runBurst());
lab.start();
void identifySelf();
void pollForever();
