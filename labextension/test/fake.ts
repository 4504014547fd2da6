/**
 * Fakes of what the panel's controllers are given (timers, promises that
 * the test settles), shared by the node tests of src/controller.ts and
 * src/profiler.ts.
 */
import type { IClock } from '../src/controller';

export interface IDeferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): IDeferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/** Let every settled promise run its callbacks. */
export function settle(): Promise<void> {
  return new Promise(resolve => setImmediate(resolve));
}

/** Timers that fire only when the test moves the time on. */
export class FakeClock implements IClock {
  now = 0;

  setTimeout(callback: () => void, ms: number): unknown {
    return this._add(callback, ms, 0);
  }

  clearTimeout(handle: unknown): void {
    this._timers.delete(handle as number);
  }

  setInterval(callback: () => void, ms: number): unknown {
    return this._add(callback, ms, ms);
  }

  clearInterval(handle: unknown): void {
    this._timers.delete(handle as number);
  }

  get pending(): number {
    return this._timers.size;
  }

  /** Move the time on by `ms`, firing the timers that come due. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: [number, ITimer] | null = null;
      for (const entry of this._timers) {
        if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) {
          next = entry;
        }
      }
      if (!next) {
        break;
      }
      const [id, timer] = next;
      this.now = timer.at;
      if (timer.every) {
        timer.at += timer.every;
      } else {
        this._timers.delete(id);
      }
      timer.callback();
    }
    this.now = end;
  }

  private _add(callback: () => void, ms: number, every: number): number {
    const id = ++this._ids;
    this._timers.set(id, { at: this.now + ms, every, callback });
    return id;
  }

  private _timers = new Map<number, ITimer>();
  private _ids = 0;
}

interface ITimer {
  at: number;
  every: number;
  callback: () => void;
}
