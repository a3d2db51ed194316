import type { Descriptor, Manifest } from './types.js';

/** The referrers-API view of a stored manifest: its descriptor, without the bytes. */
export function descriptorOf(m: Manifest): Descriptor {
  const d: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.size };
  if (m.artifactType !== undefined) d.artifactType = m.artifactType;
  if (m.annotations !== undefined) d.annotations = m.annotations;
  return d;
}
