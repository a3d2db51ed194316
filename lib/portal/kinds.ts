/**
 * What a manifest is, for people: the artifact kinds the portal filters by. Decided from the
 * artifact type (or the config media type of an image manifest without one) and, for cosign's
 * tag-schema signatures, the tag name.
 */
export const KINDS = ['image', 'helm', 'signature', 'sbom', 'attestation', 'artifact'] as const;
export type Kind = (typeof KINDS)[number];

export const KIND_LABELS: Record<Kind, string> = {
  image: 'Container image',
  helm: 'Helm chart',
  signature: 'Signature',
  sbom: 'SBOM',
  attestation: 'Attestation',
  artifact: 'Other artifact',
};

export const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';
export const HELM_LAYER = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const EMPTY_CONFIG = 'application/vnd.oci.empty.v1+json';

const IMAGE_CONFIGS = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
const INDEXES = new Set([OCI_INDEX, DOCKER_LIST]);

export function isKind(value: string): value is Kind {
  return (KINDS as readonly string[]).includes(value);
}

/** The kind of a manifest with this media type and artifact type, pointed at by `tag` if any. */
export function kindOf(mediaType: string, artifactType: string | undefined, tag?: string): Kind {
  const type = (artifactType ?? '').toLowerCase();
  // cosign's tag schema: sha256-<hex>.sig / .att / .sbom next to the image
  if (tag !== undefined && /^sha256-[a-f0-9]{64}\.(sig|att|sbom)$/.test(tag)) {
    return tag.endsWith('.sig') ? 'signature' : tag.endsWith('.att') ? 'attestation' : 'sbom';
  }
  if (type === HELM_CONFIG) return 'helm';
  if (type.includes('signature') || type.includes('cosign.artifact.sig') || type.includes('notary')) return 'signature';
  if (type.includes('spdx') || type.includes('cyclonedx') || type.includes('sbom') || type.includes('syft')) return 'sbom';
  if (type.includes('in-toto') || type.includes('attestation') || type.includes('sigstore.bundle') || type.includes('provenance')) return 'attestation';
  if (type === '' && INDEXES.has(mediaType)) return 'image';
  if (IMAGE_CONFIGS.has(type)) return 'image';
  return 'artifact';
}
