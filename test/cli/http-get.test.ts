import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, makeNodeCert } from '../../src/cli/certs.js';
import { httpGet } from '../../src/cli/http-get.js';

/** The GET `cluster --tls` and `status` use: HTTPS trusting the cluster's CA (fetch cannot take one). */
describe('httpGet', () => {
  const ca = makeCa();
  const pair = makeNodeCert(ca, 'Node1', ['127.0.0.1', 'localhost']);
  const server = createServer({ cert: pair.cert, key: pair.key }, (req, res) => res.end(req.url === '/healthz' ? 'ok' : 'other'));
  let url = '';

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reads over HTTPS when given the CA, by IP and by localhost', async () => {
    expect(await httpGet(`${url}/healthz`, { ca: ca.cert, timeoutMs: 2_000 })).toEqual({ status: 200, body: 'ok' });
    expect((await httpGet(`${url.replace('127.0.0.1', 'localhost')}/x`, { ca: ca.cert, timeoutMs: 2_000 })).body).toBe('other');
  });

  it('refuses a server that no trusted CA signed', async () => {
    await expect(httpGet(`${url}/healthz`, { timeoutMs: 2_000 })).rejects.toThrow(/self.signed|certificate/i);
    await expect(httpGet(`${url}/healthz`, { ca: makeCa().cert, timeoutMs: 2_000 })).rejects.toThrow(/certificate/i);
  });
});
