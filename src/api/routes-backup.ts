/**
 * GET /api/backup (SPEC §10): a consistent image of the state machine with its index, term
 * and configuration, in the backup file format (src/state/backup-file.ts) around the same
 * image InstallSnapshot sends. An admin action: the image holds every key and quote.
 */
import { encodeBackupHead } from '../state/backup-file.js';
import { requireAdmin } from './admin.js';
import type { ApiContext, ApiRequest } from './context.js';
import { raftHeaders, type Reply } from './reply.js';

/** Content type of a backup file. */
export const BACKUP_CONTENT_TYPE = 'application/vnd.raftquotes.backup';

/**
 * First a ReadIndex barrier, on a follower too (the leader confirms its commit index, and
 * this node applies up to it), so the image includes every write acknowledged before the
 * request; then the image, built a page per event-loop turn through a read transaction of
 * its own, so the node keeps applying and serving while it is made. Its index is the one it
 * was built at (at or past the barrier's). Answered by the node asked, never forwarded: a
 * backup from any member is as good as the leader's.
 */
export async function getBackup(ctx: ApiContext, request: ApiRequest): Promise<Reply> {
  requireAdmin(ctx, request);
  await ctx.node.readBarrier();
  const image = await ctx.node.stateMachine.buildImage();
  const { head, header } = encodeBackupHead(image, ctx.node.id, ctx.node.voters);
  return {
    status: 200,
    raw: Buffer.concat([head, image.data]),
    contentType: BACKUP_CONTENT_TYPE,
    headers: {
      ...raftHeaders(ctx.node.status().leader, header.index),
      'Content-Disposition': `attachment; filename="raftquotes-${header.index}.backup"`,
      'Cache-Control': 'no-store',
    },
  };
}
