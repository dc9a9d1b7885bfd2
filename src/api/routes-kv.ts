/**
 * SPEC §3 KV routes: GET/PUT/DELETE /api/kv/<key> and POST /api/kv/<key>/cas. The key is the
 * percent-decoded rest of the path (it may contain `/`).
 */
import { readBarrier, queryOf, readJson, type ApiContext, type ApiRequest } from './context.js';
import { ApiError } from './errors.js';
import { JSON_TYPE, jsonReply, raftHeaders, type Reply } from './reply.js';
import { checkJsonValue, decodeKey, isStaleRead, requiredField } from './validate.js';
import { proposeCommand, withIdempotencyKey } from './writes.js';

/** GET /api/kv/<key>: linearizable unless ?consistency=stale. */
export async function getKv(ctx: ApiContext, request: ApiRequest, encodedKey: string): Promise<Reply> {
  const key = decodeKey(encodedKey);
  await readBarrier(ctx, isStaleRead(queryOf(request)));
  const record = ctx.node.stateMachine.getJson(key);
  const headers = raftHeaders(ctx.node.knownLeader(), ctx.node.stateMachine.appliedIndex());
  if (!record) throw new ApiError('not_found', 'key not found', { headers });
  // The stored value is JSON.stringify's text, so this is the body JSON.stringify({key, value, index}) would give, without parsing the value to serialize it again.
  return { status: 200, headers, contentType: JSON_TYPE, raw: `{"key":${JSON.stringify(record.key)},"value":${record.valueJson},"index":${record.index}}` };
}

/** PUT /api/kv/<key> `{"value": any JSON}`. */
export async function putKv(ctx: ApiContext, request: ApiRequest, encodedKey: string): Promise<Reply> {
  const key = decodeKey(encodedKey);
  const body = await readJson(request);
  const value = requiredField(body, 'value');
  checkJsonValue('value', value);
  const { result, leader } = await proposeCommand(ctx, request, withIdempotencyKey(request, { op: 'put', key, value }));
  return jsonReply(200, { index: result.index }, raftHeaders(leader, result.index));
}

/** DELETE /api/kv/<key> (404 if absent). */
export async function deleteKv(ctx: ApiContext, request: ApiRequest, encodedKey: string): Promise<Reply> {
  const key = decodeKey(encodedKey);
  const { result, leader } = await proposeCommand(ctx, request, withIdempotencyKey(request, { op: 'delete', key }));
  return jsonReply(200, { index: result.index }, raftHeaders(leader, result.index));
}

/** POST /api/kv/<key>/cas `{"from": v1, "to": v2}` (409 with `current` on a mismatch). */
export async function casKv(ctx: ApiContext, request: ApiRequest, encodedKey: string): Promise<Reply> {
  const key = decodeKey(encodedKey);
  const body = await readJson(request);
  const from = requiredField(body, 'from');
  const to = requiredField(body, 'to');
  checkJsonValue('from', from);
  checkJsonValue('to', to);
  const { result, leader } = await proposeCommand(ctx, request, withIdempotencyKey(request, { op: 'cas', key, from, to }));
  return jsonReply(200, { index: result.index }, raftHeaders(leader, result.index));
}
