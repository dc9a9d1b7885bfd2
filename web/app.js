/* global AbortSignal */
// The quote board: a post form with safe retries, and a live list of quotes (newest first).
//
// Live updates come from the WebSocket /api/live?after=<cursor>. The cursor is the highest
// log index received from a gapless source (the stream or GET /api/quotes), so a reconnect
// resumes exactly where it stopped: no gap, no duplicate. Quotes returned by our own POST are
// shown at once but never move the cursor (the stream may not have reached them yet).
//
// Failover (SPEC §3 "Other nodes' pages"): the page learns the members' URLs from
// /api/cluster. When its node stops answering, it moves the stream, the polls and the posts to
// the first member that answers, resuming /api/live from the same cursor, and says so in the
// connection indicator. Every member answers a page served by any member (CORS).
//
// User text is only ever written with textContent (SPEC §7).

import { POST_LIMITS, describeError, formatTime, isRetryable, newIdempotencyKey, retryDelayMs, sleep } from '/static/common.js';

/** Named limits of the page. */
const LIMITS = {
  /** Most quotes kept in the DOM; older ones are dropped from the bottom. */
  maxRendered: 500,
  /** POST attempts for one quote (same Idempotency-Key every time). */
  postAttempts: 8,
  /** One POST attempt is abandoned (outcome unknown, so retried) after this long. */
  postAttemptTimeoutMs: 12_000,
  /** WebSocket reconnect backoff. */
  reconnectBaseMs: 250,
  reconnectMaxMs: 4_000,
  /** Consecutive WebSocket failures before falling back to polling. */
  failuresBeforePolling: 3,
  /** While polling, how often to poll and how often to try the WebSocket again. */
  pollIntervalMs: 1_500,
  wsRetryWhilePollingMs: 3_000,
  /** No message (status arrives ~5×/s) for this long means the socket is dead. */
  silenceMs: 5_000,
  pageSize: 1_000,
  /** Consecutive failures against one node before checking whether it is gone. */
  failuresBeforeFailover: 2,
  /** A member that does not answer GET /api/status within this long is skipped. */
  probeTimeoutMs: 2_000,
  /** How often the list of members is refreshed from the current node. */
  membersRefreshMs: 30_000,
  /**
   * After a refresh that learned no member (the node was slow or restarting), the next one
   * comes this soon, doubling up to membersRefreshMs: a page without the list cannot fail over.
   */
  membersRetryMs: 1_000,
  /** Most members taken from /api/cluster (a cluster has 5; the bound guards a bad answer). */
  maxMembers: 64,
  /** Public URLs looked at per member (a node announces at most 4). */
  maxPublicUrls: 8,
};

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const ui = {
  form: /** @type {HTMLFormElement} */ ($('post-form')),
  text: /** @type {HTMLTextAreaElement} */ ($('quote-input')),
  author: /** @type {HTMLInputElement} */ ($('author-input')),
  submit: /** @type {HTMLButtonElement} */ ($('quote-submit')),
  status: $('post-status'),
  textCounter: $('text-counter'),
  authorCounter: $('author-counter'),
  list: $('quotes'),
  empty: $('feed-empty'),
  count: $('feed-count'),
  connection: $('connection'),
  connectionState: $('connection-state'),
  connectionNode: $('connection-node'),
  connectionLeader: $('connection-leader'),
  connectionTerm: $('connection-term'),
  connectionMoved: $('connection-moved'),
  announce: $('connection-announce'),
};

// ---------------------------------------------------------------------------------------
// The list of quotes

/** Highest index received from a gapless source; the resume point of the stream. */
let cursor = 0;
/** Indexes of the quotes in the list (from any source). */
const shown = new Set();

/** Builds the element for one quote. Every piece of user text goes through textContent. */
function quoteElement(quote) {
  const item = document.createElement('li');
  item.className = 'quote';
  item.setAttribute('data-testid', 'quote');
  item.setAttribute('data-index', String(quote.index));

  const text = document.createElement('blockquote');
  text.className = 'quote-text';
  text.setAttribute('data-testid', 'quote-text');
  text.textContent = quote.text;

  const footer = document.createElement('div');
  footer.className = 'quote-foot';
  const author = document.createElement('cite');
  author.className = 'quote-author';
  author.setAttribute('data-testid', 'quote-author');
  author.textContent = quote.author ? quote.author : 'Anonymous';
  if (!quote.author) author.classList.add('anonymous');
  const meta = document.createElement('span');
  meta.className = 'quote-meta';
  const time = document.createElement('time');
  time.dateTime = String(quote.postedAt ?? '');
  time.textContent = formatTime(quote.postedAt);
  const where = document.createElement('span');
  where.className = 'quote-index';
  where.textContent = `#${quote.index} · term ${quote.term}`;
  where.title = 'Raft log index and term of the entry that committed this quote';
  meta.append(time, where);
  footer.append(author, meta);

  item.append(text, footer);
  return item;
}

/** Inserts a quote in newest-first order; ignores one already shown. */
function showQuote(quote, { fresh = true } = {}) {
  if (!quote || typeof quote.index !== 'number' || shown.has(quote.index)) return;
  shown.add(quote.index);
  const item = quoteElement(quote);
  if (fresh) item.classList.add('fresh');
  let before = null;
  for (const child of ui.list.children) {
    if (Number(child.getAttribute('data-index')) < quote.index) {
      before = child;
      break;
    }
  }
  ui.list.insertBefore(item, before);
  while (ui.list.children.length > LIMITS.maxRendered) ui.list.lastElementChild?.remove();
  updateCount();
}

function updateCount() {
  const n = shown.size;
  ui.empty.hidden = n > 0;
  ui.count.textContent = n === 0 ? '' : `${n} ${n === 1 ? 'quote' : 'quotes'}`;
}

/** A quote from the stream or a poll: in order and gapless, so it advances the cursor. */
function receiveQuote(quote, fresh) {
  if (!quote || typeof quote.index !== 'number') return;
  showQuote(quote, { fresh });
  if (quote.index > cursor) cursor = quote.index;
}

// ---------------------------------------------------------------------------------------
// Connection indicator
//
// Status arrives about five times a second. The indicator is not a live region itself: only
// real changes (connection state, node, leader) are put into a separate, visually hidden
// announcer, so a screen reader hears each change once.

/** Writes text only when it changed (no DOM churn, no re-announcement). */
function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

const announced = { state: '', node: '', leader: '' };

/** Announces what changed since the last announcement, in one sentence. */
function announceChanges() {
  const state = ui.connection.dataset.state ?? '';
  const node = ui.connectionNode.textContent ?? '';
  const leader = ui.connectionLeader.textContent ?? '';
  const parts = [];
  if (state !== announced.state) parts.push(`Updates ${state === 'live' ? 'are live' : `are ${state}`}.`);
  if (node !== announced.node && node !== '…') parts.push(`Connected to ${node}.`);
  if (leader !== announced.leader && leader !== '…') parts.push(leader === 'none' ? 'No leader right now.' : `Leader is ${leader}.`);
  announced.state = state;
  announced.node = node;
  announced.leader = leader;
  if (parts.length > 0) setText(ui.announce, parts.join(' '));
}

/** @param {'live'|'reconnecting'|'polling'} state */
function setConnectionState(state) {
  if (ui.connection.dataset.state === state) return;
  ui.connection.dataset.state = state;
  setText(ui.connectionState, state);
  announceChanges();
}

function showNodeStatus(status) {
  if (!status || typeof status !== 'object') return;
  if (typeof status.id === 'string' && status.id) {
    setText(ui.connectionNode, status.id);
    node.id = status.id;
    if (node.firstId === null) node.firstId = status.id;
    showMoved();
  }
  setText(ui.connectionLeader, typeof status.leader === 'string' && status.leader ? status.leader : 'none');
  setText(ui.connectionTerm, typeof status.term === 'number' ? String(status.term) : '…');
  const nodeState = String(status.state ?? '');
  if (ui.connection.dataset.nodeState !== nodeState) ui.connection.dataset.nodeState = nodeState;
  announceChanges();
}

/** Says when the page is served through another node than the one it was loaded from. */
function showMoved() {
  const moved = node.origin !== location.origin && node.firstId !== null && node.id !== node.firstId;
  ui.connectionMoved.hidden = !moved;
  setText(ui.connectionMoved, moved ? `(${node.firstId} is down)` : '');
  ui.connection.dataset.moved = String(moved);
}

async function fetchStatus() {
  try {
    const res = await fetch(apiUrl('/api/status'), { signal: AbortSignal.timeout(3_000), cache: 'no-store' });
    if (res.ok) showNodeStatus(await res.json());
  } catch {
    // the indicator keeps its last values; the connection state tells the story
  }
}

// ---------------------------------------------------------------------------------------
// Which node the page talks to, and moving to another when it is gone

const node = {
  /** Origin (scheme://host:port) of the node the page talks to; at first, the page's own. */
  origin: location.origin,
  /** Its id, once a status has named it. */
  id: /** @type {string|null} */ (null),
  /** The id of the node that served the page. */
  firstId: /** @type {string|null} */ (null),
  /** Members in configuration order: [{id, origin}], from /api/cluster. */
  members: /** @type {Array<{id: string, origin: string}>} */ ([]),
  /** A failover in progress (so lost sockets and failed polls start only one). */
  switching: /** @type {Promise<boolean>|null} */ (null),
  membersTimer: 0,
  /** The wait before the next refresh after one that learned no member. */
  membersRetryMs: LIMITS.membersRetryMs,
};

function apiUrl(path) {
  return `${node.origin}${path}`;
}

/** The origin of an http(s) URL, or null. */
function originOf(url) {
  try {
    const parsed = new URL(String(url));
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.origin : null;
  } catch {
    return null;
  }
}

/**
 * Where the browser reaches a member: one of its public URLs (`--public-url`; in the Docker
 * layout the advertised URL is internal to the network), preferring one on the same host name
 * as this page, then its advertised URL.
 */
function memberOrigin(entry) {
  const given = Array.isArray(entry?.publicUrls) ? entry.publicUrls.slice(0, LIMITS.maxPublicUrls) : [];
  const origins = given.map(originOf).filter(Boolean);
  const sameHost = origins.find((origin) => new URL(origin).hostname === location.hostname);
  return sameHost || origins[0] || originOf(entry?.http);
}

/** Learns the members' URLs from the current node (SPEC §3 GET /api/cluster: nodes[].id, .publicUrls, .http). */
async function refreshMembers() {
  clearTimeout(node.membersTimer);
  let learned = false;
  try {
    const res = await fetch(apiUrl('/api/cluster'), { signal: AbortSignal.timeout(5_000), cache: 'no-store' });
    const body = res.ok ? await res.json() : null;
    const nodes = Array.isArray(body?.nodes) ? body.nodes.slice(0, LIMITS.maxMembers) : [];
    const members = [];
    for (const entry of nodes) {
      const origin = memberOrigin(entry);
      if (typeof entry?.id === 'string' && origin) members.push({ id: entry.id, origin });
    }
    if (members.length > 0) node.members = members;
    learned = members.length > 0;
  } catch {
    // keep the list we have; it is refreshed again soon
  }
  const next = learned ? LIMITS.membersRefreshMs : node.membersRetryMs;
  node.membersRetryMs = learned ? LIMITS.membersRetryMs : Math.min(LIMITS.membersRefreshMs, node.membersRetryMs * 2);
  node.membersTimer = setTimeout(refreshMembers, next);
}

/** Whether a node answers GET /api/status in time; the status, if so. */
async function probe(origin) {
  try {
    const res = await fetch(`${origin}/api/status`, { signal: AbortSignal.timeout(LIMITS.probeTimeoutMs), cache: 'no-store' });
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}

/**
 * If the current node does not answer, moves to the next member (in configuration order,
 * after the current one) that does. Resolves true when the page moved. One at a time.
 */
function failover() {
  node.switching ??= (async () => {
    try {
      if (await probe(node.origin)) return false;
      const others = node.members.filter((m) => m.origin !== node.origin);
      const at = node.members.findIndex((m) => m.origin === node.origin);
      const ordered = at < 0 ? others : [...node.members.slice(at + 1), ...node.members.slice(0, at)];
      for (const member of ordered) {
        const status = await probe(member.origin);
        if (!status) continue;
        node.origin = member.origin;
        showNodeStatus(status);
        return true;
      }
      return false;
    } finally {
      node.switching = null;
    }
  })();
  return node.switching;
}

// ---------------------------------------------------------------------------------------
// Live stream with reconnect, and polling as the fallback

const live = {
  /** Incremented for every socket, so handlers of an old socket do nothing. */
  generation: 0,
  socket: /** @type {WebSocket|null} */ (null),
  failures: 0,
  silenceTimer: 0,
  reconnectTimer: 0,
  polling: false,
  pollTimer: 0,
};

function liveUrl() {
  const url = new URL(node.origin);
  const scheme = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${url.host}/api/live?after=${cursor}`;
}

function connect() {
  clearTimeout(live.reconnectTimer);
  const generation = ++live.generation;
  let opened = false;
  let socket;
  try {
    socket = new WebSocket(liveUrl());
  } catch {
    onSocketLost(generation, false);
    return;
  }
  live.socket = socket;
  const current = () => generation === live.generation;
  socket.addEventListener('open', () => {
    if (!current()) return;
    opened = true;
    live.failures = 0;
    stopPolling();
    setConnectionState('live');
    armSilenceTimer(generation);
  });
  socket.addEventListener('message', (event) => {
    if (!current()) return;
    armSilenceTimer(generation);
    onLiveMessage(event.data);
  });
  socket.addEventListener('close', () => current() && onSocketLost(generation, opened));
  socket.addEventListener('error', () => current() && onSocketLost(generation, opened));
}

function onLiveMessage(data) {
  let message;
  try {
    message = JSON.parse(String(data));
  } catch {
    return;
  }
  if (message?.type === 'quote') receiveQuote(message.quote, true);
  else if (message?.type === 'status') showNodeStatus(message.status);
}

function armSilenceTimer(generation) {
  clearTimeout(live.silenceTimer);
  live.silenceTimer = setTimeout(() => {
    if (generation === live.generation) live.socket?.close();
    onSocketLost(generation, true);
  }, LIMITS.silenceMs);
}

/** Called once per lost socket (close and error both land here; the generation check dedups). */
function onSocketLost(generation, wasOpen) {
  if (generation !== live.generation) return;
  live.generation++; // retire this socket's handlers
  clearTimeout(live.silenceTimer);
  try {
    live.socket?.close();
  } catch {
    // already closed
  }
  live.socket = null;
  live.failures = wasOpen ? 1 : live.failures + 1;
  if (live.failures >= LIMITS.failuresBeforeFailover) {
    if (!live.polling) setConnectionState('reconnecting');
    void failover().then((moved) => afterFailoverCheck(moved));
    return;
  }
  scheduleReconnect();
}

/** After a lost socket was checked: on a new node, connect at once; otherwise back off or poll. */
function afterFailoverCheck(moved) {
  if (live.socket) return;
  if (moved) {
    live.failures = 0;
    connect();
    return;
  }
  scheduleReconnect();
}

function scheduleReconnect() {
  clearTimeout(live.reconnectTimer);
  if (live.failures >= LIMITS.failuresBeforePolling) {
    startPolling();
    live.reconnectTimer = setTimeout(connect, LIMITS.wsRetryWhilePollingMs);
    return;
  }
  if (!live.polling) setConnectionState('reconnecting');
  const delay = Math.min(LIMITS.reconnectMaxMs, LIMITS.reconnectBaseMs * 2 ** (live.failures - 1));
  live.reconnectTimer = setTimeout(connect, delay * (0.75 + Math.random() * 0.5));
}

function startPolling() {
  setConnectionState('polling');
  if (live.polling) return;
  live.polling = true;
  void pollOnce();
}

function stopPolling() {
  live.polling = false;
  clearTimeout(live.pollTimer);
}

/** One round of polling: every page of quotes after the cursor, then this node's status. */
async function pollOnce() {
  try {
    for (let page = 0; page < 20 && live.polling; page++) {
      const res = await fetch(apiUrl(`/api/quotes?after=${cursor}&limit=${LIMITS.pageSize}`), { signal: AbortSignal.timeout(5_000), cache: 'no-store' });
      if (!res.ok) break;
      const body = await res.json();
      const quotes = Array.isArray(body?.quotes) ? body.quotes : [];
      if (!live.polling) return; // the socket came back meanwhile; it owns the cursor now
      for (const quote of quotes) receiveQuote(quote, true);
      if (quotes.length < LIMITS.pageSize) break;
    }
    await fetchStatus();
  } catch {
    // this node is unreachable: move to another if it is gone, else try again next round
    if (live.polling && (await failover())) {
      clearTimeout(live.reconnectTimer);
      connect();
    }
  }
  if (live.polling) live.pollTimer = setTimeout(pollOnce, LIMITS.pollIntervalMs);
}

// ---------------------------------------------------------------------------------------
// The post form

let posting = false;

function validation() {
  const text = ui.text.value.trim();
  const author = ui.author.value.trim();
  if (text.length === 0) return { ok: false, why: 'Write a quote first.' };
  if (text.length > POST_LIMITS.textMax) return { ok: false, why: `A quote is at most ${POST_LIMITS.textMax} characters.` };
  if (author.length > POST_LIMITS.authorMax) return { ok: false, why: `An author is at most ${POST_LIMITS.authorMax} characters.` };
  return { ok: true, text, author };
}

function refreshForm() {
  const textLength = ui.text.value.length;
  const authorLength = ui.author.value.length;
  ui.textCounter.textContent = `${textLength} / ${POST_LIMITS.textMax}`;
  ui.authorCounter.textContent = `${authorLength} / ${POST_LIMITS.authorMax}`;
  ui.textCounter.classList.toggle('near-limit', textLength > POST_LIMITS.textMax * 0.9);
  ui.authorCounter.classList.toggle('near-limit', authorLength > POST_LIMITS.authorMax * 0.9);
  ui.submit.disabled = posting || !validation().ok;
}

/** @param {'info'|'ok'|'warn'|'error'} tone */
function setPostStatus(message, tone = 'info') {
  ui.status.textContent = message;
  ui.status.dataset.tone = tone;
}

/** One POST attempt. Resolves with {kind:'ok', quote} | {kind:'retry', ...} | {kind:'fail', ...}. */
async function postAttempt(body, key) {
  let res;
  try {
    res = await fetch(apiUrl('/api/quotes'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(LIMITS.postAttemptTimeoutMs),
    });
  } catch {
    // The next attempt goes to another node if this one is gone (same Idempotency-Key).
    await failover();
    return { kind: 'retry', why: 'The server did not answer.' };
  }
  let payload = null;
  try {
    payload = await res.json();
  } catch {
    // not JSON
  }
  if (res.ok && payload?.quote) return { kind: 'ok', quote: payload.quote };
  const retryAfter = Number(res.headers.get('retry-after'));
  const why = describeError(res.status, payload);
  if (isRetryable(res.status, payload)) return { kind: 'retry', why, retryAfterMs: Number.isFinite(retryAfter) ? retryAfter * 1000 : 0 };
  return { kind: 'fail', why };
}

/** Posts with bounded retries, all under one Idempotency-Key, so a retry never duplicates. */
async function postQuote(body) {
  const key = newIdempotencyKey();
  for (let attempt = 1; attempt <= LIMITS.postAttempts; attempt++) {
    const result = await postAttempt(body, key);
    if (result.kind !== 'retry') return result;
    if (attempt === LIMITS.postAttempts) {
      return { kind: 'fail', why: `${result.why} Gave up after ${attempt} tries; your quote may still appear. Posting again is safe only if it does not.` };
    }
    const delay = retryDelayMs(attempt, result.retryAfterMs);
    setPostStatus(`${result.why} Retrying safely (${attempt + 1}/${LIMITS.postAttempts})…`, 'warn');
    await sleep(delay);
  }
  return { kind: 'fail', why: 'Unreachable.' };
}

async function submit() {
  const check = validation();
  if (posting) return;
  if (!check.ok) {
    setPostStatus(check.why, 'error');
    return;
  }
  posting = true;
  refreshForm();
  ui.form.setAttribute('aria-busy', 'true');
  setPostStatus('Posting…', 'info');
  const body = check.author ? { text: check.text, author: check.author } : { text: check.text };
  try {
    const result = await postQuote(body);
    if (result.kind === 'ok') {
      showQuote(result.quote, { fresh: true });
      ui.text.value = '';
      setPostStatus(`Posted — committed at log index ${result.quote.index}, term ${result.quote.term}.`, 'ok');
    } else {
      setPostStatus(result.why, 'error');
    }
  } catch (err) {
    setPostStatus(`Could not post: ${err instanceof Error ? err.message : String(err)}`, 'error');
  } finally {
    posting = false;
    ui.form.removeAttribute('aria-busy');
    refreshForm();
  }
}

function wireForm() {
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submit();
  });
  const submitOnModEnter = (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      void submit();
    }
  };
  ui.text.addEventListener('keydown', submitOnModEnter);
  ui.author.addEventListener('keydown', submitOnModEnter);
  ui.text.addEventListener('input', refreshForm);
  ui.author.addEventListener('input', refreshForm);
  refreshForm();
}

// ---------------------------------------------------------------------------------------

wireForm();
updateCount();
setConnectionState('reconnecting');
void fetchStatus();
void refreshMembers();
connect();
window.addEventListener('online', () => {
  if (!live.socket) connect();
});
