/**
 * A transparent HTTP proxy that keeps an access log, for the interoperability suite (scripts/clients/run.sh). The
 * example app logs no requests, so the scenarios that must prove what the server saw (a cross-repository mount, 1 MiB
 * chunks, Referrers API calls, pages followed through `Link`, an aborted upload) send their client through this proxy.
 * Bodies stream through untouched; a client that disconnects mid-request makes the proxy abort its upstream request,
 * so the registry sees the same abort.
 *
 *   node --import tsx scripts/clients/access-log.ts UPSTREAM_PORT LOG_FILE
 *
 * listens on a free port of 127.0.0.1, prints `listening on <port>` once ready, and appends one JSON line per request
 * to LOG_FILE: { method, url, path (the URL percent-decoded, for matching), status, bytes (request body bytes
 * received), range (Content-Range), location, ms, aborted }. SIGTERM stops it.
 */
import { createWriteStream } from 'node:fs';
import { type IncomingHttpHeaders, createServer, request } from 'node:http';

const [upstreamArg, logFile] = process.argv.slice(2);
const upstream = Number(upstreamArg);
if (!Number.isInteger(upstream) || upstream <= 0 || !logFile) {
  console.error('usage: access-log.ts UPSTREAM_PORT LOG_FILE');
  process.exit(2);
}
const log = createWriteStream(logFile, { flags: 'a' });
const decoded = (url: string): string => {
  try {
    return decodeURIComponent(url);
  } catch {
    return url;
  }
};

const server = createServer((req, res) => {
  const started = performance.now();
  let bytes = 0;
  let location: string | undefined;
  let logged = false;
  const record = (aborted: boolean): void => {
    if (logged) return;
    logged = true;
    log.write(`${JSON.stringify({
      method: req.method,
      url: req.url,
      path: decoded(req.url ?? ''),
      status: res.headersSent ? res.statusCode : null,
      bytes,
      range: req.headers['content-range'],
      location,
      ms: Math.round(performance.now() - started),
      aborted,
    })}\n`);
  };

  const headers: IncomingHttpHeaders = { ...req.headers };
  delete headers.expect; // this server already answered `Expect: 100-continue`
  const up = request({ host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers }, (upRes) => {
    location = upRes.headers.location;
    res.writeHead(upRes.statusCode ?? 502, upRes.rawHeaders);
    upRes.pipe(res);
    upRes.on('error', () => res.destroy());
  });
  up.on('error', (error) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`access-log proxy: ${error.message}\n`);
    else res.destroy();
    record(true);
  });
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  req.pipe(up);
  // the client went away before sending its whole body: abort upstream too, as a direct connection would
  req.on('close', () => {
    if (!req.complete) up.destroy();
  });
  res.on('close', () => record(!req.complete || !res.writableFinished));
});
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening on ${typeof address === 'object' && address ? address.port : '?'}`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  log.end(() => process.exit(0));
});
