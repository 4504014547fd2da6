/**
 * Unit tests of src/cellhash.ts: ipykernel's names of cell files, and raw
 * dumps' cell frames named from the notebook's cells.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  CELL_HASH_SEED,
  cellFileHash,
  murmur2,
  nameRawCells
} from '../src/cellhash';
import { findCellIndex, ICellInfo, IFrame, ISnapshot } from '../src/model';

// ipykernel.compiler.murmur2_x86(text, get_tmp_hash_seed()), computed by ipykernel 7.
const IPYKERNEL: [string, number][] = [
  ['', 3990065800],
  ['a', 2167009006],
  ['ab', 2805137849],
  ['abc', 3350977461],
  ['abcd', 804720481],
  ['x = 1\n', 1602534638],
  ['def spin():\n    while True:\n        pass\nspin()', 2327910297],
  ['é ü 漢字 🙂', 2792385877]
];

test('murmur2 gives the hashes ipykernel names cell files with', () => {
  for (const [text, hash] of IPYKERNEL) {
    assert.equal(murmur2(text, CELL_HASH_SEED), hash, JSON.stringify(text));
  }
});

test('only ipykernel cell files have a hash', () => {
  assert.equal(cellFileHash('/tmp/ipykernel_42/2327910297.py'), 2327910297);
  assert.equal(cellFileHash('C:\\Temp\\ipykernel_7\\12.py'), 12);
  for (const other of ['/tmp/ipykernel_42/x.py', '/lib/12.py', '<stdin>', '']) {
    assert.equal(cellFileHash(other), null, other);
  }
});

const SPIN = 'def spin():\n    while True:\n        pass\nspin()';

function frame(filename: string, lineno: number, kind = 'cell'): IFrame {
  return {
    filename,
    lineno,
    function: 'spin',
    line: '',
    label: 'Cell',
    kind: kind as IFrame['kind'],
    repeat: 0,
    span: 1,
    cell_id: '',
    elided: 0
  };
}

function raw(frames: IFrame[], runsCell = false): ISnapshot {
  return {
    kind: 'raw',
    threads: [{ name: 'MainThread', frames, runs_cell: runsCell }]
  } as unknown as ISnapshot;
}

test('a raw frame of a cell gets its number, line and id from the notebook', () => {
  const cells: ICellInfo[] = [
    { id: 'first', executionCount: 1, source: 'import os' },
    { id: 'spinner', executionCount: 7, source: SPIN }
  ];
  const file = `/tmp/ipykernel_9/${murmur2(SPIN, CELL_HASH_SEED)}.py`;
  const shown = nameRawCells(
    raw([frame(file, 3), frame('/lib/x.py', 3, 'library')]),
    cells
  );
  const [cell, library] = shown.threads[0].frames;
  assert.equal(cell.label, 'Cell In[7]');
  assert.equal(cell.line, 'pass');
  assert.equal(cell.cell_id, 'spinner');
  assert.equal(library.label, 'Cell', 'not a cell file: left as it was');
  assert.equal(findCellIndex(cells, cell), 1);
  assert.equal(
    findCellIndex(cells, frame(file, 3)),
    1,
    'found by its hash alone'
  );
});

test('a cell edited since it ran, or a rich snapshot, is left as it is', () => {
  const cells: ICellInfo[] = [
    { id: 'spinner', executionCount: 7, source: SPIN + ' ' }
  ];
  const file = `/tmp/ipykernel_9/${murmur2(SPIN, CELL_HASH_SEED)}.py`;
  const shown = nameRawCells(raw([frame(file, 3)]), cells);
  assert.equal(shown.threads[0].frames[0].label, 'Cell');
  assert.equal(findCellIndex(cells, frame(file, 3)), -1);
  const rich = { ...raw([frame(file, 3)]), kind: 'rich' } as ISnapshot;
  assert.equal(nameRawCells(rich, cells), rich);
});

test('the running cell, which has no number yet, is In[*] on the thread that runs it', () => {
  const cells: ICellInfo[] = [
    { id: 'spinner', executionCount: null, source: SPIN }
  ];
  const file = `/tmp/ipykernel_9/${murmur2(SPIN, CELL_HASH_SEED)}.py`;
  const running = nameRawCells(raw([frame(file, 4)], true), cells);
  assert.equal(running.threads[0].frames[0].label, 'Cell In[*]');
  assert.equal(running.threads[0].frames[0].line, 'spin()');
  const elsewhere = nameRawCells(raw([frame(file, 4)], false), cells);
  assert.equal(
    elsewhere.threads[0].frames[0].label,
    'Cell',
    'no number to give'
  );
  assert.equal(elsewhere.threads[0].frames[0].cell_id, 'spinner');
});
