/**
 * A transparent HTTP proxy that keeps an access log, for the interoperability suite (scripts/clients/run.sh). The
 * example app logs no requests, so the scenarios that must prove what the server saw (a cross-repository mount, 1 MiB
 * chunks, Referrers API calls, pages followed through `Link`, an aborted upload) send their client through this proxy.
 * Bodies stream through untouched; a client that disconnects mid-request makes the proxy abort its upstream request,
 * so the registry sees the same abort.
 *
 *   node --import tsx scripts/clients/access-log.ts UPSTREAM_PORT LOG_FILE [RATE]
 *
 * RATE (bytes per second) slows request bodies down, so a test can interrupt a client in the middle of an upload.
 * listens on a free port of 127.0.0.1, prints `listening on <port>` once ready, and appends one JSON line per request
 * to LOG_FILE: { method, url, path (the URL percent-decoded, for matching), status, bytes (request body bytes
 * received), range (Content-Range), location, ms, aborted }. SIGTERM stops it.
 */
import { createWriteStream } from 'node:fs';
import { type IncomingHttpHeaders, createServer, request } from 'node:http';
import { Transform } from 'node:stream';

const [upstreamArg, logFile, rateArg] = process.argv.slice(2);
const upstream = Number(upstreamArg);
const rate = rateArg === undefined ? 0 : Number(rateArg);
if (!Number.isInteger(upstream) || upstream <= 0 || !logFile || !(rate >= 0)) {
  console.error('usage: access-log.ts UPSTREAM_PORT LOG_FILE [RATE]');
  process.exit(2);
}

/** Passes a body on no faster than `rate` bytes per second. */
function throttle(): Transform {
  const started = performance.now();
  let passed = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      passed += chunk.length;
      const wait = (passed / rate) * 1000 - (performance.now() - started);
      setTimeout(() => callback(null, chunk), Math.max(0, wait));
    },
  });
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
  if (rate > 0) req.pipe(throttle()).pipe(up);
  else req.pipe(up);
  // The client went away before its whole body was passed on: abort upstream too, as a direct connection would.
  // (`readableEnded`, not `complete`: with a paused body the parser may have read it all, and then the request is
  // destroyed with data still buffered here, when the client's FIN arrives.)
  req.on('close', () => {
    if (!req.readableEnded) up.destroy();
  });
  res.on('close', () => record(!req.readableEnded || !res.writableFinished));
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
