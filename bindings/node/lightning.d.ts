// Types of the package entry point (lightning.js): the generated native declarations
// (index.d.ts) plus what the small JS layer adds.
import type { RangeOptions, Key, Value, TransactionOptions, BatchOperation } from './index'
import { Database, Snapshot, Transaction, NativeIterator } from './index'

export * from './index'

/**
 * A lazy range over one consistent view (it does not see writes made after it was created).
 * It is both a sync and an async iterable; `close()` / `return()` release it early. Items
 * are pulled from the engine in chunks.
 */
export declare class RangeIterator<T> implements IterableIterator<T>, AsyncIterable<T> {
  private constructor()
  next(): IteratorResult<T, undefined>
  return(value?: unknown): IteratorResult<T, undefined>
  close(): void
  /** Every remaining item as an array. */
  all(): T[]
  [Symbol.iterator](): RangeIterator<T>
  [Symbol.asyncIterator](): AsyncIterableIterator<T>
}

/** Reads over a range: implemented by Database, Snapshot and Transaction. */
interface Ranges {
  /** `[key, value]` pairs in key order (or reverse), within the bounds. */
  iterator(options?: RangeOptions): RangeIterator<[Buffer, Buffer]>
  /** Keys only. */
  keys(options?: RangeOptions): RangeIterator<Buffer>
  /** Values only. */
  values(options?: RangeOptions): RangeIterator<Buffer>
}

declare module './index' {
  interface Database extends Ranges {
    /**
     * Applies `ops` atomically (all or nothing, also after a crash) on the thread pool;
     * durable when it resolves. Bad operations reject with a `TypeError`, oversized keys or
     * values with `LIGHTNING_KEY_TOO_LARGE` / `LIGHTNING_VALUE_TOO_LARGE` (nothing written).
     */
    batch(ops: BatchOperation[]): Promise<void>
    /** `batch`, blocking the JS thread until durable. */
    batchSync(ops: BatchOperation[]): void
    /**
     * Runs `fn` in a new transaction: commits (on the thread pool) when it resolves, rolls
     * back and rethrows when it throws. A commit conflict rejects with
     * `LIGHTNING_TRANSACTION_CONFLICT` (`retryable: true`); retrying is up to the caller.
     */
    transaction<T>(fn: (tx: Transaction) => T | Promise<T>, options?: TransactionOptions): Promise<T>
  }
  interface Snapshot extends Ranges {}
  interface Transaction extends Ranges {}
}

/** The `code` strings of errors thrown by this module: `LIGHTNING_` + the engine's code name. */
export type LightningErrorCode = `LIGHTNING_${string}`

/** Every error thrown or rejected by this module (a plain `Error`, or a `TypeError` for arguments of the wrong type). */
export interface LightningError extends Error {
  /** Stable string code, e.g. `LIGHTNING_TRANSACTION_CONFLICT`. */
  code: LightningErrorCode
  /** The engine's numeric code (`DatabaseError::error_code()`), e.g. 105. */
  errno: number
  /** Whether repeating the same operation unchanged may succeed. */
  retryable: boolean
  /** What to do about it, when the engine has advice. */
  suggestedAction: string | null
}

/**
 * The engine's code table, by name: each code under both spellings, `LIGHTNING_<NAME>` (as
 * errors' `code`) and `<NAME>`, mapped to its number (errors' `errno`).
 */
export declare const errorCodes: Readonly<Record<string, number>>

/** The engine's code table as rows (`errno`, `name`, `code`, `description`). */
export declare const errorTable: ReadonlyArray<import('./index').ErrorCodeEntry>

export { Database, Snapshot, Transaction, NativeIterator, Key, Value }
