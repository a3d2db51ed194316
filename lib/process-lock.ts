import { unlinkSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';

/**
 * One process per directory: for data kept consistent by locks in memory (the fs store's upload
 * appends, the fs webhook queue's claims), a second process would lose writes. A lock file holds
 * the owner's pid; a live owner makes `acquire` throw with `refusal(pid)`, and a lock left by a dead
 * process is taken over. Users inside the owning process share it.
 */
export class ProcessLock {
  readonly #path: string;
  readonly #refusal: (owner: number) => string;
  #held = false;

  constructor(path: string, refusal: (owner: number) => string) {
    this.#path = path;
    this.#refusal = refusal;
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
      if (Number.isSafeInteger(owner) && owner > 0 && alive(owner)) throw new Error(this.#refusal(owner));
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
