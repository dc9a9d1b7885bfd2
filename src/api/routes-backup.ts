/**
 * GET /api/backup (SPEC §10): a consistent image of the state machine with its index, term
 * and configuration, in the backup file format (src/state/backup-file.ts) around the same
 * image InstallSnapshot sends, streamed. An admin action: the image holds every key and quote.
 */
import { createHash } from 'node:crypto';
import { encodeBackupStart, encodeBackupTrailer } from '../state/backup-file.js';
import type { ImageStream } from '../state/types.js';
import { requireAdmin } from './admin.js';
import type { ApiContext, ApiRequest } from './context.js';
import { raftHeaders, type Reply } from './reply.js';

/** Content type of a backup file. */
export const BACKUP_CONTENT_TYPE = 'application/vnd.raftquotes.backup';
/**
 * Rows per streamed page: a page is what the node holds at once for a backup (plus the
 * socket's buffer), so fewer rows than a snapshot page (4096): worst case 512 rows of a 64 KiB
 * value and a 1 KiB key, ~33 MiB; typically tens of KiB.
 */
export const BACKUP_PAGE_ROWS = 512;

/**
 * First a ReadIndex barrier, on a follower too (the leader confirms its commit index, and
 * this node applies up to it), so the image includes every write acknowledged before the
 * request; then a read view of the state is opened (its index is at or past the barrier's)
 * and streamed: head, image pages, and a trailer with the image's length and SHA-256. The
 * node keeps applying and serving meanwhile. Answered by the node asked, never forwarded: a
 * backup from any member is as good as the leader's.
 */
export async function getBackup(ctx: ApiContext, request: ApiRequest): Promise<Reply> {
  requireAdmin(ctx, request);
  await ctx.node.readBarrier();
  const sm = ctx.node.stateMachine;
  const image: ImageStream = sm.openImageStream?.(BACKUP_PAGE_ROWS) ?? (await wholeImage(ctx));
  const { head, header } = encodeBackupStart(image, ctx.node.id, ctx.node.voters);
  return {
    status: 200,
    stream: backupBytes(head, image),
    onStreamError: (err) => ctx.logger.warn({ err }, `backup of index ${header.index} failed part way: ${err.message}`),
    contentType: BACKUP_CONTENT_TYPE,
    headers: {
      ...raftHeaders(ctx.node.knownLeader(), header.index),
      'Content-Disposition': `attachment; filename="raftquotes-${header.index}.backup"`,
      'Cache-Control': 'no-store',
    },
  };
}

async function* backupBytes(head: Buffer, image: ImageStream): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    yield head;
    for await (const chunk of image.chunks) {
      hash.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
    yield encodeBackupTrailer(bytes, hash.digest());
  } finally {
    image.close();
  }
}

/** A state machine that cannot stream (test doubles): the image built whole. */
async function wholeImage(ctx: ApiContext): Promise<ImageStream> {
  const built = await ctx.node.stateMachine.buildImage();
  const data = Buffer.from(built.data.buffer, built.data.byteOffset, built.data.byteLength);
  return { index: built.index, term: built.term, chunks: (async function* () { yield data; })(), close: () => undefined };
}
