/** The logging hook, in pino's argument order so a pino (or bunyan) logger plugs straight in. */
export interface Logger {
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
  /** Optional: progress worth a line (a garbage-collection run's result). */
  info?(obj: unknown, msg?: string): void;
}

/** The default: one line on stderr per problem. berth logs nothing at info level. */
export const consoleLogger: Logger = {
  warn: (obj, msg) => console.warn('berth:', msg ?? '', obj),
  error: (obj, msg) => console.error('berth:', msg ?? '', obj),
};
