/**
 * The controls of SPEC §11 for one node, in one bundle: its outgoing links (hold, step, drop),
 * its clock (slow motion, frozen, stepped), and its event ring. The node command builds it
 * around the real transport; the API's debug routes drive it.
 */
import { ControlledTransport, LinkControl } from '../transport/link-control.js';
import type { Transport } from '../transport/types.js';

// The API may not import the transport (test/architecture): it reaches these through here.
export { LINK_MODES, MAX_LINK_STEP, type HeldMessageView, type LinkMode } from '../transport/link-control.js';
import { ControllableClock } from './controllable-clock.js';
import { EventRecorder } from './event-recorder.js';
import { EventRing } from './event-ring.js';

/** What the API's /api/admin/link, /api/admin/clock and /api/events need. */
export interface DebugControls {
  link: LinkControl;
  clock: ControllableClock;
  events: EventRing;
  recorder: EventRecorder;
}

/** Options of createDebugControls. */
export interface DebugControlsOptions {
  /** Record events (default true); the event-ring A/B benchmark turns it off. */
  events?: boolean;
}

/**
 * Wraps `inner` in a ControlledTransport and wires its messages into a new event ring.
 * The caller gives the node `transport`, `clock` (as its ticker) and `recorder.observeReady`.
 */
export function createDebugControls(inner: Transport, options: DebugControlsOptions = {}): { controls: DebugControls; transport: ControlledTransport } {
  const link = new LinkControl();
  const transport = new ControlledTransport(inner, link);
  const events = new EventRing();
  events.enabled = options.events ?? true;
  const recorder = new EventRecorder(events);
  link.onEvent((kind, message) => recorder.observeMessage(kind, message));
  transport.onReceive((message) => recorder.observeMessage('recv', message));
  return { controls: { link, clock: new ControllableClock(), events, recorder }, transport };
}
