import { parseDigest, type Digest } from '../digest.js';
import type { Storage } from '../storage/types.js';
import { type ArchiveLimits, readChartArchive } from './chart-archive.js';
import { type ChartMetadata, ChartError, chartMetadata, parseChartYaml } from './chart-meta.js';
import { HELM_CONFIG, HELM_LAYER } from './kinds.js';
import { Lru } from './lru.js';

/** A descriptor as manifests carry it (loosely checked: it is shown, not trusted). */
export interface DescriptorView {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** A manifest's content as the pages show it. */
export interface ManifestView {
  digest: Digest;
  mediaType: string;
  size: number;
  artifactType?: string;
  config?: DescriptorView;
  layers: DescriptorView[];
  /** Children of an index. */
  manifests: DescriptorView[];
  subject?: DescriptorView;
  annotations: Record<string, string>;
  /** Manifest + config + layers (for an index: the manifest and its children's manifests only). */
  totalSize: number;
  body: Buffer;
}

/** A chart as the chart page shows it. */
export interface ChartView {
  metadata: ChartMetadata;
  values?: string;
  readme?: { name: string; text: string };
  layer: DescriptorView;
}

/** Configs read to learn a chart's metadata are small; anything larger is not a Helm config. */
const MAX_CONFIG = 1024 * 1024;

/**
 * Reads manifests, Helm configs and chart archives from the store, caching by digest (content never
 * changes). Every read first checks that the content is in the repository asked about.
 */
export class Content {
  readonly #storage: Storage;
  readonly #limits: ArchiveLimits;
  readonly #manifests = new Lru<Digest, ManifestView>(2000);
  readonly #configs = new Lru<Digest, ChartMetadata>(5000);
  readonly #charts = new Lru<Digest, ChartView>(50);

  constructor(storage: Storage, limits: ArchiveLimits) {
    this.#storage = storage;
    this.#limits = limits;
  }

  /** The manifest `digest` of `repository`, parsed; `undefined` when it is not there. */
  async manifest(repository: string, digest: Digest): Promise<ManifestView | undefined> {
    const cached = this.#manifests.get(digest);
    if (cached) return (await this.#storage.manifests.stat(repository, digest)) ? cached : undefined;
    const stored = await this.#storage.manifests.get(repository, digest);
    if (!stored) return undefined;
    const view = parseView(stored.digest, stored.mediaType, stored.body, stored.artifactType);
    this.#manifests.set(digest, view);
    return view;
  }

  /** The bytes of a small blob of `repository` (configs), or `undefined` when absent or larger than `max`. */
  async smallBlob(repository: string, digest: Digest, max = MAX_CONFIG): Promise<Buffer | undefined> {
    if (!(await this.#storage.links.has(repository, digest))) return undefined;
    const info = await this.#storage.blobs.stat(digest);
    if (!info || info.size > max) return undefined;
    const stream = await this.#storage.blobs.open(digest);
    if (!stream) return undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) {
        stream.destroy();
        return undefined;
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  /** A Helm chart's metadata from its OCI config (Chart.yaml as JSON, as helm pushes it). */
  async chartConfig(repository: string, view: ManifestView): Promise<ChartMetadata | undefined> {
    const config = view.config;
    if (config?.mediaType !== HELM_CONFIG) return undefined;
    const cached = this.#configs.get(config.digest);
    if (cached) return cached;
    const bytes = await this.smallBlob(repository, config.digest);
    if (!bytes) return undefined;
    let metadata: ChartMetadata;
    try {
      metadata = chartMetadata(JSON.parse(bytes.toString('utf8')), 'the Helm config');
    } catch {
      return undefined;
    }
    this.#configs.set(config.digest, metadata);
    return metadata;
  }

  /** Chart.yaml, values.yaml and README of a chart manifest, read from its layer by streaming. Throws ArchiveError/ChartError for a bad archive. */
  async chart(repository: string, view: ManifestView, signal?: AbortSignal): Promise<ChartView | undefined> {
    const layer = view.layers.find((l) => l.mediaType === HELM_LAYER);
    if (!layer) return undefined;
    const cached = this.#charts.get(layer.digest);
    if (cached) return cached;
    if (!(await this.#storage.links.has(repository, layer.digest))) return undefined;
    const stream = await this.#storage.blobs.open(layer.digest, signal ? { signal } : {});
    if (!stream) return undefined;
    const files = await readChartArchive(stream, this.#limits, signal);
    if (files.chartYaml === undefined) throw new ChartError('the chart archive has no Chart.yaml in its top directory');
    const chart: ChartView = {
      metadata: parseChartYaml(files.chartYaml),
      layer,
      ...(files.valuesYaml !== undefined && { values: files.valuesYaml }),
      ...(files.readme && { readme: files.readme }),
    };
    this.#charts.set(layer.digest, chart);
    return chart;
  }
}

/** Parses a stored manifest for display; anything malformed is simply left out. */
export function parseView(digest: Digest, mediaType: string, body: Buffer, artifactType?: string): ManifestView {
  let doc: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (isObject(parsed)) doc = parsed;
  } catch {
    // shown as a manifest without content
  }
  const list = (value: unknown) => (Array.isArray(value) ? value.map(descriptor).filter((d): d is DescriptorView => d !== undefined) : []);
  const config = descriptor(doc.config);
  const subject = descriptor(doc.subject);
  const layers = list(doc.layers);
  const manifests = list(doc.manifests);
  const annotations = strings(doc.annotations);
  const totalSize = body.length + (config?.size ?? 0) + [...layers, ...manifests].reduce((sum, d) => sum + d.size, 0);
  return {
    digest,
    mediaType,
    size: body.length,
    ...(artifactType !== undefined && { artifactType }),
    ...(config && { config }),
    ...(subject && { subject }),
    layers,
    manifests,
    annotations,
    totalSize,
    body,
  };
}

function descriptor(value: unknown): DescriptorView | undefined {
  if (!isObject(value) || typeof value.digest !== 'string') return undefined;
  const parsed = parseDigest(value.digest);
  if (!parsed.ok) return undefined;
  const size = typeof value.size === 'number' && Number.isSafeInteger(value.size) && value.size >= 0 ? value.size : 0;
  const platform = isObject(value.platform) ? value.platform : undefined;
  return {
    mediaType: typeof value.mediaType === 'string' ? value.mediaType : 'application/octet-stream',
    digest: parsed.digest,
    size,
    ...(typeof value.artifactType === 'string' && { artifactType: value.artifactType }),
    ...(isObject(value.annotations) && { annotations: strings(value.annotations) }),
    ...(platform && {
      platform: {
        ...(typeof platform.os === 'string' && { os: platform.os }),
        ...(typeof platform.architecture === 'string' && { architecture: platform.architecture }),
        ...(typeof platform.variant === 'string' && { variant: platform.variant }),
      },
    }),
  };
}

function strings(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `linux/amd64/v8`. */
export function platformText(p: DescriptorView['platform']): string | undefined {
  if (!p || (!p.os && !p.architecture)) return undefined;
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}
