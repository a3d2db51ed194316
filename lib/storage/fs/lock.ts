import { unlinkSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';

/**
 * One process per root: appends are compare-and-set within a process only (a lock per upload in
 * memory), so a second process on the same root could lose writes. The store takes a lock file at
 * `init()` and refuses to start when a live process holds it; a lock left by a dead process is
 * taken over. Several stores on one root inside one process share the lock (and their upload locks).
 */
export class RootLock {
  readonly #path: string;
  #held = false;

  constructor(path: string) {
    this.#path = path;
  }

  /** Resolves `true` when this call took the lock, `false` when this process already held it. */
  async acquire(): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const handle = await open(this.#path, 'wx');
        await handle.writeFile(`${process.pid}\n`);
        await handle.close();
        this.#held = true;
        process.once('exit', this.#releaseSync);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = Number((await readFile(this.#path, 'utf8').catch(() => '')).trim());
      if (owner === process.pid) return false;
      if (Number.isSafeInteger(owner) && owner > 0 && alive(owner)) {
        throw new Error(
          `fsStorage: ${this.#path} is held by process ${owner}: one process serves a root at a time (its uploads are locked in memory). ` +
            'Run one process per root, or use mongoStorage to share a store between instances.',
        );
      }
      // left by a process that is gone (a crash, kill -9): take it over
      await unlink(this.#path).catch(() => undefined);
    }
    throw new Error(`fsStorage: could not take the lock ${this.#path}`);
  }

  async release(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    process.removeListener('exit', this.#releaseSync);
    await unlink(this.#path).catch(() => undefined);
  }

  readonly #releaseSync = (): void => {
    if (!this.#held) return;
    try {
      unlinkSync(this.#path);
    } catch {
      // already gone
    }
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
