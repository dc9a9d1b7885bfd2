import net from 'node:net';
import { encodeFrame } from '../../src/transport/frame-codec.js';
import { becomesTrue } from '../support/wait.js';

/** An echo server for socket tests: answers each chunk with `<tag>:<chunk>`. */
export interface EchoServer {
  port: number;
  close(): Promise<void>;
}

/** Starts an echo server on 127.0.0.1 (ephemeral port). */
export async function startEchoServer(tag: string): Promise<EchoServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => socket.write(`${tag}:${chunk.toString()}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A client connection that records what it receives and whether it was closed. */
export class Probe {
  received = '';
  closed = false;
  private readonly socket: net.Socket;

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.on('data', (chunk) => (this.received += chunk.toString()));
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
  }

  send(text: string): void {
    this.socket.write(text);
  }

  sendBytes(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Waits until `received` contains text; false after timeoutMs (bounded wait). */
  async receives(text: string, timeoutMs: number): Promise<boolean> {
    return becomesTrue(() => this.received.includes(text), timeoutMs);
  }

  /** Waits until the connection is closed by the other side; false after timeoutMs. */
  async closes(timeoutMs: number): Promise<boolean> {
    return becomesTrue(() => this.closed, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Opens a connection, sends `ping`, and reports whether `<tag>:ping` came back in time. */
export async function linkWorks(port: number, tag: string, timeoutMs: number): Promise<boolean> {
  const probe = new Probe(port);
  try {
    probe.send('ping');
    return await probe.receives(`${tag}:ping`, timeoutMs);
  } finally {
    probe.destroy();
  }
}

/**
 * Like linkWorks, for a FaultNetwork entrance: the connection first sends a transport hello
 * naming `from` (the entrance picks the link by it), then `ping`.
 */
export async function linkWorksFrom(port: number, from: string, tag: string, timeoutMs: number): Promise<boolean> {
  const probe = new Probe(port);
  try {
    probe.sendBytes(encodeFrame({ kind: 'hello', from, to: tag }));
    probe.send('ping');
    // The echo may answer the hello and the ping in one chunk: the ping came back, from `tag`.
    return (await probe.receives('ping', timeoutMs)) && probe.received.startsWith(`${tag}:`);
  } finally {
    probe.destroy();
  }
}
