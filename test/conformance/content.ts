/**
 * The content the workflows push: fresh for every run, of the same kinds as the v1.1.1 suite.
 *
 * - one image config per workflow slot (a random `author` makes each digest unique to the run);
 * - one shared gzip tar layer;
 * - one image manifest per slot whose config descriptor carries a base64 `data` copy of the config and
 *   an unknown field `newUnspecifiedField` (base64, or `null` on layers): registries must keep unknown fields;
 * - a manifest without `mediaType` and with no layers;
 * - two random 42-byte blobs: one for the streamed upload and cross-mount, one split into two chunks;
 * - the referrers set: the empty descriptor blob `{}`, two artifact blobs, four artifacts of manifest[4]
 *   (artifact type in `config.mediaType` or in `artifactType`), an index with a subject, and one
 *   artifact of manifest[3], which is never pushed.
 *
 * JSON is written like Go's `json.MarshalIndent(v, "", "\t")`, in the field order of the image-spec
 * structs, so the bytes look like what real clients send.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  empty: 'application/vnd.oci.empty.v1+json',
} as const;

/** The digest of `{}`, fixed by image-spec. */
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

/** Artifact types of the referrers set; the filter test asks for {@link ARTIFACT_TYPE_A}. */
export const ARTIFACT_TYPE_A = 'application/vnd.nhl.peanut.butter.bagel';
export const ARTIFACT_TYPE_B = 'application/vnd.nba.strawberry.jam.croissant';
export const ARTIFACT_TYPE_INDEX = 'application/vnd.food.stand';

/** Each referrer of manifest[4] carries exactly one annotation under this key. */
export const ANNOTATION_KEY = 'org.opencontainers.conformance.test';

/** Pushed and pulled bytes plus the digest the specs use for them. */
export interface TestBlob {
  content: Buffer;
  /** Usually the sha256 of `content`; `OCI_BLOB_DIGEST` / `OCI_MANIFEST_DIGEST` replace it, as in the suite. */
  digest: string;
}

export interface ChunkedBlob extends TestBlob {
  first: Buffer;
  second: Buffer;
  /** Upload ranges (`start-end`, inclusive) of the two chunks. */
  firstRange: string;
  secondRange: string;
}

export interface Referrers {
  /** Empty-descriptor blob `{}`, used as config or layer by the artifacts. */
  emptyJson: TestBlob;
  blobA: TestBlob;
  blobB: TestBlob;
  /** Artifacts of manifest[4]: type A/B given as config media type, or as `artifactType` (config = `{}`). */
  aConfig: TestBlob;
  aLayer: TestBlob;
  bConfig: TestBlob;
  bLayer: TestBlob;
  /** An index (artifact type {@link ARTIFACT_TYPE_INDEX}) listing aConfig and aLayer, with manifest[4] as subject. */
  index: TestBlob;
  /** Artifact of manifest[3], which is never pushed. */
  cLayer: TestBlob;
  /** Referrer digest → its annotation value under {@link ANNOTATION_KEY}. */
  annotations: Map<string, string>;
}

export interface Content {
  /** One config per slot; slots 0…4 are used (pull 0/1, push 1, discovery 2/4, management 3). */
  configs: TestBlob[];
  layer: TestBlob;
  /** manifests[i] references configs[i] and the layer. */
  manifests: TestBlob[];
  /** No `mediaType`, config[1], `layers: []`. Its digest is always computed (no override). */
  emptyLayerManifest: TestBlob;
  /** 42 random bytes: the streamed upload and the cross-mount source. */
  blobA: TestBlob;
  /** A digest no one pushed. */
  absentDigest: string;
  referrers: Referrers;
}

export interface ContentOverrides {
  /** `OCI_BLOB_DIGEST`: replaces every config digest (also inside the manifests). */
  blobDigest?: string;
  /** `OCI_MANIFEST_DIGEST`: replaces every manifest digest the specs request. */
  manifestDigest?: string;
}

const SLOTS = 5;

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** `json.MarshalIndent(v, "", "\t")`: same layout; the values here contain nothing Go would escape differently. */
function goJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, null, '\t'));
}

function randomAuthor(length: number): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-';
  let s = '';
  for (let i = 0; i < length; i++) s += alphabet.charAt(randomInt(alphabet.length));
  return s;
}

interface DescriptorFields {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  data?: Buffer;
  artifactType?: string;
  /** Not in image-spec: `null` when absent, base64 otherwise. */
  unknownField?: Buffer;
}

/** A descriptor in image-spec field order, plus the unknown field registries must tolerate. */
function descriptor(d: DescriptorFields): Record<string, unknown> {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.annotations && { annotations: d.annotations }),
    ...(d.data && { data: d.data.toString('base64') }),
    ...(d.artifactType && { artifactType: d.artifactType }),
    newUnspecifiedField: d.unknownField ? d.unknownField.toString('base64') : null,
  };
}

function describe(blob: TestBlob | Buffer, mediaType: string): Record<string, unknown> {
  const content = Buffer.isBuffer(blob) ? blob : blob.content;
  return descriptor({ mediaType, digest: sha256(content), size: content.length });
}

/** A one-file ustar archive, gzipped: a real layer, identical for every workflow of a run. */
function tarGzLayer(fileName: string, text: string): Buffer {
  const data = Buffer.from(text);
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) => header.write(value.slice(0, length), offset, length, 'ascii');
  const octal = (n: number, width: number) => `${n.toString(8).padStart(width - 1, '0')}\0`;
  field(0, 100, fileName);
  field(100, 8, octal(0o644, 8));
  field(108, 8, octal(0, 8));
  field(116, 8, octal(0, 8));
  field(124, 12, octal(data.length, 12));
  field(136, 12, octal(1_700_000_000, 12));
  field(148, 8, '        ');
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return gzipSync(Buffer.concat([header, data, padding, Buffer.alloc(1024)]));
}

function blobOf(content: Buffer, override?: string): TestBlob {
  return { content, digest: override || sha256(content) };
}

/** 42 random bytes by default; `size` grows when the registry announces a larger `OCI-Chunk-Min-Length`. */
export function chunkedBlob(size = 42): ChunkedBlob {
  const content = randomBytes(size);
  const cut = Math.floor(size / 2) + 1;
  return {
    content,
    digest: sha256(content),
    first: content.subarray(0, cut),
    second: content.subarray(cut),
    firstRange: `0-${cut - 1}`,
    secondRange: `${cut}-${size - 1}`,
  };
}

export function buildContent(overrides: ContentOverrides = {}): Content {
  const configs: TestBlob[] = [];
  for (let i = 0; i < SLOTS; i++) {
    const config = { author: randomAuthor(16), architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } };
    configs.push(blobOf(goJson(config), overrides.blobDigest));
  }

  const layer = blobOf(tarGzLayer('greeting.txt', 'Hello from the berth conformance run.\n'));
  const layerDescriptor = describe(layer, MEDIA.layer);
  const configDescriptor = (config: TestBlob) =>
    descriptor({
      mediaType: MEDIA.config,
      digest: config.digest,
      size: config.content.length,
      data: config.content,
      unknownField: Buffer.from('any bytes will do'),
    });

  const manifests = configs.map((config) =>
    blobOf(goJson({ schemaVersion: 2, mediaType: MEDIA.manifest, config: configDescriptor(config), layers: [layerDescriptor] }), overrides.manifestDigest),
  );
  const emptyLayerManifest = blobOf(goJson({ schemaVersion: 2, config: configDescriptor(configs[1] as TestBlob), layers: [] }));

  return {
    configs,
    layer,
    manifests,
    emptyLayerManifest,
    blobA: blobOf(randomBytes(42)),
    absentDigest: sha256(randomBytes(32)),
    referrers: buildReferrers(manifests[4] as TestBlob, manifests[3] as TestBlob),
  };
}

function buildReferrers(subjectOfMost: TestBlob, absentSubject: TestBlob): Referrers {
  const emptyJson = blobOf(Buffer.from('{}'));
  const blobA = blobOf(Buffer.from('Peanut butter, spread thin on a sesame bagel.'));
  const blobB = blobOf(Buffer.from('Strawberry jam, folded into a warm croissant.'));
  const emptyDescriptor = describe(emptyJson, MEDIA.empty);
  const subject = (m: TestBlob) => describe(m, MEDIA.manifest);
  const annotations = new Map<string, string>();

  const artifact = (fields: { artifactType?: string; config: unknown; layer: unknown; subject: TestBlob; note?: string }): TestBlob => {
    const doc = {
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      ...(fields.artifactType && { artifactType: fields.artifactType }),
      config: fields.config,
      layers: [fields.layer],
      subject: subject(fields.subject),
      ...(fields.note !== undefined && { annotations: { [ANNOTATION_KEY]: fields.note } }),
    };
    const blob = blobOf(goJson(doc));
    if (fields.note !== undefined) annotations.set(blob.digest, fields.note);
    return blob;
  };

  // artifact type given as the config media type (config = the artifact blob)
  const aConfig = artifact({ config: describe(blobA, ARTIFACT_TYPE_A), layer: emptyDescriptor, subject: subjectOfMost, note: 'type A in config' });
  const bConfig = artifact({ config: describe(blobB, ARTIFACT_TYPE_B), layer: emptyDescriptor, subject: subjectOfMost, note: 'type B in config' });
  // artifact type given as artifactType (config = the empty descriptor)
  const aLayer = artifact({
    artifactType: ARTIFACT_TYPE_A,
    config: emptyDescriptor,
    layer: describe(blobA, ARTIFACT_TYPE_A),
    subject: subjectOfMost,
    note: 'type A in artifactType',
  });
  const bLayer = artifact({
    artifactType: ARTIFACT_TYPE_B,
    config: emptyDescriptor,
    layer: describe(blobB, ARTIFACT_TYPE_B),
    subject: subjectOfMost,
    note: 'type B in artifactType',
  });
  const cLayer = artifact({ artifactType: ARTIFACT_TYPE_B, config: emptyDescriptor, layer: describe(blobB, ARTIFACT_TYPE_B), subject: absentSubject });

  const indexNote = 'an index with a subject';
  const index = blobOf(
    goJson({
      schemaVersion: 2,
      mediaType: MEDIA.index,
      artifactType: ARTIFACT_TYPE_INDEX,
      manifests: [describe(aConfig, MEDIA.manifest), describe(aLayer, MEDIA.manifest)],
      subject: subject(subjectOfMost),
      annotations: { [ANNOTATION_KEY]: indexNote },
    }),
  );
  annotations.set(index.digest, indexNote);

  return { emptyJson, blobA, blobB, aConfig, aLayer, bConfig, bLayer, index, cLayer, annotations };
}
