import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeRequest, RawHttpClient, responseEnd } from '../../bench/raw-http.js';

const servers: Array<{ close: () => void }> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<{ host: string; port: number }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({ close: () => server.close() });
  return { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
}

const GET = { method: 'GET', path: '/x', headers: {}, body: null };

describe('responseEnd: where an HTTP/1.1 response ends', () => {
  it('uses Content-Length, and waits for the whole body', () => {
    const full = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
    expect(responseEnd(full.subarray(0, full.length - 1))).toBeNull();
    expect(responseEnd(full)).toEqual({ end: full.length, status: 200, close: false });
  });

  it('follows chunked encoding across any split, and sees Connection: close', () => {
    const full = Buffer.from('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n');
    for (let cut = 0; cut < full.length; cut++) expect(responseEnd(full.subarray(0, cut))).toBeNull();
    expect(responseEnd(full)).toEqual({ end: full.length, status: 503, close: true });
  });

  it('refuses what is not an HTTP response', () => {
    expect(() => responseEnd(Buffer.from('SSH-2.0-x\r\n\r\n'))).toThrow(/not an HTTP response/);
  });

  it('writes one Content-Length, whatever the prepared headers say', () => {
    const bytes = encodeRequest({ host: 'h', port: 1 }, { method: 'PUT', path: '/k', headers: { 'content-length': 99, 'content-type': 'application/json' }, body: Buffer.from('{}') }).toString();
    expect(bytes).toBe('PUT /k HTTP/1.1\r\nhost: h:1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}');
  });
});

describe('RawHttpClient: one keep-alive connection, one request at a time', () => {
  it('reuses one socket for many requests and reports non-2xx statuses by code', async () => {
    let connections = 0;
    const seen: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${body}`);
        res.statusCode = req.url === '/busy' ? 503 : 200;
        res.end(req.url === '/chunked' ? undefined : 'ok');
      });
    });
    server.on('connection', () => connections++);
    const client = new RawHttpClient(await listen(server));
    expect(await client.send({ method: 'PUT', path: '/a', headers: {}, body: Buffer.from('v1') }, 2000)).toBeNull();
    expect(await client.send(GET, 2000)).toBeNull();
    expect(await client.send({ ...GET, path: '/busy' }, 2000)).toBe('http_503');
    expect(await client.send({ ...GET, path: '/chunked' }, 2000)).toBeNull();
    client.close();
    expect(seen).toEqual(['PUT /a v1', 'GET /x ', 'GET /busy ', 'GET /chunked ']);
    expect(connections).toBe(1);
  });

  it('redials after the server closes the connection, and after a timeout', async () => {
    let connections = 0;
    let calls = 0;
    const server = createServer((_req, res) => {
      calls++;
      if (calls === 2) return; // never answers: the client times out
      res.setHeader('connection', 'close');
      res.end('bye');
    });
    server.on('connection', () => connections++);
    const client = new RawHttpClient(await listen(server));
    expect(await client.send(GET, 2000)).toBeNull();
    expect(await client.send(GET, 200)).toBe('timeout');
    expect(await client.send(GET, 2000)).toBeNull();
    client.close();
    expect(connections).toBe(3);
  });

  it('reports a refused connection and a garbled answer without throwing', async () => {
    const garbler = createTcpServer((socket) => socket.on('data', () => socket.write('garbage\r\n\r\n')));
    const client = new RawHttpClient(await listen(garbler));
    expect(await client.send(GET, 2000)).toBe('protocol');
    client.close();
    const closed = await listen(createTcpServer());
    servers.pop()?.close();
    await new Promise((r) => setTimeout(r, 50));
    const refused = new RawHttpClient(closed);
    expect(await refused.send(GET, 2000)).toBe('ECONNREFUSED');
  });
});
