/**
 * Which notebook cell a raw dump's frame comes from.
 *
 * A raw dump (faulthandler, native code holding the GIL) names a cell only by
 * the file ipykernel compiled it as: `<tmp>/ipykernel_<pid>/<hash>.py`, where
 * the hash is 32-bit MurmurHash2 of the cell's source with ipykernel's seed
 * (`ipykernel.compiler.get_file_name`, the names its debugger shares with
 * JupyterLab's). Hashing each cell's source here finds the cell, its number and
 * its lines without the kernel, which cannot answer, and without the server
 * reading a file that a kernel named.
 */

import type { ICellInfo, IFrame, ISnapshot } from './model';

/** ipykernel's seed for the names of cell files. */
export const CELL_HASH_SEED = 0xc70f6907;

const CELL_FILE = /(?:^|[/\\])ipykernel_\d+[/\\](\d+)\.py$/;

/** 32-bit MurmurHash2 of the UTF-8 bytes of `text`, as ipykernel computes it. */
export function murmur2(text: string, seed: number): number {
  const data = new TextEncoder().encode(text);
  const m = 0x5bd1e995;
  let h = (seed ^ data.length) | 0;
  const end = data.length & ~3;
  for (let i = 0; i < end; i += 4) {
    let k =
      data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = data.length & 3;
  if (rest > 0) {
    let k = 0;
    if (rest === 3) {
      k = data[end + 2] << 16;
    }
    if (rest >= 2) {
      k |= data[end + 1] << 8;
    }
    k |= data[end];
    h = Math.imul(h ^ k, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h >>> 0;
}

/** The hash in a cell file's name, or null for any other file. */
export function cellFileHash(filename: string): number | null {
  const match = CELL_FILE.exec(filename);
  return match ? Number(match[1]) : null;
}

/** The index of the cell whose source hashes to a cell file's name; -1 if none. */
export function cellIndexByFile(cells: ICellInfo[], filename: string): number {
  const hash = cellFileHash(filename);
  if (hash === null) {
    return -1;
  }
  return cells.findIndex(
    cell =>
      cell.source !== undefined && murmur2(cell.source, CELL_HASH_SEED) === hash
  );
}

/**
 * A raw snapshot whose cell frames are named as a rich one's are: "Cell In[7]"
 * and the source line, taken from the notebook's cells. A cell that has no
 * number yet, on the thread that runs the cell, is the running one: "In[*]",
 * as its prompt says. Other snapshots, and frames of cells not found, are
 * left as they are.
 */
export function nameRawCells(
  snapshot: ISnapshot,
  cells: ICellInfo[]
): ISnapshot {
  if (snapshot.kind !== 'raw' || !cells.some(cell => cell.source)) {
    return snapshot;
  }
  const name = (frame: IFrame, running: boolean): IFrame => {
    const index =
      frame.kind === 'cell' ? cellIndexByFile(cells, frame.filename) : -1;
    if (index < 0) {
      return frame;
    }
    const cell = cells[index];
    const line = (cell.source ?? '').split(/\r\n|\r|\n/)[frame.lineno - 1];
    const count = cell.executionCount ?? (running ? '*' : null);
    return {
      ...frame,
      label: count !== null ? `Cell In[${count}]` : frame.label,
      line: frame.line || (line ?? '').trim(),
      cell_id: frame.cell_id || cell.id
    };
  };
  return {
    ...snapshot,
    threads: snapshot.threads.map(thread => ({
      ...thread,
      frames: thread.frames.map(frame => name(frame, thread.runs_cell))
    }))
  };
}
