import type { RegistryEvent } from '../events.js';

/** How an endpoint wants its events. */
export type PayloadFormat = 'cloudevents' | 'distribution';

export const CLOUDEVENTS_TYPE = 'application/cloudevents+json';
/** distribution's notification envelope (distribution v3; v2.x sent `…events.v1+json` with the same fields). */
export const DISTRIBUTION_TYPE = 'application/vnd.docker.distribution.events.v2+json';

/** What the payloads say about the registry that sent them. */
export interface PayloadSource {
  /** CloudEvents `source`. */
  source: string;
  /** The registry's public origin and path, for distribution's `target.url` (absent: no `url`). */
  baseUrl: string | undefined;
  /** distribution's `source.addr`. */
  addr: string;
  /** distribution's `source.instanceID`. */
  instanceID: string;
  /** Prefix of the CloudEvents `type`. */
  typePrefix: string;
}

/** The events each format can express (distribution has no word for an upload starting). */
export const EXPRESSIBLE: Record<PayloadFormat, ReadonlySet<RegistryEvent['type']>> = {
  cloudevents: new Set(['manifest.pushed', 'tag.pushed', 'manifest.deleted', 'tag.deleted', 'blob.pushed', 'blob.deleted', 'upload.started', 'manifest.pulled', 'blob.pulled']),
  distribution: new Set(['manifest.pushed', 'tag.pushed', 'manifest.deleted', 'tag.deleted', 'blob.pushed', 'blob.deleted', 'manifest.pulled', 'blob.pulled']),
};

/**
 * The events an endpoint gets without an `actions` filter: every change. distribution's leave out
 * `tag.pushed`, because its `push` of the manifest already names the tag.
 */
export const DEFAULT_ACTIONS: Record<PayloadFormat, readonly RegistryEvent['type'][]> = {
  cloudevents: ['manifest.pushed', 'tag.pushed', 'manifest.deleted', 'tag.deleted', 'blob.pushed', 'blob.deleted'],
  distribution: ['manifest.pushed', 'manifest.deleted', 'tag.deleted', 'blob.pushed', 'blob.deleted'],
};

/** The body and its Content-Type for one event. */
export function payloadOf(format: PayloadFormat, event: RegistryEvent, source: PayloadSource): { body: string; contentType: string } {
  if (format === 'cloudevents') return { body: JSON.stringify(cloudEvent(event, source)), contentType: CLOUDEVENTS_TYPE };
  return { body: JSON.stringify({ events: distributionEvents(event, source) }), contentType: DISTRIBUTION_TYPE };
}

/** A CloudEvents 1.0 event in the structured JSON mode: the attributes, and the registry event as `data`. */
function cloudEvent(event: RegistryEvent, source: PayloadSource): Record<string, unknown> {
  const { id, time, type, identity, ...fields } = event;
  return {
    specversion: '1.0',
    id,
    source: source.source,
    type: `${source.typePrefix}${type}`,
    subject: subjectOf(event),
    time: time.toISOString(),
    datacontenttype: 'application/json',
    // only the caller's name leaves the process: an identity may carry claims the receiver has no business with
    data: { ...fields, ...(identity && { actor: { name: identity.name } }) },
  };
}

function subjectOf(event: RegistryEvent): string {
  switch (event.type) {
    case 'tag.pushed':
    case 'tag.deleted':
      return `${event.repository}:${event.tag}`;
    case 'upload.started':
      return event.repository;
    case 'manifest.pushed':
    case 'manifest.deleted':
    case 'manifest.pulled':
    case 'blob.pushed':
    case 'blob.deleted':
    case 'blob.pulled':
      return `${event.repository}@${event.digest}`;
  }
}

/**
 * distribution's notification events for one registry event: usually one; a manifest pushed with
 * several tags gives one `push` per tag (the first keeps the event id, the others add `-<n>`).
 */
function distributionEvents(event: RegistryEvent, source: PayloadSource): Record<string, unknown>[] {
  const common = {
    timestamp: event.time.toISOString(),
    // berth's events carry the request id when the core records one
    request: requestOf(event),
    actor: event.identity ? { name: event.identity.name } : {},
    source: { addr: source.addr, instanceID: source.instanceID },
  };
  const url = (kind: 'manifests' | 'blobs', digest: string) => (source.baseUrl === undefined ? {} : { url: `${source.baseUrl}/v2/${event.repository}/${kind}/${digest}` });
  const one = (action: string, target: Record<string, unknown>) => [{ id: event.id, ...common, action, target: { ...target, repository: event.repository } }];
  switch (event.type) {
    case 'manifest.pushed': {
      const target = {
        mediaType: event.mediaType,
        digest: event.digest,
        size: event.size,
        length: event.size,
        ...(event.artifactType !== undefined && { artifactType: event.artifactType }),
        repository: event.repository,
        ...url('manifests', event.digest),
      };
      if (event.tags.length <= 1) return [{ id: event.id, ...common, action: 'push', target: { ...target, ...(event.tags[0] !== undefined && { tag: event.tags[0] }) } }];
      return event.tags.map((tag, i) => ({ id: i === 0 ? event.id : `${event.id}-${i}`, ...common, action: 'push', target: { ...target, tag } }));
    }
    case 'tag.pushed':
      return one('push', { digest: event.digest, tag: event.tag, ...url('manifests', event.digest) });
    case 'manifest.pulled':
      return one('pull', { digest: event.digest, size: event.size, length: event.size, ...(event.tag !== undefined && { tag: event.tag }), ...url('manifests', event.digest) });
    case 'blob.pushed':
      return one(event.mountedFrom === undefined ? 'push' : 'mount', {
        mediaType: 'application/octet-stream',
        digest: event.digest,
        size: event.size,
        length: event.size,
        ...(event.mountedFrom !== undefined && { fromRepository: event.mountedFrom }),
        ...url('blobs', event.digest),
      });
    case 'blob.pulled':
      return one('pull', { mediaType: 'application/octet-stream', digest: event.digest, size: event.size, length: event.size, ...url('blobs', event.digest) });
    case 'manifest.deleted':
    case 'blob.deleted':
      // as distribution: a delete names only the digest and the repository
      return one('delete', { digest: event.digest });
    case 'tag.deleted':
      return one('delete', { digest: event.digest, tag: event.tag });
    case 'upload.started':
      return [];
  }
}

function requestOf(event: RegistryEvent): Record<string, string> {
  const id = (event as { requestId?: unknown }).requestId;
  return typeof id === 'string' ? { id } : {};
}
