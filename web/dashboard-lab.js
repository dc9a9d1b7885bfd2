/* global AbortSignal */
// The dashboard's lab (SPEC §11): pause, step, slow down and cut the real cluster, see its held
// messages travel on the ring, scrub back through a recording of what the page saw (the
// polled cluster views plus every node's /api/events), export it to a file and replay it with
// no cluster. Every control is an admin POST through the node serving the page, which
// forwards it to the node named in "node". User-visible text is set with textContent only.

import { describeError, el, sleep, svg } from '/static/common.js';

/** Named limits of the lab. */
export const LAB_LIMITS = {
  /** Cluster views kept for the scrubber (about 10 minutes at 5 per second). */
  maxFrames: 3_000,
  /** Merged events kept (each node's ring holds 10,000; the page keeps the newest of all). */
  maxEvents: 50_000,
  eventsPollMs: 500,
  eventsPage: 2_000,
  /** Events listed around the scrubber's moment. */
  eventsShown: 40,
  /** Held messages drawn per link (the status lists up to 100). */
  heldDrawnPerLink: 6,
  /** A recording file larger than this is refused before it is read. */
  maxRecordingBytes: 64 * 1024 * 1024,
  requestTimeoutMs: 10_000,
  replayFrameMs: 200,
  /** Ticks that make a heartbeat go out (50 ms heartbeat / 10 ms tick, SPEC §2 defaults). */
  heartbeatTicks: 5,
};

const RECORDING_FORMAT = 'raftquotes-recording';
const RECORDING_VERSION = 1;
/** Short names of the core's message types for the ring. */
const SHORT = { AppendEntries: 'AE', AppendEntriesResponse: 'AE✓', Heartbeat: 'HB', HeartbeatResponse: 'HB✓', PreVote: 'PV', PreVoteResponse: 'PV✓', RequestVote: 'RV', RequestVoteResponse: 'RV✓', InstallSnapshot: 'IS', InstallSnapshotResponse: 'IS✓', TimeoutNow: 'TN', ReadIndex: 'RI', ReadIndexResponse: 'RI✓' };
const NOISY = new Set(['Heartbeat', 'HeartbeatResponse']);

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));


function button(label, testId, title, onClick) {
  const b = el('button', 'button button-small', label);
  b.type = 'button';
  b.title = title;
  b.setAttribute('aria-label', title);
  b.setAttribute('data-testid', testId);
  b.addEventListener('click', onClick);
  return b;
}

/**
 * One formatter for every event time (toLocaleTimeString's own fields). toLocaleTimeString with
 * options builds a new ICU formatter on each call, and the event list formats every shown event
 * on each render: in Chromium that cost seconds per scrub step on a recording of 1,800 events.
 */
const CLOCK_FORMAT = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: 'numeric', second: 'numeric', hour12: false });

function timeOf(at) {
  const d = new Date(at);
  return `${CLOCK_FORMAT.format(d)}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** One line for an event of /api/events. */
export function describeEvent(e) {
  switch (e.type) {
    case 'state':
      return `${e.node} is ${e.state} in term ${e.term}${e.leader ? ` (leader ${e.leader})` : ''}`;
    case 'vote':
      return `${e.node} votes for ${e.vote} in term ${e.term}`;
    case 'append':
      return `${e.node} appends ${e.first}..${e.last}`;
    case 'commit':
      return `${e.node} commits up to ${e.index}`;
    case 'snapshot':
      return `${e.node} ${e.kind === 'installed' ? 'installs a snapshot' : 'snapshots'} at ${e.index}`;
    case 'note':
      return `${e.node}: ${e.text}`;
    case 'control':
      return `${e.node}: ${e.what} ${e.what === 'clock' ? `rate ${e.rate}` : `to ${e.to} ${e.mode}`}`;
    case 'tick':
      return `${e.node}: +${e.ticks} tick(s)`;
    case 'recv':
      return `${e.to} ← ${e.from}: ${e.msg} t${e.term} i${e.index}${e.entries ? ` +${e.entries}` : ''}${e.ok === false ? ' ✗' : ''}`;
    default:
      return `${e.from} → ${e.to}: ${e.msg} t${e.term} i${e.index}${e.entries ? ` +${e.entries}` : ''} (${e.type})`;
  }
}

/** The leader to crown in a cluster view: a leader of the highest term (one per term, §5.2). */
export function leaderOf(cluster) {
  let best = null;
  for (const node of cluster?.nodes || []) {
    const s = node.reachable ? node.status : null;
    if (s && s.state === 'leader' && (!best || s.term > best.term)) best = s;
  }
  return best ? best.id : null;
}

/** Checks a parsed recording file; throws an Error naming what is wrong. */
export function checkRecording(value) {
  if (!value || typeof value !== 'object' || value.format !== RECORDING_FORMAT) throw new Error('not a raftquotes recording');
  if (value.version !== RECORDING_VERSION) throw new Error(`recording version ${value.version} is not supported`);
  if (!Array.isArray(value.frames) || value.frames.length === 0 || value.frames.length > LAB_LIMITS.maxFrames) throw new Error(`frames: 1 to ${LAB_LIMITS.maxFrames} expected`);
  if (!Array.isArray(value.events) || value.events.length > LAB_LIMITS.maxEvents) throw new Error(`events: at most ${LAB_LIMITS.maxEvents} expected`);
  for (const [i, f] of value.frames.entries()) {
    if (!f || typeof f.at !== 'number' || !f.cluster || !Array.isArray(f.cluster.nodes)) throw new Error(`frames[${i}] is malformed`);
  }
  for (const [i, e] of value.events.entries()) {
    if (!e || typeof e.at !== 'number' || typeof e.type !== 'string' || typeof e.node !== 'string') throw new Error(`events[${i}] is malformed`);
  }
  return value;
}

/**
 * Creates the lab. `host` is the dashboard: render(cluster) draws a cluster view,
 * ringElement() and ringPosition(i, n) give the ring's geometry, status(text, tone) shows a
 * line, stopPolling() stops the live polls (a recording opened from a file replaces them).
 * Everything below works on one `lab`: {host, ui, state, controls}.
 */
export function createLab(host) {
  const lab = { host, ui: buildPanel(host), state: newLabState(), controls: null };
  lab.controls = clusterControls(lab.state);
  wireClusterControls(lab);
  wireTimeline(lab);
  return {
    isLive: () => lab.state.mode === 'live',
    onCluster(cluster) {
      recordFrame(lab, cluster);
      fillNodeSelects(lab.ui, lab.state.nodeIds);
    },
    drawHeld: (cluster) => drawHeld(lab, cluster),
    start: () => void pollEventsForever(lab),
    controls: lab.controls,
    state: lab.state,
  };
}

function newLabState() {
  return {
    /** Cluster views seen, oldest first: [{at, cluster}]. */
    frames: [],
    /** Every node's events merged, sorted by time, each with its node. */
    events: [],
    /** The last event seq read from each node. */
    lastSeq: new Map(),
    /** 'live': draw polls; 'scrub': show a past frame; 'file': a recording with no cluster. */
    mode: 'live',
    frameIndex: -1,
    paused: false,
    nodeIds: [],
    playing: false,
  };
}

// ---------------------------------------------------------------------------------------
// Admin requests: every control is a POST through the node serving the page

async function postAdmin(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(LAB_LIMITS.requestTimeoutMs) });
  let reply = null;
  try {
    reply = await res.json();
  } catch {
    // not JSON
  }
  if (!res.ok) throw new Error(`${path} on ${body.node}: ${describeError(res.status, reply)}`);
  return reply;
}

const setLink = (node, to, fields) => postAdmin('/api/admin/link', { node, to, ...fields });
const setClock = (node, fields) => postAdmin('/api/admin/clock', { node, ...fields });

/** The lab's controls of the whole cluster (the scenarios script them too). */
function clusterControls(state) {
  const onEveryNode = (fn) => Promise.all(state.nodeIds.map(fn));
  return {
    async pause() {
      await onEveryNode((id) => setClock(id, { rate: 0 }));
      await onEveryNode((id) => setLink(id, '*', { mode: 'hold' }));
      state.paused = true;
    },
    async resume() {
      await onEveryNode((id) => setLink(id, '*', { mode: 'open' }));
      await onEveryNode((id) => setClock(id, { rate: 1 }));
      state.paused = false;
    },
    async slow(rate) {
      await onEveryNode((id) => setClock(id, { rate }));
    },
    tick: (n) => onEveryNode((id) => setClock(id, { tick: n })),
    deliver: (from, to, n = 1) => setLink(from, to, { step: n }),
    drop: (from, to, n = 1) => setLink(from, to, { drop: n }),
    async cut(a, b) {
      await Promise.all([setLink(a, b, { mode: 'drop' }), setLink(b, a, { mode: 'drop' })]);
    },
    async heal(a, b) {
      // A healed link of a paused cluster holds, like every other link.
      const mode = state.paused ? 'hold' : 'open';
      await Promise.all([setLink(a, b, { mode }), setLink(b, a, { mode })]);
    },
    campaign: (id) => postAdmin('/api/admin/timeout', { node: id }),
    stepDown: (id) => postAdmin('/api/admin/step-down', { node: id }),
    /** Releases the oldest held message of the whole cluster; returns it, or null. */
    async stepOldest() {
      const oldest = oldestHeld(latestFrame(state)?.cluster);
      if (oldest) await setLink(oldest.from, oldest.to, { step: 1 });
      return oldest;
    },
  };
}

/** Runs a control, saying what it does, then that it is done or why it failed. */
async function runControl(host, label, body) {
  host.status(`${label}…`, 'info');
  try {
    await body();
    host.status(`${label}: done.`, 'ok');
  } catch (err) {
    host.status(`${label} failed: ${err instanceof Error ? err.message : String(err)}`, 'error');
  }
}

function wireClusterControls(lab) {
  const { ui, controls, state, host } = lab;
  const on = (button, label, body) => button.addEventListener('click', () => void runControl(host, typeof label === 'function' ? label() : label, body));
  on(ui.pause, () => (state.paused ? 'Resume the cluster' : 'Pause the cluster'), async () => {
    await (state.paused ? controls.resume() : controls.pause());
    updateScrubber(lab);
  });
  on(ui.stepMessage, 'Deliver the oldest held message', async () => {
    if (!(await controls.stepOldest())) throw new Error('no message is held');
  });
  on(ui.tick, 'One tick on every node', () => controls.tick(1));
  on(ui.heartbeat, `${LAB_LIMITS.heartbeatTicks} ticks on every node`, () => controls.tick(LAB_LIMITS.heartbeatTicks));
  on(ui.slow, 'Slow motion (0.1×)', () => controls.slow(0.1));
  on(ui.realTime, 'Real time', () => controls.slow(1));
  on(ui.cut, () => `Cut ${ui.linkA.value} ↔ ${ui.linkB.value}`, () => controls.cut(ui.linkA.value, ui.linkB.value));
  on(ui.heal, () => `Heal ${ui.linkA.value} ↔ ${ui.linkB.value}`, () => controls.heal(ui.linkA.value, ui.linkB.value));
}

// ---------------------------------------------------------------------------------------
// Recording: the cluster views polled by the page and every node's events

function latestFrame(state) {
  return state.frames[state.frames.length - 1];
}

/** Keeps a polled cluster view (bounded), and follows it when the timeline is live. */
function recordFrame(lab, cluster) {
  const { state } = lab;
  state.nodeIds = cluster.nodes.map((n) => n.id);
  state.frames.push({ at: Date.now(), cluster });
  if (state.frames.length > LAB_LIMITS.maxFrames) state.frames.shift();
  state.paused = cluster.nodes.some((n) => n.status?.clock?.rate === 0);
  if (state.mode === 'live') state.frameIndex = state.frames.length - 1;
  updateScrubber(lab);
}

/** One page of a node's events after `after`, or null when the node does not answer. */
async function fetchEvents(id, after) {
  try {
    const res = await fetch(`/api/events?node=${encodeURIComponent(id)}&after=${after}&limit=${LAB_LIMITS.eventsPage}`, { cache: 'no-store', signal: AbortSignal.timeout(LAB_LIMITS.requestTimeoutMs) });
    if (!res.ok) return null;
    const page = await res.json();
    return Array.isArray(page.events) ? page.events : null;
  } catch {
    return null; // the node is down: its events resume from the same seq later
  }
}

async function pollEvents(lab) {
  const { state } = lab;
  for (const id of state.nodeIds) {
    const events = await fetchEvents(id, state.lastSeq.get(id) || 0);
    if (!events || events.length === 0) continue;
    for (const e of events) state.events.push({ ...e, node: id });
    state.lastSeq.set(id, events[events.length - 1].seq);
  }
  state.events.sort((a, b) => a.at - b.at);
  if (state.events.length > LAB_LIMITS.maxEvents) state.events.splice(0, state.events.length - LAB_LIMITS.maxEvents);
  if (state.mode === 'live') renderEvents(lab, Date.now());
}

async function pollEventsForever(lab) {
  while (lab.state.mode !== 'file') {
    await pollEvents(lab);
    await sleep(LAB_LIMITS.eventsPollMs);
  }
}

function exportRecording(state) {
  const recording = { format: RECORDING_FORMAT, version: RECORDING_VERSION, exportedAt: new Date().toISOString(), frames: state.frames, events: state.events };
  const blob = new Blob([JSON.stringify(recording)], { type: 'application/json' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `raftquotes-recording-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

function openRecording(lab, file) {
  if (file.size > LAB_LIMITS.maxRecordingBytes) {
    lab.host.status(`That file is over ${LAB_LIMITS.maxRecordingBytes / 1024 / 1024} MiB.`, 'error');
    return;
  }
  const reader = new FileReader();
  reader.onload = () => {
    try {
      replayRecording(lab, checkRecording(JSON.parse(String(reader.result))), file.name);
    } catch (err) {
      lab.host.status(`Could not open the recording: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
  };
  reader.readAsText(file);
}

/** Replaces the live cluster with a checked recording, shown from its first view. */
function replayRecording(lab, recording, name) {
  const { state, host, ui } = lab;
  state.mode = 'file';
  state.frames = recording.frames;
  state.events = recording.events;
  host.stopPolling();
  ui.mode.textContent = `Replaying ${name}`;
  scrubTo(lab, 0);
  host.status(`Opened a recording of ${recording.frames.length} views and ${recording.events.length} events.`, 'ok');
}

// ---------------------------------------------------------------------------------------
// The timeline: scrub back, go live, play

function scrubTo(lab, index) {
  const { state } = lab;
  if (state.frames.length === 0) return;
  state.frameIndex = Math.max(0, Math.min(state.frames.length - 1, index));
  if (state.mode === 'live') state.mode = 'scrub';
  const frame = state.frames[state.frameIndex];
  lab.host.render(frame.cluster);
  renderEvents(lab, frame.at);
  updateScrubber(lab);
}

function goLive(lab) {
  const { state } = lab;
  if (state.mode === 'file') return;
  state.mode = 'live';
  state.playing = false;
  scrubTo(lab, state.frames.length - 1);
  state.mode = 'live';
  updateScrubber(lab);
}

/** Plays the frames from the one shown (from the first at the end), at most replayFrameMs apart; a second call stops. */
async function togglePlay(lab) {
  const { state } = lab;
  if (state.playing) {
    state.playing = false;
    return;
  }
  state.playing = true;
  if (state.frameIndex >= state.frames.length - 1) scrubTo(lab, 0);
  updateScrubber(lab);
  while (state.playing && state.frameIndex < state.frames.length - 1) {
    const gap = state.frames[state.frameIndex + 1].at - state.frames[state.frameIndex].at;
    await sleep(Math.min(LAB_LIMITS.replayFrameMs, Math.max(0, gap)));
    if (!state.playing) break;
    scrubTo(lab, state.frameIndex + 1);
  }
  state.playing = false;
  updateScrubber(lab);
}

function updateScrubber(lab) {
  const { state, ui } = lab;
  ui.scrubber.max = String(Math.max(0, state.frames.length - 1));
  ui.scrubber.value = String(Math.max(0, state.frameIndex));
  const frame = state.frames[state.frameIndex];
  ui.time.textContent = frame ? timeOf(frame.at) : '–';
  ui.mode.dataset.mode = state.mode;
  if (state.mode !== 'file') ui.mode.textContent = state.mode === 'live' ? 'Live' : 'Looking back';
  ui.live.disabled = state.mode !== 'scrub';
  ui.play.textContent = state.playing ? 'Stop' : 'Play';
  ui.pause.textContent = state.paused ? 'Resume' : 'Pause cluster';
  ui.pause.dataset.paused = String(state.paused);
  // Only switched off for a recording: in live mode each control (the scenario's Next, while a
  // step runs or after the last one) keeps the state its owner gave it.
  if (state.mode === 'file') for (const b of ui.liveOnly) b.disabled = true;
}

/** The newest events up to `at` (at most eventsShown), oldest first, heartbeats left out if asked. */
function eventsUpTo(events, at, hideNoise) {
  const shown = [];
  for (let i = upperBound(events, at) - 1; i >= 0 && shown.length < LAB_LIMITS.eventsShown; i--) {
    const e = events[i];
    if (hideNoise && NOISY.has(e.msg)) continue;
    shown.push(e);
  }
  return shown.reverse();
}

function renderEvents(lab, at) {
  const { ui, state } = lab;
  ui.events.replaceChildren(...eventsUpTo(state.events, at, ui.hideHeartbeats.checked).map((e) => {
    const li = el('li', `event event-${e.type}`);
    li.append(el('time', 'event-time', timeOf(e.at)), el('span', 'event-text', describeEvent(e)));
    return li;
  }));
}

function wireTimeline(lab) {
  const { ui, state } = lab;
  ui.scrubber.addEventListener('input', () => scrubTo(lab, Number(ui.scrubber.value)));
  ui.live.addEventListener('click', () => goLive(lab));
  ui.play.addEventListener('click', () => void togglePlay(lab));
  ui.exportButton.addEventListener('click', () => exportRecording(state));
  ui.open.addEventListener('change', () => {
    const file = ui.open.files?.[0];
    if (file) openRecording(lab, file);
  });
  ui.hideHeartbeats.addEventListener('change', () => renderEvents(lab, state.frames[state.frameIndex]?.at ?? Date.now()));
}

// ---------------------------------------------------------------------------------------
// Held messages, on the ring and in the table

/** Draws each held message as a labelled dot on the line from its sender to its receiver, and lists them. */
function drawHeld(lab, cluster) {
  const { ui, host } = lab;
  const nodes = cluster.nodes || [];
  const position = new Map(nodes.map((n, i) => [n.id, host.ringPosition(i, nodes.length)]));
  const dots = [];
  const links = [];
  for (const node of nodes) {
    for (const [to, messages] of Object.entries(heldOf(node))) {
      if (!Array.isArray(messages)) continue;
      const from = position.get(node.id);
      const dest = position.get(to);
      if (from && dest) messages.slice(0, LAB_LIMITS.heldDrawnPerLink).forEach((m, i) => dots.push(heldDot(node.id, to, m, pointOnLink(from, dest, i))));
      links.push({ from: node.id, to, messages, total: Number(node.status.heldCount?.[to]) || messages.length });
    }
  }
  ui.heldLayer(host.ringElement()).replaceChildren(...dots);
  syncHeldRows(lab, links);
  ui.heldEmpty.hidden = links.length > 0;
}

/**
 * Updates the Held table in place, one row per link, keyed by the link. Rebuilding it on every
 * poll (5 a second) replaced the Deliver and Drop buttons under the pointer, so a click whose
 * press and release straddled a poll was lost; a row and its buttons now live as long as the link holds messages.
 */
function syncHeldRows(lab, links) {
  const body = lab.ui.heldBody;
  const existing = new Map([...body.children].map((row) => [row.getAttribute('data-testid'), row]));
  const wanted = links.map((link) => {
    const row = existing.get(`held-${link.from}-${link.to}`) || heldRow(link.from, link.to);
    updateHeldRow(lab, row, link);
    return row;
  });
  for (const row of existing.values()) {
    if (!wanted.includes(row)) row.remove();
  }
  wanted.forEach((row, i) => {
    if (body.children[i] !== row) body.insertBefore(row, body.children[i] || null);
  });
}

function heldOf(node) {
  return node.reachable && node.status?.held ? node.status.held : {};
}

/** Where the i-th held message of a link sits: spread over the middle of the line, oldest nearest the sender. */
function pointOnLink(from, dest, i) {
  const f = 0.3 + (0.45 * (i + 1)) / (LAB_LIMITS.heldDrawnPerLink + 1);
  return { x: from.x + (dest.x - from.x) * f, y: from.y + (dest.y - from.y) * f };
}

function heldDot(from, to, m, at) {
  const g = svg('g', { class: 'held-msg', 'data-type': m.type, transform: `translate(${at.x.toFixed(1)} ${at.y.toFixed(1)})` });
  const title = svg('title', {});
  title.textContent = `${from} → ${to}: ${m.type} term ${m.term} index ${m.index}${m.entries ? `, ${m.entries} entries` : ''}`;
  const label = svg('text', { dy: -5, 'text-anchor': 'middle' });
  label.textContent = `${SHORT[m.type] || m.type} t${m.term}`;
  g.append(title, svg('circle', { r: 3.5 }), label);
  return g;
}

function heldRow(from, to) {
  const row = el('tr');
  row.setAttribute('data-testid', `held-${from}-${to}`);
  row.append(el('th', 'held-link', `${from} → ${to}`), el('td', 'num', ''), el('td', 'held-list', ''), el('td', 'held-actions'));
  return row;
}

/** Sets a row's count, message list and buttons, touching only what changed. */
function updateHeldRow(lab, row, { from, to, messages, total }) {
  const [, count, list, actions] = row.children;
  row.setAttribute('data-count', String(total));
  const text = messages.slice(0, 4).map((m) => `${m.type} t${m.term} i${m.index}${m.entries ? ` +${m.entries}` : ''}`).join(' · ') + (messages.length > 4 ? ' …' : '');
  if (count.textContent !== String(total)) count.textContent = String(total);
  if (list.textContent !== text) list.textContent = text;
  const wantButtons = Boolean(messages[0]) && lab.state.mode !== 'file';
  if (wantButtons && actions.childElementCount === 0) actions.append(...heldButtons(lab, from, to));
  else if (!wantButtons && actions.childElementCount > 0) actions.replaceChildren();
}

function heldButtons(lab, from, to) {
  const { host, controls } = lab;
  return [
    button('Deliver', `btn-deliver-${from}-${to}`, `Deliver the oldest message from ${from} to ${to}`, () => void runControl(host, `Deliver ${from} → ${to}`, () => controls.deliver(from, to))),
    button('Drop', `btn-drop-${from}-${to}`, `Drop the oldest message from ${from} to ${to}`, () => void runControl(host, `Drop ${from} → ${to}`, () => controls.drop(from, to))),
  ];
}

/** Index of the first event after `at` (events are sorted by time). */
function upperBound(events, at) {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (events[mid].at <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The held message of the cluster view that was held first, with its link. */
function oldestHeld(cluster) {
  let oldest = null;
  for (const node of cluster?.nodes || []) {
    for (const [to, messages] of Object.entries(node.status?.held || {})) {
      const m = Array.isArray(messages) ? messages[0] : null;
      if (m && (!oldest || m.heldAt < oldest.heldAt)) oldest = { ...m, from: node.id, to };
    }
  }
  return oldest;
}

function fillNodeSelects(ui, ids) {
  for (const [select, fallback] of [[ui.linkA, 0], [ui.linkB, 1]]) {
    if (select.options.length === ids.length) continue;
    const keep = select.value;
    select.replaceChildren(...ids.map((id) => {
      const option = el('option', '', id);
      option.value = id;
      return option;
    }));
    select.value = ids.includes(keep) ? keep : ids[fallback] || '';
  }
}

function buildPanel(host) {
  const get = (id) => $(id);
  let layer = null;
  return {
    pause: get('lab-pause'),
    stepMessage: get('lab-step-message'),
    tick: get('lab-tick'),
    heartbeat: get('lab-heartbeat'),
    slow: get('lab-slow'),
    realTime: get('lab-real-time'),
    linkA: /** @type {HTMLSelectElement} */ (get('lab-link-a')),
    linkB: /** @type {HTMLSelectElement} */ (get('lab-link-b')),
    cut: get('lab-cut'),
    heal: get('lab-heal'),
    scrubber: /** @type {HTMLInputElement} */ (get('lab-scrubber')),
    time: get('lab-time'),
    mode: get('lab-mode'),
    live: /** @type {HTMLButtonElement} */ (get('lab-live')),
    play: get('lab-play'),
    exportButton: get('lab-export'),
    open: /** @type {HTMLInputElement} */ (get('lab-open')),
    events: get('lab-events'),
    hideHeartbeats: /** @type {HTMLInputElement} */ (get('lab-hide-heartbeats')),
    heldBody: get('lab-held-body'),
    heldEmpty: get('lab-held-empty'),
    liveOnly: [...document.querySelectorAll('[data-live-only]')],
    heldLayer(ring) {
      if (!layer || layer.parentNode !== ring) {
        layer = svg('g', { class: 'held-layer', 'data-testid': 'held-layer' });
        ring.append(layer);
      }
      ring.append(layer); // keep it above the nodes
      return layer;
    },
    host,
  };
}
