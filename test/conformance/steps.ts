/** Requests several workflows share, and the context every workflow module receives. */
import type { HttpResponse, RegistryClient } from './client.js';
import type { Config } from './config.js';
import { MEDIA, type Content, type TestBlob } from './content.js';
import type { Suite } from './harness.js';

export interface WorkflowContext {
  suite: Suite;
  config: Config;
  client: RegistryClient;
  content: Content;
}

/** Error codes an error body may carry for the suite's 400 check, plus `""`: the suite's list has empty slots, so a missing code passes too. */
export const ACCEPTED_ERROR_CODES = [
  '',
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'MANIFEST_UNVERIFIED',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
];

/** POST a session, then PUT the whole blob to its location (the POST's answer itself is not judged). */
export async function uploadBlob(client: RegistryClient, blob: TestBlob): Promise<HttpResponse> {
  const session = await client.request('POST', '/v2/<name>/blobs/uploads/').send();
  return client
    .request('PUT', session.relativeLocation())
    .query('digest', blob.digest)
    .header('Content-Type', 'application/octet-stream')
    .body(blob.content)
    .send();
}

export function putManifest(client: RegistryClient, reference: string, manifest: TestBlob, mediaType: string = MEDIA.manifest): Promise<HttpResponse> {
  return client.request('PUT', '/v2/<name>/manifests/<reference>', { reference }).header('Content-Type', mediaType).body(manifest.content).send();
}

export function getManifest(client: RegistryClient, reference: string, accept?: string): Promise<HttpResponse> {
  const req = client.request('GET', '/v2/<name>/manifests/<reference>', { reference });
  if (accept) req.header('Accept', accept);
  return req.send();
}

export function deleteManifest(client: RegistryClient, reference: string): Promise<HttpResponse> {
  return client.request('DELETE', '/v2/<name>/manifests/<reference>', { reference }).send();
}

export function getBlob(client: RegistryClient, digest: string): Promise<HttpResponse> {
  return client.request('GET', '/v2/<name>/blobs/<digest>', { digest }).send();
}

export function deleteBlob(client: RegistryClient, digest: string): Promise<HttpResponse> {
  return client.request('DELETE', '/v2/<name>/blobs/<digest>', { digest }).send();
}

export function listTags(client: RegistryClient, n?: number, last?: string): Promise<HttpResponse> {
  const req = client.request('GET', '/v2/<name>/tags/list');
  if (n !== undefined) req.query('n', String(n));
  if (last !== undefined) req.query('last', last);
  return req.send();
}
