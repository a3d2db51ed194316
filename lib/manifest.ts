import { type Digest, parseDigest } from './digest.js';
import { RegistryError } from './errors.js';

export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

const SCHEMA1 = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);
const IMAGE_TYPES = new Set<string>([MediaType.OciManifest, MediaType.DockerManifest]);
const INDEX_TYPES = new Set<string>([MediaType.OciIndex, MediaType.DockerList]);

/** What the core needs to know about a manifest, parsed out of its exact bytes. */
export interface ParsedManifest {
  mediaType: string;
  subject?: Digest;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** Blobs that must be in the repository (config and distributable layers). */
  blobs: Digest[];
  /** Manifests that must be in the repository (children of an index). */
  manifests: Digest[];
}

/**
 * Parses a pushed manifest. Tolerates unknown fields and nulls (the spec allows extension, and the
 * conformance suite sends both); refuses anything that is not an OCI or Docker schema 2 image
 * manifest or index.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (!isObject(doc)) throw invalid('manifest must be a JSON object');

  const headerType = contentType?.split(';')[0]?.trim().toLowerCase() || undefined;
  const bodyType = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  if ((headerType && SCHEMA1.has(headerType)) || doc.schemaVersion === 1) {
    throw invalid('Docker schema 1 manifests are not supported; push a Docker schema 2 or OCI manifest');
  }
  if (doc.schemaVersion !== 2) throw invalid('manifest must have "schemaVersion": 2');

  // spec: the Content-Type names the type; a generic or missing one defers to the body's mediaType
  const declared = headerType && headerType !== 'application/json' ? headerType : bodyType;
  const mediaType = declared ?? (Array.isArray(doc.manifests) ? MediaType.OciIndex : MediaType.OciManifest);
  if (bodyType !== undefined && bodyType !== mediaType) {
    throw invalid(`manifest mediaType "${bodyType}" does not match Content-Type "${mediaType}"`);
  }

  const parsed: ParsedManifest = { mediaType, blobs: [], manifests: [] };
  if (IMAGE_TYPES.has(mediaType)) {
    const config = descriptor(doc.config, 'config');
    parsed.blobs.push(config.digest);
    const layers = doc.layers ?? [];
    if (!Array.isArray(layers)) throw invalid('"layers" must be an array');
    layers.forEach((layer, i) => {
      const d = descriptor(layer, `layers[${i}]`);
      if (!isForeign(d)) parsed.blobs.push(d.digest);
    });
    const artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : undefined;
    // spec (referrers): an image manifest without artifactType is listed with its config's media type
    parsed.artifactType = artifactType ?? config.mediaType;
  } else if (INDEX_TYPES.has(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw invalid('an index must have a "manifests" array');
    doc.manifests.forEach((child, i) => parsed.manifests.push(descriptor(child, `manifests[${i}]`).digest));
    if (typeof doc.artifactType === 'string') parsed.artifactType = doc.artifactType;
  } else {
    throw invalid(`unsupported manifest media type "${mediaType}"`);
  }

  if (doc.subject !== undefined && doc.subject !== null) parsed.subject = descriptor(doc.subject, 'subject').digest;
  if (isObject(doc.annotations)) {
    const annotations = Object.entries(doc.annotations).filter((e): e is [string, string] => typeof e[1] === 'string');
    if (annotations.length > 0) parsed.annotations = Object.fromEntries(annotations);
  }
  return parsed;
}

interface ParsedDescriptor {
  digest: Digest;
  mediaType?: string;
  urls?: unknown;
}

function descriptor(value: unknown, where: string): ParsedDescriptor {
  if (!isObject(value)) throw invalid(`"${where}" must be a descriptor object`);
  const digest = typeof value.digest === 'string' ? parseDigest(value.digest) : undefined;
  if (!digest?.ok) throw invalid(`"${where}.digest" is not a valid sha256 or sha512 digest`);
  if (typeof value.size !== 'number' || !Number.isSafeInteger(value.size) || value.size < 0) {
    throw invalid(`"${where}.size" must be a non-negative integer`);
  }
  return {
    digest: digest.digest,
    ...(typeof value.mediaType === 'string' && { mediaType: value.mediaType }),
    urls: value.urls,
  };
}

/** Non-distributable (foreign) layers are fetched from their `urls`, so their blobs need not be pushed. */
function isForeign(d: ParsedDescriptor): boolean {
  return (
    (Array.isArray(d.urls) && d.urls.length > 0) ||
    (d.mediaType?.includes('.nondistributable.') ?? false) ||
    (d.mediaType?.includes('.foreign.') ?? false)
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(message: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message);
}
