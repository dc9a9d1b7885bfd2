/** The dashboard's rule: the leader of the highest term among reachable leaders of a /api/cluster view. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a view read from JSON, probed loosely by the tests
export function leaderOf(view: any): string {
  let best: { id: string; term: number } | null = null;
  for (const node of view?.nodes ?? []) {
    const s = node.reachable ? node.status : null;
    if (s && s.state === 'leader' && (!best || s.term > best.term)) best = s;
  }
  return best ? best.id : '';
}
