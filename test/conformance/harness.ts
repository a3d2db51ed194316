/**
 * A minimal spec runner for the conformance port: specs are declared in order under a workflow and a
 * context, run one after another (later specs may depend on state earlier ones left behind, as in the
 * suite), and end passed, failed or skipped. A failed expectation ends its spec only.
 */
import { type HttpResponse, describeExchange } from './client.js';

export type Outcome = 'passed' | 'failed' | 'skipped';

/** Thrown to end a spec as skipped. */
export class SpecSkipped extends Error {
  override readonly name = 'SpecSkipped';
}

/** Thrown to end a spec as failed: what was expected, what came back, and the exchange that showed it. */
export class SpecFailed extends Error {
  override readonly name = 'SpecFailed';
  readonly details: string[];
  constructor(message: string, details: string[] = []) {
    super(message);
    this.details = details;
  }
}

/** A set of acceptable status codes, with the wording a failure report uses. */
export interface StatusMatcher {
  text: string;
  test(status: number): boolean;
}

export const status = {
  is: (...codes: number[]): StatusMatcher => ({ text: codes.join(' or '), test: (s) => codes.includes(s) }),
  success: { text: '2xx', test: (s: number) => s >= 200 && s < 300 } satisfies StatusMatcher,
  successOr: (...codes: number[]): StatusMatcher => ({
    text: ['2xx', ...codes].join(' or '),
    test: (s) => (s >= 200 && s < 300) || codes.includes(s),
  }),
};

/** What a spec body gets: skips, warnings and expectations. */
export class SpecControl {
  readonly warnings: string[] = [];

  /** Skips the rest of the spec unless `condition` holds. */
  runOnlyIf(condition: boolean, reason: string): void {
    if (!condition) throw new SpecSkipped(reason);
  }

  warn(message: string): void {
    this.warnings.push(message);
  }

  fail(message: string, resp?: HttpResponse): never {
    throw new SpecFailed(message, resp ? describeExchange(resp) : []);
  }

  expectStatus(resp: HttpResponse, expected: StatusMatcher): void {
    if (!expected.test(resp.status)) this.fail(`expected status ${expected.text}, received ${resp.status}`, resp);
  }

  expectEqual<T>(actual: T, expected: T, what: string, resp?: HttpResponse): void {
    if (actual !== expected) this.fail(`${what}: expected ${show(expected)}, received ${show(actual)}`, resp);
  }

  expectNotEmpty(value: string, what: string, resp?: HttpResponse): void {
    if (value === '') this.fail(`${what}: expected a non-empty value, received none`, resp);
  }

  expect(condition: boolean, what: string, resp?: HttpResponse): void {
    if (!condition) this.fail(what, resp);
  }
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

export interface Spec {
  workflow: string;
  context: string;
  name: string;
  /** False when the spec's workflow is switched off: skipped without running. */
  enabled: boolean;
  body: (t: SpecControl) => Promise<void>;
}

export interface SpecResult {
  spec: Spec;
  outcome: Outcome;
  message?: string;
  details: string[];
  warnings: string[];
}

/** Declares the specs of one workflow, in order. */
export class Workflow {
  readonly #specs: Spec[];
  readonly #title: string;
  readonly #enabled: boolean;

  constructor(specs: Spec[], title: string, enabled: boolean) {
    this.#specs = specs;
    this.#title = title;
    this.#enabled = enabled;
  }

  context(title: string, declare: (spec: (name: string, body: (t: SpecControl) => Promise<void>) => void) => void): void {
    declare((name, body) => this.#specs.push({ workflow: this.#title, context: title, name, enabled: this.#enabled, body }));
  }
}

export class Suite {
  readonly specs: Spec[] = [];

  workflow(title: string, enabled: boolean): Workflow {
    return new Workflow(this.specs, title, enabled);
  }

  /** Runs every spec in declaration order, reporting each as it finishes. */
  async run(report: (result: SpecResult) => void, disabledReason: (workflow: string) => string): Promise<SpecResult[]> {
    const results: SpecResult[] = [];
    for (const spec of this.specs) {
      const result = await runOne(spec, disabledReason);
      results.push(result);
      report(result);
    }
    return results;
  }
}

async function runOne(spec: Spec, disabledReason: (workflow: string) => string): Promise<SpecResult> {
  if (!spec.enabled) return { spec, outcome: 'skipped', message: disabledReason(spec.workflow), details: [], warnings: [] };
  const t = new SpecControl();
  try {
    await spec.body(t);
    return { spec, outcome: 'passed', details: [], warnings: t.warnings };
  } catch (err) {
    if (err instanceof SpecSkipped) return { spec, outcome: 'skipped', message: err.message, details: [], warnings: t.warnings };
    if (err instanceof SpecFailed) return { spec, outcome: 'failed', message: err.message, details: err.details, warnings: t.warnings };
    // a transport error or a bug in the spec: the suite fails the spec on any error too
    const message = err instanceof Error ? err.message : String(err);
    return { spec, outcome: 'failed', message, details: [], warnings: t.warnings };
  }
}
