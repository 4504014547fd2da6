/**
 * Unit tests of the pure helpers in src/model.ts: `npm test` (node's test runner).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import {
  cellVerdict,
  daskHeading,
  daskWorkerHeading,
  dumpBody,
  executionCountFromLabel,
  frameLocals,
  findCellIndex,
  frameTitle,
  hasLocals,
  hiddenTasksText,
  IFrame,
  isKernelTask,
  localLines,
  membersText,
  naturalCompare,
  OpenChoices,
  outputHeader,
  parseDumpReply,
  parseSnapshot,
  processGroups,
  parseSnapshotOutput,
  rememberOpen,
  renderText,
  rows,
  sayDuration,
  sectionHeading,
  sectionMatches,
  sections,
  summary,
  taskHeading,
  threadOpen,
  threadVerdict,
  visibleTasks,
  visibleThreads
} from '../src/model';

function frame(extra: Partial<IFrame>): Record<string, unknown> {
  return {
    filename: '/usr/lib/python3/threading.py',
    lineno: 1,
    function: 'f',
    line: '',
    label: '',
    kind: 'library',
    repeat: 0,
    span: 1,
    cell_id: '',
    ...extra
  };
}

const SNAPSHOT = {
  format: 'ipysigtrace.snapshot',
  version: 1,
  time: 1764320000.1,
  pid: 4242,
  trigger: 'request',
  kind: 'rich',
  cell_thread: 1398,
  freeze_seconds: 0.0004,
  note: '',
  future_field: { anything: true },
  threads: [
    {
      ident: 77,
      name: 'IOPub',
      native_id: null,
      daemon: true,
      is_main: false,
      runs_cell: false,
      service: true,
      state: 'waiting for I/O',
      frames: [frame({ kind: 'machinery', function: 'poll' })]
    },
    {
      ident: 55,
      name: 'worker',
      native_id: 4250,
      daemon: false,
      is_main: false,
      runs_cell: false,
      service: false,
      state: 'waiting for a lock',
      frames: [frame({ function: 'wait', line: 'waiter.acquire()' })]
    },
    {
      ident: 1398,
      name: 'MainThread',
      native_id: 4242,
      daemon: false,
      is_main: true,
      runs_cell: true,
      service: false,
      state: 'running',
      frames: [
        frame({ kind: 'machinery', function: 'run_cell' }),
        frame({ kind: 'machinery', function: 'run_code', repeat: 0 }),
        frame({
          filename: '/tmp/ipykernel_1/123.py',
          lineno: 4,
          function: 'dive',
          line: '    return dive(n + 1)',
          label: 'Cell In[7]',
          kind: 'cell',
          repeat: 4990,
          cell_id: 'abc-123',
          unknown_key: 1
        } as Partial<IFrame>),
        frame({
          filename: '/tmp/ipykernel_1/123.py',
          lineno: 3,
          function: 'spin',
          line: 'while True: pass',
          label: 'Cell In[7]',
          kind: 'cell',
          cell_id: 'abc-123'
        })
      ]
    }
  ]
};

test('parseSnapshot tolerates unknown fields and fills defaults', () => {
  const snapshot = parseSnapshot({
    format: 'ipysigtrace.snapshot',
    threads: [{}]
  });
  assert.equal(snapshot.kind, 'rich');
  assert.equal(snapshot.cell_thread, null);
  // The default of Python's reader: the compact form leaves "running" out.
  assert.equal(snapshot.threads[0].state, 'running');
  assert.deepEqual(snapshot.threads[0].frames, []);
  const full = parseSnapshot(SNAPSHOT);
  assert.equal(full.threads.length, 3);
  assert.equal(full.threads[2].frames[2].cell_id, 'abc-123');
});

test('parseSnapshot rejects other data and unknown frame kinds fall back', () => {
  assert.throws(() => parseSnapshot({ format: 'other' }));
  assert.throws(() => parseSnapshot(null));
  const odd = parseSnapshot({
    format: 'ipysigtrace.snapshot',
    threads: [{ frames: [{ kind: '<img src=x onerror=alert(1)>' }] }]
  });
  assert.equal(odd.threads[0].frames[0].kind, 'user');
});

test('parseDumpReply reads source and snapshot', () => {
  const reply = parseDumpReply({ source: 'control', snapshot: SNAPSHOT });
  assert.equal(reply.source, 'control');
  assert.equal(reply.snapshot.pid, 4242);
});

test('summary groups states', () => {
  assert.equal(
    summary(parseSnapshot(SNAPSHOT)),
    '2 threads: 1 running, 1 waiting (1 hidden)'
  );
  assert.equal(
    summary(parseSnapshot(SNAPSHOT), true),
    '3 threads: 1 running, 2 waiting'
  );
});

test('visibleThreads puts the cell thread first and hides service threads', () => {
  const snapshot = parseSnapshot(SNAPSHOT);
  const { shown, hidden } = visibleThreads(snapshot, false);
  assert.deepEqual(
    shown.map(t => t.name),
    ['MainThread', 'worker']
  );
  assert.deepEqual(
    hidden.map(t => t.name),
    ['IOPub']
  );
  assert.equal(visibleThreads(snapshot, true).shown.length, 3);
});

test('rows fold machinery and repeats', () => {
  const main = parseSnapshot(SNAPSHOT).threads[2];
  const out = rows(main, false);
  assert.deepEqual(
    out.map(r => r.type),
    ['hidden', 'frame', 'fold', 'frame']
  );
  assert.equal(
    out[0].type === 'hidden' && out[0].text,
    "[... 2 frames of the kernel's machinery ...]"
  );
  assert.equal(
    out[2].type === 'fold' && out[2].text,
    '[... dive at line 4, 4,990 more times ...]'
  );
  assert.equal(out[3].type === 'frame' && out[3].current, true);
  assert.equal(rows(main, true).length, 5);
});

test('a fold of several frames comes after the last frame of its group', () => {
  const thread = parseSnapshot({
    format: 'ipysigtrace.snapshot',
    threads: [
      {
        frames: [
          frame({ kind: 'user', function: 'a', repeat: 1000, span: 2 }),
          frame({ kind: 'user', function: 'b' }),
          frame({ kind: 'user', function: 'c' })
        ]
      }
    ]
  }).threads[0];
  const out = rows(thread, false);
  assert.deepEqual(
    out.map(r => r.type),
    ['frame', 'frame', 'fold', 'frame']
  );
  assert.equal(
    out[2].type === 'fold' && out[2].text,
    '[... the 2 frames above, 1,000 more times ...]'
  );
});

test('frame titles look like a traceback', () => {
  const main = parseSnapshot(SNAPSHOT).threads[2];
  assert.equal(frameTitle(main.frames[3]), 'Cell In[7], line 3, in spin');
  assert.equal(
    frameTitle(main.frames[0]),
    'File "/usr/lib/python3/threading.py", line 1, in run_cell'
  );
});

test("finding a frame's cell by id, then by execution count", () => {
  const cells = [
    { id: 'x', executionCount: 6 },
    { id: 'abc-123', executionCount: null },
    { id: 'z', executionCount: 7 }
  ];
  const main = parseSnapshot(SNAPSHOT).threads[2];
  assert.equal(findCellIndex(cells, main.frames[3]), 1);
  const noId = { ...main.frames[3], cell_id: '' };
  assert.equal(findCellIndex(cells, noId), 2);
  assert.equal(findCellIndex(cells, { ...noId, label: '' }), -1);
  assert.equal(executionCountFromLabel('Cell In[12]'), 12);
  assert.equal(executionCountFromLabel('Cell In[ ]'), null);
});

test('renderText is a plain traceback-like text', () => {
  const text = renderText(parseSnapshot(SNAPSHOT), false);
  assert.match(
    text,
    /^Stacks of process 4242 at \d\d:\d\d:\d\d\.\d{3} \(request\): 2 threads: 1 running, 1 waiting \(1 hidden\)/
  );
  assert.match(
    text,
    /Thread MainThread \(ident 1398, native 4242\), runs the cell: running/
  );
  assert.match(
    text,
    / {2}Cell In\[7\], line 3, in spin\n {4}while True: pass\n/
  );
  assert.match(
    text,
    /\(1 kernel thread hidden \(IOPub\); --all shows them\)\n$/
  );
  assert.ok(text.indexOf('MainThread') < text.indexOf('worker'));
});

/** SNAPSHOT with locals on the cell frames, as `{"locals": true}` answers. */
function withLocals(): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(SNAPSHOT));
  const main = copy.threads[2];
  main.frames[2].locals = [{ name: 'n', type: 'int', value: '42' }];
  main.frames[3].locals = [
    { name: 'n', type: 'int', value: '42' },
    { name: 'token', type: 'str', value: '******' },
    { name: 'rows', type: 'list', value: '[1, 2, 3]' }
  ];
  copy.threads[1].frames[0].locals = null;
  return copy;
}

test('parseSnapshot reads locals and tolerates their absence', () => {
  const main = parseSnapshot(withLocals()).threads[2];
  assert.deepEqual(main.frames[2].locals, [
    { name: 'n', type: 'int', value: '42' }
  ]);
  assert.equal(main.frames[3].locals?.length, 3);
  assert.equal(main.frames[3].locals?.[1].value, '******');
  // Absent or null: not captured.
  assert.equal(main.frames[0].locals, null);
  const worker = parseSnapshot(withLocals()).threads[1];
  assert.equal(worker.frames[0].locals, null);
  assert.deepEqual(frameLocals(worker.frames[0]), []);
  assert.deepEqual(frameLocals({ ...worker.frames[0], locals: undefined }), []);
});

test('parseSnapshot drops malformed locals', () => {
  const parsed = parseSnapshot({
    format: 'ipysigtrace.snapshot',
    threads: [
      {
        frames: [
          {
            kind: 'cell',
            locals: [
              { name: 'ok', type: 'int', value: '1' },
              { name: 'no_type', value: '2' },
              { name: '', type: 'int', value: '3' },
              { name: 7, type: 'int', value: '4' },
              { name: 'no_value', type: 'int' },
              { name: 'obj_value', type: 'dict', value: { a: 1 } },
              { name: 'odd_type', type: 5, value: '5' },
              'x = 1',
              null,
              ['n', 'int', '1']
            ]
          },
          { kind: 'user', locals: 'n = 42' },
          { kind: 'user', locals: { n: '42' } },
          { kind: 'user', locals: [] }
        ]
      }
    ]
  });
  const frames = parsed.threads[0].frames;
  assert.deepEqual(frames[0].locals, [
    { name: 'ok', type: 'int', value: '1' },
    { name: 'no_type', type: '', value: '2' },
    { name: 'odd_type', type: '', value: '5' }
  ]);
  assert.equal(frames[1].locals, null);
  assert.equal(frames[2].locals, null);
  assert.deepEqual(frames[3].locals, []);
});

test('dumpBody asks for locals only when told', () => {
  assert.equal(dumpBody(), '{}');
  assert.equal(dumpBody({}), '{}');
  assert.equal(dumpBody({ locals: false }), '{}');
  assert.deepEqual(JSON.parse(dumpBody({ locals: true })), { locals: true });
});

test('renderText lists locals after the source line only when asked', () => {
  const snapshot = parseSnapshot(withLocals());
  const plain = renderText(snapshot, false);
  assert.equal(renderText(snapshot, false, false), plain);
  assert.doesNotMatch(plain, /= 42/);
  const text = renderText(snapshot, false, true);
  assert.match(
    text,
    / {2}Cell In\[7\], line 4, in dive\n {4}return dive\(n \+ 1\)\n {6}n = 42 {2}\(int\)\n {2}\[\.\.\. dive at line 4/
  );
  assert.match(
    text,
    / {2}Cell In\[7\], line 3, in spin\n {4}while True: pass\n {6}n = 42 {2}\(int\)\n {6}token = \*{6} {2}\(str\)\n {6}rows = \[1, 2, 3\] {2}\(list\)\n/
  );
  // The rest of the text is the same as without locals.
  assert.equal(
    text
      .split('\n')
      .filter(line => !/^ {6}\S/.test(line))
      .join('\n'),
    plain
  );
});

test('renderText puts locals under the title of a frame without source', () => {
  const snapshot = parseSnapshot({
    format: 'ipysigtrace.snapshot',
    threads: [
      {
        name: 'MainThread',
        frames: [
          frame({
            kind: 'user',
            function: 'g',
            locals: [{ name: 'x', type: 'str', value: "'a\\nb'" }]
          })
        ]
      }
    ]
  });
  assert.match(
    renderText(snapshot, false, true),
    /, in g\n {6}x = 'a\\nb' {2}\(str\)\n$/
  );
});

test('localLines indents the continuation of a value on several lines', () => {
  assert.deepEqual(
    localLines({ name: 'df', type: 'DataFrame', value: 'a\nb\r\nc' }, '  '),
    ['  df = a', '       b', '       c  (DataFrame)']
  );
});

/**
 * A cell suspended in a top-level `await`: the main thread shows only the
 * kernel's machinery, its loop's tasks show the cell.
 */
function withTasks(): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(SNAPSHOT));
  const main = copy.threads[2];
  main.frames = [
    frame({ kind: 'machinery', function: 'start' }),
    frame({ kind: 'machinery', function: 'run_forever' })
  ];
  main.tasks = [
    {
      name: 'Task-4',
      awaiting: 'Future',
      frames: [
        frame({ kind: 'machinery', function: 'dispatch_queue' }),
        frame({ kind: 'machinery', function: 'run_cell_async' }),
        frame({
          filename: '/tmp/ipykernel_1/456.py',
          lineno: 2,
          function: '<module>',
          line: 'await fetch()',
          label: 'Cell In[9]',
          kind: 'cell',
          cell_id: 'def-456',
          locals: [{ name: 'url', type: 'str', value: "'http://x'" }]
        }),
        frame({
          filename: '/home/me/lib.py',
          lineno: 8,
          function: 'fetch',
          line: '  await asyncio.sleep(3600)',
          kind: 'user'
        }),
        frame({
          kind: 'library',
          function: 'sleep',
          line: 'return await future'
        })
      ]
    },
    {
      name: 'Task-1',
      awaiting: '',
      frames: [frame({ kind: 'machinery', function: 'poll' })]
    },
    {
      name: 'Task-2',
      awaiting: 'Event',
      frames: [frame({ kind: 'library', function: 'wait' })]
    }
  ];
  return copy;
}

test('parseSnapshot reads tasks and tolerates their absence', () => {
  const old = parseSnapshot(SNAPSHOT);
  for (const thread of old.threads) {
    assert.deepEqual(thread.tasks, []);
  }
  const main = parseSnapshot(withTasks()).threads[2];
  assert.deepEqual(
    main.tasks.map(t => [t.name, t.awaiting, t.frames.length]),
    [
      ['Task-4', 'Future', 5],
      ['Task-1', '', 1],
      ['Task-2', 'Event', 1]
    ]
  );
  const cell = main.tasks[0].frames[2];
  assert.equal(cell.kind, 'cell');
  assert.equal(cell.cell_id, 'def-456');
  assert.equal(cell.label, 'Cell In[9]');
  assert.deepEqual(cell.locals, [
    { name: 'url', type: 'str', value: "'http://x'" }
  ]);
  // Task frames are parsed like thread frames.
  assert.equal(main.tasks[0].frames[4].locals, null);
});

test('parseSnapshot drops malformed tasks', () => {
  const parsed = parseSnapshot({
    format: 'ipysigtrace.snapshot',
    threads: [
      {
        tasks: [
          { name: 'ok', awaiting: 'Future', frames: [{ kind: 'cell' }] },
          { name: 'no_frames' },
          { name: 'odd_awaiting', awaiting: 7, frames: [] },
          { name: 'odd_kind', frames: [{ kind: '<b>x</b>' }] },
          { name: '', frames: [] },
          { name: 5, frames: [] },
          { awaiting: 'Future', frames: [] },
          { name: 'frames_not_list', frames: 'x' },
          { name: 'frames_object', frames: { 0: {} } },
          'Task-9',
          null,
          ['Task-9', 'Future', []]
        ]
      },
      { tasks: 'Task-1' },
      { tasks: { name: 'Task-1', frames: [] } },
      { tasks: null }
    ]
  });
  const tasks = parsed.threads[0].tasks;
  assert.deepEqual(
    tasks.map(t => [t.name, t.awaiting, t.frames.length]),
    [
      ['ok', 'Future', 1],
      ['no_frames', '', 0],
      ['odd_awaiting', '', 0],
      ['odd_kind', '', 1]
    ]
  );
  assert.equal(tasks[3].frames[0].kind, 'user');
  for (const thread of parsed.threads.slice(1)) {
    assert.deepEqual(thread.tasks, []);
  }
});

test("the kernel's own tasks are hidden unless internals are shown", () => {
  const main = parseSnapshot(withTasks()).threads[2];
  assert.deepEqual(main.tasks.map(isKernelTask), [false, true, true]);
  const hidden = visibleTasks(main, false);
  assert.deepEqual(
    hidden.shown.map(t => t.name),
    ['Task-4']
  );
  assert.equal(hidden.hidden, 2);
  const all = visibleTasks(main, true);
  assert.deepEqual(
    all.shown.map(t => t.name),
    ['Task-4', 'Task-1', 'Task-2']
  );
  assert.equal(all.hidden, 0);
  assert.equal(isKernelTask({ name: 'empty', awaiting: '', frames: [] }), true);
  assert.deepEqual(visibleTasks(parseSnapshot(SNAPSHOT).threads[2], false), {
    shown: [],
    hidden: 0
  });
});

test('task headings and the hidden-tasks line', () => {
  const main = parseSnapshot(withTasks()).threads[2];
  assert.equal(
    taskHeading(main.tasks[0]),
    'asyncio task Task-4, waiting on a Future'
  );
  assert.equal(taskHeading(main.tasks[1]), 'asyncio task Task-1');
  assert.equal(
    hiddenTasksText(1),
    '[... 1 asyncio task of the kernel hidden ...]'
  );
  assert.equal(
    hiddenTasksText(3),
    '[... 3 asyncio tasks of the kernel hidden ...]'
  );
});

test('rows of a task fold machinery like a thread', () => {
  const task = parseSnapshot(withTasks()).threads[2].tasks[0];
  const out = rows(task, false);
  assert.deepEqual(
    out.map(r => r.type),
    ['hidden', 'frame', 'frame', 'frame']
  );
  assert.equal(out[3].type === 'frame' && out[3].current, true);
  assert.equal(rows(task, true).length, 5);
});

test('renderText lists the tasks after the thread frames', () => {
  const snapshot = parseSnapshot(withTasks());
  const text = renderText(snapshot, false);
  const expected = [
    'Thread MainThread (ident 1398, native 4242), runs the cell: running',
    "  [... 2 frames of the kernel's machinery ...]",
    '  asyncio task Task-4, waiting on a Future:',
    "    [... 2 frames of the kernel's machinery ...]",
    '    Cell In[9], line 2, in <module>',
    '      await fetch()',
    '    File "/home/me/lib.py", line 8, in fetch',
    '      await asyncio.sleep(3600)',
    '    File "/usr/lib/python3/threading.py", line 1, in sleep',
    '      return await future',
    '  [... 2 asyncio tasks of the kernel hidden ...]',
    '',
    'Thread worker'
  ].join('\n');
  assert.ok(text.includes(expected), text);
  assert.doesNotMatch(text, /Task-1|Task-2/);
  // The summary and thread states do not count tasks.
  assert.match(text, /: 2 threads: 1 running, 1 waiting \(1 hidden\)\n/);
});

test('renderText shows every task and its locals when asked', () => {
  const snapshot = parseSnapshot(withTasks());
  const text = renderText(snapshot, true, true);
  assert.match(
    text,
    / {4}Cell In\[9\], line 2, in <module>\n {6}await fetch\(\)\n {8}notebook globals:\n {8}url = 'http:\/\/x' {2}\(str\)\n/
  );
  assert.match(
    text,
    / {2}asyncio task Task-1:\n {4}File "\/usr\/lib\/python3\/threading.py", line 1, in poll\n {2}asyncio task Task-2, waiting on a Event:\n {4}File .*, in wait\n {2}asyncio task Task-4, waiting on a Future:\n/
  );
  // Tasks in natural order of names; the waits on other threads before the IOPub thread.
  assert.match(
    text,
    /return await future\n\nThread worker .*\n.*\n.*\n\nThread IOPub/
  );
  assert.doesNotMatch(text, /asyncio tasks? of the kernel hidden/);
  assert.doesNotMatch(renderText(snapshot, true, false), /url = /);
});

test('renderText hides a lone kernel task with the singular line', () => {
  const copy = withTasks() as { threads: { tasks?: unknown[] }[] };
  copy.threads[2].tasks = copy.threads[2].tasks!.slice(1, 2);
  const text = renderText(parseSnapshot(copy), false);
  assert.match(
    text,
    /\n {2}\[\.\.\. 1 asyncio task of the kernel hidden \.\.\.\]\n\nThread worker/
  );
  assert.doesNotMatch(text, /asyncio task Task/);
  // Without tasks the text is the same as before.
  const plain = parseSnapshot(SNAPSHOT);
  assert.doesNotMatch(renderText(plain, true, true), /asyncio/);
});

test('parseSnapshotOutput reads the snapshot and the header', () => {
  const output = parseSnapshotOutput({
    snapshot: SNAPSHOT,
    header: 'Live stacks · cell running for 3 min 12 s'
  });
  assert.equal(output.snapshot.pid, 4242);
  assert.equal(output.snapshot.threads.length, 3);
  assert.equal(
    outputHeader(output),
    'Live stacks · cell running for 3 min 12 s'
  );
  // Without a header (absent, empty or not a string): the title and summary.
  for (const header of [undefined, '', 7]) {
    const bare = parseSnapshotOutput({ snapshot: SNAPSHOT, header });
    assert.equal(bare.header, '');
    assert.match(
      outputHeader(bare),
      /^Stacks of process 4242 at \d\d:\d\d:\d\d\.\d{3} \(request\): 2 threads: 1 running, 1 waiting \(1 hidden\)$/
    );
  }
  assert.throws(() => parseSnapshotOutput(SNAPSHOT), /not a stack snapshot/);
  assert.throws(() => parseSnapshotOutput(null), /not a stack snapshot/);
  assert.throws(() => parseSnapshotOutput({ snapshot: { format: 'x' } }));
});

test('hasLocals looks at the frames of threads and of tasks', () => {
  assert.equal(hasLocals(parseSnapshot(SNAPSHOT)), false);
  assert.equal(hasLocals(parseSnapshot(withLocals())), true);
  assert.equal(hasLocals(parseSnapshot(withTasks())), true);
  // Captured but empty everywhere: nothing to show.
  const empty = JSON.parse(JSON.stringify(SNAPSHOT));
  for (const thread of empty.threads) {
    for (const item of thread.frames) {
      item.locals = [];
    }
  }
  assert.equal(hasLocals(parseSnapshot(empty)), false);
});

/** The sections a view opens, by ident, the way ThreadsRenderer does. */
function openIdents(
  choices: OpenChoices,
  data: Record<string, unknown>,
  showInternals = false
): number[] {
  const snapshot = parseSnapshot(data);
  return sections(snapshot, showInternals)
    .sections.filter(s => threadOpen(choices, s.threads[0], s.open))
    .map(s => s.threads[0].ident);
}

/** SNAPSHOT with its worker waiting for I/O: a wait that does not open by default. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON copy to edit
function quiet(): Record<string, any> {
  const data = JSON.parse(JSON.stringify(SNAPSHOT));
  data.threads[1].state = 'waiting for I/O';
  return data;
}

test('thread sections keep what the user chose across snapshots', () => {
  const choices: OpenChoices = new Map();
  // By default only the thread running the cell is open.
  assert.deepEqual(openIdents(choices, quiet()), [1398]);
  // The user opens the worker and closes the main thread.
  rememberOpen(choices, '55', true, false);
  rememberOpen(choices, '1398', false, true);
  assert.deepEqual(openIdents(choices, quiet()), [55]);
  // The next snapshot: the same choices, by ident, whatever the order.
  const next = quiet();
  next.threads.reverse();
  next.threads[0].state = 'sleeping';
  assert.deepEqual(openIdents(choices, next), [55]);
  // Showing the internals adds the IOPub thread, closed.
  assert.deepEqual(openIdents(choices, next, true), [55]);
  // Reopening the main thread by hand is its default again: forgotten.
  rememberOpen(choices, '1398', true, true);
  assert.deepEqual([...choices.keys()], ['55']);
  assert.deepEqual(openIdents(choices, next).sort(), [1398, 55]);
});

test('a section left alone follows the thread that runs the cell', () => {
  const choices: OpenChoices = new Map();
  rememberOpen(choices, '1398', true, true);
  rememberOpen(choices, '55', false, false);
  assert.equal(choices.size, 0);
  // The cell now runs on the worker thread.
  const moved = quiet();
  moved.cell_thread = 55;
  moved.threads[2].runs_cell = false;
  moved.threads[1].runs_cell = true;
  assert.deepEqual(openIdents(choices, moved), [55]);
  // A thread gone from the snapshot keeps its choice for when it comes back.
  rememberOpen(choices, '99', true, false);
  assert.deepEqual(openIdents(choices, moved), [55]);
  assert.equal(choices.get('99'), true);
});

function crowd(trigger = 'request'): Record<string, unknown> {
  const worker = (i: number, state = 'waiting on an event', lineno = 5) => ({
    ident: 100 + i,
    name: `worker-${i}`,
    native_id: 1000 + i,
    state,
    frames: [
      frame({ kind: 'machinery', function: 'Thread._bootstrap' }),
      frame({
        filename: '/home/u/w.py',
        lineno,
        function: 'work',
        kind: 'user'
      }),
      frame({ function: 'Event.wait', line: 'self._cond.wait()' })
    ]
  });
  const workers = [...Array(300).keys()].reverse().map(i => worker(i));
  const threads = SNAPSHOT.threads as Record<string, unknown>[];
  return {
    ...SNAPSHOT,
    trigger,
    threads: [threads[0], ...workers, worker(300, 'running', 9), threads[2]]
  };
}

test('threads with one stack are one section, names in natural order', () => {
  const { sections: groups, hidden } = sections(parseSnapshot(crowd()), false);
  assert.deepEqual(
    groups.map(s => s.threads.length),
    [1, 300, 1]
  );
  assert.deepEqual(
    groups[1].threads.slice(0, 3).map(t => t.name),
    ['worker-0', 'worker-1', 'worker-2']
  );
  assert.equal(sectionHeading(groups[1]), '300 threads worker-0 … worker-299');
  assert.deepEqual(
    hidden.map(t => t.name),
    ['IOPub']
  );
  const text = renderText(parseSnapshot(crowd()), false);
  assert.ok(
    text.includes(
      '\n300 threads worker-0 … worker-299: waiting on an event\n' +
        '  threads: worker-0 … worker-299\n'
    ),
    text
  );
  assert.equal(text.split('in work').length, 3); // the group once, worker-300 once
  assert.ok(text.includes(': 302 threads: 2 running, 300 waiting (1 hidden)'));
});

test('the cell thread first and open, waits on other threads open', () => {
  const { sections: groups } = sections(parseSnapshot(crowd()), false);
  assert.deepEqual(
    groups.map(s => [s.threads[0].name, s.open]),
    [
      ['MainThread', true],
      ['worker-0', true],
      ['worker-300', false]
    ]
  );
  const magic = sections(parseSnapshot(crowd('magic')), false).sections;
  assert.deepEqual(
    magic.map(s => s.threads[0].name),
    ['worker-0', 'worker-300', 'MainThread']
  );
  assert.equal(magic[2].open, false);
});

test('where no thread runs a cell, the one in its code comes first and open', () => {
  const worker = parseSnapshot({
    format: 'ipysigtrace.snapshot',
    version: 1,
    time: 1,
    pid: 10,
    trigger: 'request',
    threads: [
      {
        ident: 1,
        name: 'MainThread',
        is_main: true,
        state: 'waiting for I/O',
        frames: [
          {
            filename: '/lib/selectors.py',
            lineno: 468,
            function: 'select',
            kind: 'library'
          }
        ]
      },
      {
        ident: 2,
        name: 'Dask-Default-Threads-0',
        state: 'sleeping',
        frames: [
          { filename: '/tmp/k/2.py', lineno: 6, function: 'slow', kind: 'cell' }
        ]
      }
    ]
  });
  assert.deepEqual(
    sections(worker, false).sections.map(s => [s.threads[0].name, s.open]),
    [
      ['Dask-Default-Threads-0', true],
      ['MainThread', false]
    ]
  );
});

test('naturalCompare and membersText follow the Python rule', () => {
  assert.deepEqual(['w-10', 'w-2', 'W-1'].sort(naturalCompare), [
    'W-1',
    'w-2',
    'w-10'
  ]);
  assert.equal(
    membersText(['a-1', 'a-2', 'a-3', 'a-5', 'b', 'pool-7', 'pool-8', 'x10']),
    'a-1 … a-3, a-5, b, pool-7, pool-8, x10'
  );
});

test('the filter matches thread names, functions and files', () => {
  const { sections: groups } = sections(parseSnapshot(crowd()), false);
  const names = (filter: string) =>
    groups.filter(s => sectionMatches(s, filter)).map(s => s.threads[0].name);
  assert.deepEqual(names(''), ['MainThread', 'worker-0', 'worker-300']);
  assert.deepEqual(names('WORKER-12'), ['worker-0']);
  assert.deepEqual(names('spin'), ['MainThread']);
  assert.deepEqual(names('/home/u/w.py'), ['worker-0', 'worker-300']);
  assert.deepEqual(names('nothing like it'), []);
});

test('the verdict reads as the kernel says it, and older snapshots say nothing', () => {
  const old = parseSnapshot(SNAPSHOT);
  assert.equal(old.cell_started, null);
  assert.equal(old.threads[2].verdict, '');
  assert.equal(cellVerdict(old), '', 'nobody judged it: no "no cell running"');
  const judged = structuredClone(SNAPSHOT) as typeof SNAPSHOT & {
    cell_started?: number;
  };
  judged.cell_started = SNAPSHOT.time - 192;
  const threads = judged.threads as Record<string, unknown>[];
  Object.assign(threads[2], {
    verdict: 'still',
    still_since: SNAPSHOT.time - 160
  });
  Object.assign(threads[1], {
    verdict: 'moving',
    changed: 'line 3 → 4 in wait',
    held_by: 'holder (ident 9)'
  });
  Object.assign(threads[0], { verdict: 'bogus', still_since: 'soon' });
  const snapshot = parseSnapshot(judged);
  assert.equal(
    cellVerdict(snapshot),
    'cell running for 3 min 12 s · same place, same locals, for 2 min 40 s'
  );
  assert.equal(
    threadVerdict(snapshot.threads[1], snapshot.time),
    'moving: line 3 → 4 in wait'
  );
  assert.equal(snapshot.threads[1].held_by, 'holder (ident 9)');
  assert.equal(old.threads[1].held_by, '', 'older snapshots name no owner');
  assert.equal(snapshot.threads[0].verdict, '', 'an unknown verdict is none');
  assert.equal(snapshot.threads[0].still_since, null);
  assert.match(
    outputHeader({ snapshot, header: '' }),
    / · cell running for 3 min 12 s · same place/
  );
  threads[2].verdict = 'first';
  assert.match(cellVerdict(parseSnapshot(judged)), /· first look: no earlier/);
  delete judged.cell_started;
  assert.equal(cellVerdict(parseSnapshot(judged)), 'no cell running');
  assert.deepEqual([0.5, 45, 192, 7500, 605000].map(sayDuration), [
    '0.5 s',
    '45 s',
    '3 min 12 s',
    '2 h 5 min',
    '7 d 0 h'
  ]);
});

// The form a notebook keeps, as the kernel writes it (tests/fixtures, which
// tests/unit/test_saved_form.py reads too): the same snapshot as its full form.
const FIXTURES = path.join(__dirname, '..', '..', '..', 'tests', 'fixtures');

function fixture(name: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));
}

test('the compact form a notebook keeps reads as the full form', () => {
  const saved = parseSnapshot(fixture('saved-snapshot.json'));
  const full = parseSnapshot(fixture('saved-snapshot.expanded.json'));
  // Version 2: a worker's thread is like a thread of an earlier worker.
  assert.equal(saved.version, 2);
  assert.deepEqual({ ...saved, version: 1 }, full);
  const [first, second] = saved.processes.slice(2).map(p => p.threads[0]);
  assert.deepEqual(second.frames, first.frames);
  assert.equal(second.native_id, 4246);
  assert.equal(saved.trimmed, true);
  assert.deepEqual(
    saved.threads.slice(1, 4).map(t => t.daemon),
    [true, true, false]
  );
  assert.deepEqual(saved.threads[3].frames, saved.threads[1].frames);
  assert.equal(renderText(saved, false), renderText(full, false));
});

test('the kernel frames a saved snapshot left out are a count, shown or not', () => {
  const saved = parseSnapshot(fixture('saved-snapshot.json'));
  for (const showInternals of [false, true]) {
    const first = rows(saved.threads[0], showInternals)[0];
    assert.equal(first.type, 'hidden');
    assert.equal(first.type === 'hidden' && first.count, 2);
  }
});

test('a thread like no earlier one is read as it stands', () => {
  const data = fixture('saved-snapshot.json') as {
    threads: Record<string, unknown>[];
  };
  data.threads[2] = { ident: 9, name: 'stray', like: 5 };
  const thread = parseSnapshot(data).threads[2];
  assert.equal(thread.name, 'stray');
  assert.deepEqual(thread.frames, []);
  assert.equal(thread.state, 'running');
});

// tests/fixtures/saved-snapshot.txt is what Python's text renderer makes of
// the fixture, but for the first line (a clock in local time):
// tests/unit/test_saved_form.py. The lab extension's text is the same.
test('the text of a snapshot is the one Python makes, line for line', () => {
  const saved = parseSnapshot(fixture('saved-snapshot.json'));
  assert.deepEqual(
    saved.processes.map(p => [p.pid, p.forked, p.threads.length]),
    [
      [4243, false, 0],
      [4244, false, 0],
      [4245, true, 1],
      [4246, true, 1]
    ]
  );
  assert.deepEqual(
    processGroups(saved).map(g => g.map(p => p.pid)),
    [[4245, 4246]]
  );
  const expected = fs.readFileSync(
    path.join(FIXTURES, 'saved-snapshot.txt'),
    'utf8'
  );
  const text = renderText(saved, false, true);
  assert.equal(text.slice(text.indexOf('\n') + 1), expected);
});

test('child processes are read and listed after the threads, as Python lists them', () => {
  const snapshot = parseSnapshot({
    format: 'ipysigtrace.snapshot',
    version: 1,
    time: 1,
    pid: 4242,
    processes: [
      { pid: 4243, parent: 4242, command: 'python -c <b>x</b>' },
      { pid: 4250, parent: 4243, note: 'ended, not yet reaped by its parent' },
      'not a process'
    ]
  });
  assert.deepEqual(
    snapshot.processes.map(p => p.pid),
    [4243, 4250]
  );
  const lines = renderText(snapshot, false).split('\n');
  assert.deepEqual(lines.slice(-4), [
    '2 child processes (their own stacks are not in this dump)',
    '  pid 4243: python -c <b>x</b>',
    '  pid 4250 (child of 4243): (no command line); ended, not yet reaped by its parent',
    ''
  ]);
  assert.deepEqual(
    parseSnapshot({ format: 'ipysigtrace.snapshot' }).processes,
    []
  );
});

test('a Dask report is read with defaults, and its note replaces the count', () => {
  const base = { format: 'ipysigtrace.snapshot', version: 1, time: 1, pid: 1 };
  assert.equal(parseSnapshot(base).dask, null);
  assert.equal(parseSnapshot({ ...base, dask: { workers: [] } }).dask, null);
  const report = parseSnapshot({
    ...base,
    dask: {
      scheduler: 'tcp://h:8786',
      note: 'no answer from the scheduler within 1 s',
      workers: [
        { address: 'tcp://w:1', tasks: [{ name: 'k', frames: 'x' }, 7] }
      ]
    }
  }).dask;
  assert.ok(report);
  assert.equal(
    daskHeading(report),
    'Dask scheduler tcp://h:8786: no answer from the scheduler within 1 s'
  );
  assert.deepEqual(report.workers[0].tasks, []);
  assert.equal(
    daskWorkerHeading(report.workers[0]),
    'Worker tcp://w:1: 0 tasks'
  );
  report.note = '';
  assert.equal(
    daskHeading(report),
    'Dask scheduler tcp://h:8786: no task is running on its workers'
  );
});
