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

function timeOf(at) {
  const d = new Date(at);
  return `${d.toLocaleTimeString(undefined, { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
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
 * Creates the lab. `host` is the dashboard: render(cluster) draws a cluster view, ring gives
 * the ring's geometry, status(text, tone) shows a line.
 */
export function createLab(host) {
  const state = {
    frames: [],
    events: [],
    lastSeq: new Map(),
    /** 'live': draw polls; 'scrub': show a past frame; 'file': a recording with no cluster. */
    mode: 'live',
    frameIndex: -1,
    paused: false,
    nodeIds: [],
    playing: false,
  };
  const ui = buildPanel(host);

  // -------------------------------------------------------------------- admin requests

  async function post(path, body) {
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

  const link = (node, to, fields) => post('/api/admin/link', { node, to, ...fields });
  const clock = (node, fields) => post('/api/admin/clock', { node, ...fields });
  const onAll = (fn) => Promise.all(state.nodeIds.map(fn));

  async function act(label, body) {
    host.status(`${label}…`, 'info');
    try {
      await body();
      host.status(`${label}: done.`, 'ok');
    } catch (err) {
      host.status(`${label} failed: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
  }

  const controls = {
    async pause() {
      await onAll((id) => clock(id, { rate: 0 }));
      await onAll((id) => link(id, '*', { mode: 'hold' }));
      state.paused = true;
    },
    async resume() {
      await onAll((id) => link(id, '*', { mode: 'open' }));
      await onAll((id) => clock(id, { rate: 1 }));
      state.paused = false;
    },
    async slow(rate) {
      await onAll((id) => clock(id, { rate }));
    },
    tick: (n) => onAll((id) => clock(id, { tick: n })),
    deliver: (from, to, n = 1) => link(from, to, { step: n }),
    drop: (from, to, n = 1) => link(from, to, { drop: n }),
    async cut(a, b) {
      await Promise.all([link(a, b, { mode: 'drop' }), link(b, a, { mode: 'drop' })]);
    },
    async heal(a, b) {
      const mode = state.paused ? 'hold' : 'open';
      await Promise.all([link(a, b, { mode }), link(b, a, { mode })]);
    },
    campaign: (id) => post('/api/admin/timeout', { node: id }),
    /** Releases the oldest held message of the whole cluster; returns it, or null. */
    async stepOldest() {
      const oldest = oldestHeld(latestFrame()?.cluster);
      if (oldest) await link(oldest.from, oldest.to, { step: 1 });
      return oldest;
    },
  };

  // -------------------------------------------------------------------- recording

  function latestFrame() {
    return state.frames[state.frames.length - 1];
  }

  function onCluster(cluster) {
    state.nodeIds = cluster.nodes.map((n) => n.id);
    state.frames.push({ at: Date.now(), cluster });
    if (state.frames.length > LAB_LIMITS.maxFrames) state.frames.shift();
    state.paused = cluster.nodes.some((n) => n.status?.clock?.rate === 0);
    if (state.mode === 'live') state.frameIndex = state.frames.length - 1;
    updateScrubber();
  }

  async function pollEvents() {
    for (const id of state.nodeIds) {
      const after = state.lastSeq.get(id) || 0;
      try {
        const res = await fetch(`/api/events?node=${encodeURIComponent(id)}&after=${after}&limit=${LAB_LIMITS.eventsPage}`, { cache: 'no-store', signal: AbortSignal.timeout(LAB_LIMITS.requestTimeoutMs) });
        if (!res.ok) continue;
        const page = await res.json();
        if (!Array.isArray(page.events)) continue;
        for (const e of page.events) state.events.push({ ...e, node: id });
        if (page.events.length > 0) state.lastSeq.set(id, page.events[page.events.length - 1].seq);
      } catch {
        // the node is down: its events resume from the same seq later
      }
    }
    state.events.sort((a, b) => a.at - b.at);
    if (state.events.length > LAB_LIMITS.maxEvents) state.events.splice(0, state.events.length - LAB_LIMITS.maxEvents);
    if (state.mode === 'live') renderEvents(Date.now());
  }

  async function pollEventsForever() {
    while (state.mode !== 'file') {
      await pollEvents();
      await sleep(LAB_LIMITS.eventsPollMs);
    }
  }

  function exportRecording() {
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

  function openRecording(file) {
    if (file.size > LAB_LIMITS.maxRecordingBytes) {
      host.status(`That file is over ${LAB_LIMITS.maxRecordingBytes / 1024 / 1024} MiB.`, 'error');
      return;
    }
    const reader = new FileReader();
    reader.onload = () => {
      try {
        const recording = checkRecording(JSON.parse(String(reader.result)));
        state.mode = 'file';
        state.frames = recording.frames;
        state.events = recording.events;
        host.stopPolling();
        ui.mode.textContent = `Replaying ${file.name}`;
        scrubTo(0);
        host.status(`Opened a recording of ${recording.frames.length} views and ${recording.events.length} events.`, 'ok');
      } catch (err) {
        host.status(`Could not open the recording: ${err instanceof Error ? err.message : String(err)}`, 'error');
      }
    };
    reader.readAsText(file);
  }

  // -------------------------------------------------------------------- scrubbing

  function scrubTo(index) {
    if (state.frames.length === 0) return;
    state.frameIndex = Math.max(0, Math.min(state.frames.length - 1, index));
    if (state.mode === 'live') state.mode = 'scrub';
    const frame = state.frames[state.frameIndex];
    host.render(frame.cluster);
    renderEvents(frame.at);
    updateScrubber();
  }

  function goLive() {
    if (state.mode === 'file') return;
    state.mode = 'live';
    state.playing = false;
    scrubTo(state.frames.length - 1);
    state.mode = 'live';
    updateScrubber();
  }

  async function play() {
    if (state.playing) {
      state.playing = false;
      return;
    }
    state.playing = true;
    if (state.frameIndex >= state.frames.length - 1) scrubTo(0);
    updateScrubber();
    while (state.playing && state.frameIndex < state.frames.length - 1) {
      const gap = state.frames[state.frameIndex + 1].at - state.frames[state.frameIndex].at;
      await sleep(Math.min(LAB_LIMITS.replayFrameMs, Math.max(0, gap)));
      if (!state.playing) break;
      scrubTo(state.frameIndex + 1);
    }
    state.playing = false;
    updateScrubber();
  }

  function updateScrubber() {
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
    for (const b of ui.liveOnly) b.disabled = state.mode === 'file';
  }

  function renderEvents(at) {
    const hideNoise = ui.hideHeartbeats.checked;
    const shown = [];
    let i = upperBound(state.events, at) - 1;
    for (; i >= 0 && shown.length < LAB_LIMITS.eventsShown; i--) {
      const e = state.events[i];
      if (hideNoise && NOISY.has(e.msg)) continue;
      shown.push(e);
    }
    ui.events.replaceChildren(...shown.reverse().map((e) => {
      const li = el('li', `event event-${e.type}`);
      li.append(el('time', 'event-time', timeOf(e.at)), el('span', 'event-text', describeEvent(e)));
      return li;
    }));
  }

  // -------------------------------------------------------------------- held messages

  /** Draws each held message as a labelled dot on the line from its sender to its receiver. */
  function drawHeld(cluster) {
    const layer = ui.heldLayer(host.ringElement());
    const nodes = cluster.nodes || [];
    const position = new Map(nodes.map((n, i) => [n.id, host.ringPosition(i, nodes.length)]));
    const dots = [];
    const rows = [];
    for (const node of nodes) {
      const held = node.reachable && node.status?.held ? node.status.held : {};
      for (const [to, messages] of Object.entries(held)) {
        if (!Array.isArray(messages)) continue;
        const from = position.get(node.id);
        const dest = position.get(to);
        const total = Number(node.status.heldCount?.[to]) || messages.length;
        messages.slice(0, LAB_LIMITS.heldDrawnPerLink).forEach((m, i) => {
          if (!from || !dest) return;
          const f = 0.3 + (0.45 * (i + 1)) / (LAB_LIMITS.heldDrawnPerLink + 1);
          const g = svg('g', { class: 'held-msg', 'data-type': m.type, transform: `translate(${(from.x + (dest.x - from.x) * f).toFixed(1)} ${(from.y + (dest.y - from.y) * f).toFixed(1)})` });
          const title = svg('title', {});
          title.textContent = `${node.id} → ${to}: ${m.type} term ${m.term} index ${m.index}${m.entries ? `, ${m.entries} entries` : ''}`;
          g.append(title, svg('circle', { r: 3.5 }));
          const label = svg('text', { dy: -5, 'text-anchor': 'middle' });
          label.textContent = `${SHORT[m.type] || m.type} t${m.term}`;
          g.append(label);
          dots.push(g);
        });
        rows.push(heldRow(node.id, to, messages, total));
      }
    }
    layer.replaceChildren(...dots);
    ui.heldBody.replaceChildren(...rows);
    ui.heldEmpty.hidden = rows.length > 0;
  }

  function heldRow(from, to, messages, total) {
    const row = el('tr');
    row.setAttribute('data-testid', `held-${from}-${to}`);
    row.setAttribute('data-count', String(total));
    const first = messages[0];
    const list = messages.slice(0, 4).map((m) => `${m.type} t${m.term} i${m.index}${m.entries ? ` +${m.entries}` : ''}`).join(' · ');
    row.append(el('th', 'held-link', `${from} → ${to}`), el('td', 'num', total), el('td', 'held-list', `${list}${messages.length > 4 ? ' …' : ''}`));
    const cell = el('td', 'held-actions');
    if (first && state.mode !== 'file') {
      cell.append(
        button('Deliver', `btn-deliver-${from}-${to}`, `Deliver the oldest message from ${from} to ${to}`, () => void act(`Deliver ${from} → ${to}`, () => controls.deliver(from, to))),
        button('Drop', `btn-drop-${from}-${to}`, `Drop the oldest message from ${from} to ${to}`, () => void act(`Drop ${from} → ${to}`, () => controls.drop(from, to))),
      );
    }
    row.append(cell);
    return row;
  }

  // -------------------------------------------------------------------- wiring

  ui.pause.addEventListener('click', () => void act(state.paused ? 'Resume the cluster' : 'Pause the cluster', async () => {
    await (state.paused ? controls.resume() : controls.pause());
    updateScrubber();
  }));
  ui.stepMessage.addEventListener('click', () => void act('Deliver the oldest held message', async () => {
    if (!(await controls.stepOldest())) throw new Error('no message is held');
  }));
  ui.tick.addEventListener('click', () => void act('One tick on every node', () => controls.tick(1)));
  ui.heartbeat.addEventListener('click', () => void act(`${LAB_LIMITS.heartbeatTicks} ticks on every node`, () => controls.tick(LAB_LIMITS.heartbeatTicks)));
  ui.slow.addEventListener('click', () => void act('Slow motion (0.1×)', () => controls.slow(0.1)));
  ui.realTime.addEventListener('click', () => void act('Real time', () => controls.slow(1)));
  ui.cut.addEventListener('click', () => void act(`Cut ${ui.linkA.value} ↔ ${ui.linkB.value}`, () => controls.cut(ui.linkA.value, ui.linkB.value)));
  ui.heal.addEventListener('click', () => void act(`Heal ${ui.linkA.value} ↔ ${ui.linkB.value}`, () => controls.heal(ui.linkA.value, ui.linkB.value)));
  ui.scrubber.addEventListener('input', () => scrubTo(Number(ui.scrubber.value)));
  ui.live.addEventListener('click', goLive);
  ui.play.addEventListener('click', () => void play());
  ui.exportButton.addEventListener('click', exportRecording);
  ui.open.addEventListener('change', () => {
    const file = ui.open.files?.[0];
    if (file) openRecording(file);
  });
  ui.hideHeartbeats.addEventListener('change', () => renderEvents(state.frames[state.frameIndex]?.at ?? Date.now()));

  return {
    isLive: () => state.mode === 'live',
    onCluster(cluster) {
      onCluster(cluster);
      fillNodeSelects(ui, state.nodeIds);
    },
    drawHeld,
    start: () => void pollEventsForever(),
    controls,
    state,
  };
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
