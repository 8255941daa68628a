/**
 * A mock Kubernetes API server on loopback, for the code that talks to Kubernetes (the Kaniko builder, the
 * kubernetes launcher): there is no cluster on the machines the tests run on. It records every request
 * and hands it, JSON body parsed, to the test's handler; `kubeConfig` points a client at it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body?: Record<string, unknown>;
}

export interface ApiReply {
  json(status: number, value: unknown): void;
  notFound(): void;
  /** For a streamed answer (a pod's log). */
  res: http.ServerResponse;
}

export async function mockKubernetesApi(handle: (req: ApiRequest, reply: ApiReply) => void, namespace: string) {
  const requests: ApiRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url!, 'http://x');
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : undefined;
      const request = { method: req.method!, path: url.pathname, query: url.searchParams, body };
      requests.push(request);
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      const notFound = () => json(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
      handle(request, { json, notFound, res });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    kubeConfig: {
      clusters: [{ name: 'mock', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'strata', token: 'test-token' }],
      contexts: [{ name: 'mock', cluster: 'mock', user: 'strata', namespace }],
      currentContext: 'mock',
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
