/**
 * The snapshot model and pure helpers (no DOM, no JupyterLab imports), so they
 * can be unit-tested with node's test runner.
 *
 * The JSON form is written by `ipysigtrace.snapshot.StackSnapshot.to_dict`
 * (format "ipysigtrace.snapshot", version 1). Unknown fields are ignored.
 * A notebook keeps its compact form (`to_dict(compact=True)`): fields at
 * their defaults left out, a thread `like` an earlier one taking what it
 * leaves out from that one, and in a `trimmed` snapshot one record (with
 * `elided`) for each run of the kernel's own frames.
 */

import { cellIndexByFile } from './cellhash';

/** Where a frame's code comes from. */
export type FrameKind = 'cell' | 'user' | 'library' | 'machinery';

/** How the summary line groups thread states. */
export type StateGroup = 'running' | 'waiting' | 'sleeping' | 'unknown';

/** One local variable of a frame, as the kernel's safe repr wrote it. */
export interface ILocal {
  name: string;
  /** The type's name, e.g. "int" or "pandas.DataFrame". */
  type: string;
  /** A short text of the value ("******" for a masked secret). */
  value: string;
}

export interface IFrame {
  filename: string;
  lineno: number;
  function: string;
  line: string;
  /** "Cell In[7]" for a cell, "" otherwise. */
  label: string;
  kind: FrameKind;
  /** This frame and the `span - 1` after it repeated `repeat` more times. */
  repeat: number;
  span: number;
  /** The front end's cell id (`cell.model.id`), or "". */
  cell_id: string;
  /**
   * The frame's local variables, when the request asked for them
   * (`{"locals": true}`); null or absent when not captured. The server
   * captures them only for frames of kind "cell" and "user".
   */
  locals?: ILocal[] | null;
  /**
   * Above 0: not a frame, but this many of the kernel's own frames, left out
   * of a trimmed snapshot.
   */
  elided: number;
}

/** A pending asyncio task of the event loop that runs on a thread. */
export interface ITask {
  /** "Task-4". */
  name: string;
  /** What it waits on ("Future", "Task", ...), or "". */
  awaiting: string;
  /** Its coroutine chain, outermost first (the same frames as a thread's). */
  frames: IFrame[];
}

/**
 * A thread compared with the kernel's previous snapshot (`ipysigtrace/verdict.py`):
 * not judged (older snapshots, raw dumps), first look, moving, or still.
 */
export type Verdict = '' | 'first' | 'moving' | 'still';

const VERDICTS: readonly Verdict[] = ['', 'first', 'moving', 'still'];

export interface IThread {
  ident: number;
  name: string;
  native_id: number | null;
  daemon: boolean;
  is_main: boolean;
  runs_cell: boolean;
  service: boolean;
  state: string;
  /** Outermost first, the running frame last. */
  frames: IFrame[];
  /** The pending asyncio tasks of its event loop; [] in older snapshots. */
  tasks: ITask[];
  /** Moving or still since the previous snapshot; '' in older snapshots. */
  verdict: Verdict;
  /** With `still`: since when (seconds since the epoch), else null. */
  still_since: number | null;
  /** With `moving`: what changed ("line 12 → 14 in spin"), else "". */
  changed: string;
  /** Waiting for an RLock: who holds it, "worker-1 (ident 1398)", else "". */
  held_by: string;
}

/** A process the kernel started (or one of those did): a worker. */
export interface IProcess {
  pid: number;
  parent: number;
  command: string;
  /** What else is known: why it has no stacks, or that it ended. */
  note: string;
  /** A fork of its parent, running no program of its own. */
  forked: boolean;
  /** Its own stacks, when it answered for itself; else empty. */
  threads: IThread[];
}

/** A worker of the Dask cluster the cell waits on, and the tasks it runs. */
export interface IDaskWorker {
  address: string;
  /** Each task's name is its key. */
  tasks: ITask[];
}

/** What the scheduler of the cell's Dask client said its workers run. */
export interface IDaskReport {
  /** Its address. */
  scheduler: string;
  /** Why no worker is listed (no answer in time, ...), or "". */
  note: string;
  workers: IDaskWorker[];
}

export interface ISnapshot {
  format: string;
  version: number;
  /** Seconds since the epoch. */
  time: number;
  pid: number;
  trigger: string;
  kind: 'rich' | 'raw';
  cell_thread: number | null;
  freeze_seconds: number;
  note: string;
  /** When the running cell started (seconds since the epoch); null: none runs. */
  cell_started: number | null;
  /** The kernel's own frames were left out (a saved output). */
  trimmed: boolean;
  threads: IThread[];
  /** The kernel's descendants, by PID and command line, with their stacks. */
  processes: IProcess[];
  /** The tasks of the Dask cluster the cell waits on; null when it waits on none. */
  dask: IDaskReport | null;
}

/** What `POST .../dump` answers. */
export interface IDumpReply {
  source: string;
  snapshot: ISnapshot;
}

export const SNAPSHOT_FORMAT = 'ipysigtrace.snapshot';

/** What a dump request asks for beyond the stacks. */
export interface IDumpOptions {
  /** Capture the locals of cell and user frames (`{"locals": true}`). */
  locals?: boolean;
}

/** The JSON body of `POST .../dump`: `{}`, or `{"locals":true}`. */
export function dumpBody(options: IDumpOptions = {}): string {
  return options.locals === true ? JSON.stringify({ locals: true }) : '{}';
}

const FRAME_KINDS: readonly FrameKind[] = [
  'cell',
  'user',
  'library',
  'machinery'
];

type JSONRecord = Record<string, unknown>;

function isRecord(value: unknown): value is JSONRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

function num(value: unknown, fallback = 0): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function intOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** A local variable, or null when the entry is malformed. */
function parseLocal(value: unknown): ILocal | null {
  if (
    !isRecord(value) ||
    typeof value.name !== 'string' ||
    !value.name ||
    typeof value.value !== 'string'
  ) {
    return null;
  }
  return { name: value.name, type: str(value.type), value: value.value };
}

/** A frame's locals: null when not captured, without malformed entries. */
function parseLocals(value: unknown): ILocal[] | null {
  if (!Array.isArray(value)) {
    return null;
  }
  const out: ILocal[] = [];
  for (const item of value) {
    const local = parseLocal(item);
    if (local) {
      out.push(local);
    }
  }
  return out;
}

/** A frame; one that stands for left-out frames (`elided`) may leave the rest out. */
function parseFrame(value: unknown): IFrame {
  const raw = isRecord(value) ? value : {};
  const elided = Math.max(0, Math.floor(num(raw.elided)));
  const kind = str(raw.kind, elided ? 'machinery' : '') as FrameKind;
  const unknown = elided ? '' : '?';
  return {
    filename: str(raw.filename, unknown),
    lineno: num(raw.lineno),
    function: str(raw.function, unknown),
    line: str(raw.line),
    label: str(raw.label),
    kind: FRAME_KINDS.includes(kind) ? kind : 'user',
    repeat: Math.max(0, Math.floor(num(raw.repeat))),
    span: Math.max(1, Math.floor(num(raw.span, 1))),
    cell_id: str(raw.cell_id),
    locals: parseLocals(raw.locals),
    elided
  };
}

/**
 * A task, or null when the entry is malformed (not an object, no name, or
 * frames that are not a list). Absent frames are an empty list.
 */
function parseTask(value: unknown): ITask | null {
  if (!isRecord(value) || typeof value.name !== 'string' || !value.name) {
    return null;
  }
  if (value.frames !== undefined && !Array.isArray(value.frames)) {
    return null;
  }
  return {
    name: value.name,
    awaiting: str(value.awaiting),
    frames: Array.isArray(value.frames) ? value.frames.map(parseFrame) : []
  };
}

/** A thread's tasks: [] when absent, without malformed entries. */
function parseTasks(value: unknown): ITask[] {
  if (!Array.isArray(value)) {
    return [];
  }
  const out: ITask[] = [];
  for (const item of value) {
    const task = parseTask(item);
    if (task) {
      out.push(task);
    }
  }
  return out;
}

/** A thread's fields when it gives them; else `base`'s (a thread it is like). */
function parseThread(value: unknown, base: IThread | null = null): IThread {
  const raw = isRecord(value) ? value : {};
  const given = (name: string): boolean => !base || name in raw;
  const verdict = VERDICTS.find(v => v === raw.verdict) ?? '';
  return {
    ident: num(raw.ident),
    name: str(raw.name, '?'),
    native_id: intOrNull(raw.native_id),
    daemon: given('daemon') ? raw.daemon === true : base!.daemon,
    is_main: given('is_main') ? raw.is_main === true : base!.is_main,
    runs_cell: given('runs_cell') ? raw.runs_cell === true : base!.runs_cell,
    service: given('service') ? raw.service === true : base!.service,
    state: given('state') ? str(raw.state, 'running') : base!.state,
    frames: !given('frames')
      ? base!.frames
      : Array.isArray(raw.frames)
        ? raw.frames.map(parseFrame)
        : [],
    tasks: given('tasks') ? parseTasks(raw.tasks) : base!.tasks,
    verdict: given('verdict') ? verdict : base!.verdict,
    still_since: given('still_since')
      ? intOrNull(raw.still_since)
      : base!.still_since,
    changed: given('changed') ? str(raw.changed) : base!.changed,
    held_by: given('held_by') ? str(raw.held_by) : base!.held_by
  };
}

/** The threads; one `like` an earlier one takes what it leaves out from it. */
function parseThreads(value: unknown): IThread[] {
  if (!Array.isArray(value)) {
    return [];
  }
  const out: IThread[] = [];
  for (const item of value) {
    // Only an earlier thread is there to be like: out holds those so far.
    const like = isRecord(item) ? item.like : undefined;
    const base = Number.isInteger(like) ? (out[like as number] ?? null) : null;
    out.push(parseThread(item, base));
  }
  return out;
}

/**
 * Read a snapshot from JSON data, with defaults for missing fields.
 *
 * Throws when the data is not an ipysigtrace snapshot.
 */
export function parseSnapshot(value: unknown): ISnapshot {
  if (!isRecord(value) || value.format !== SNAPSHOT_FORMAT) {
    throw new Error(
      'The server answered with something that is not a stack snapshot.'
    );
  }
  const threads = parseThreads(value.threads);
  return {
    format: SNAPSHOT_FORMAT,
    version: num(value.version, 1),
    time: num(value.time),
    pid: num(value.pid),
    trigger: str(value.trigger, 'magic'),
    kind: value.kind === 'raw' ? 'raw' : 'rich',
    cell_thread: intOrNull(value.cell_thread),
    freeze_seconds: num(value.freeze_seconds),
    note: str(value.note),
    cell_started: intOrNull(value.cell_started),
    trimmed: value.trimmed === true,
    threads,
    processes: Array.isArray(value.processes)
      ? value.processes.filter(isRecord).map(p => ({
          pid: num(p.pid),
          parent: num(p.parent),
          command: str(p.command),
          note: str(p.note),
          forked: p.forked === true,
          threads: parseThreads(p.threads)
        }))
      : [],
    dask: parseDask(value.dask)
  };
}

/** The Dask report, or null when there is none or it is not one. */
function parseDask(value: unknown): IDaskReport | null {
  if (!isRecord(value) || typeof value.scheduler !== 'string') {
    return null;
  }
  const workers = Array.isArray(value.workers) ? value.workers : [];
  return {
    scheduler: value.scheduler,
    note: str(value.note),
    workers: workers.filter(isRecord).map(w => ({
      address: str(w.address),
      tasks: parseTasks(w.tasks)
    }))
  };
}

/** Read the reply of `POST /ipysigtrace/api/kernels/<id>/dump`. */
export function parseDumpReply(value: unknown): IDumpReply {
  const raw = isRecord(value) ? value : {};
  return { source: str(raw.source), snapshot: parseSnapshot(raw.snapshot) };
}

/** running, sleeping, unknown, or waiting for every kind of wait. */
export function stateGroup(state: string): StateGroup {
  if (state === 'running' || state === 'sleeping' || state === 'unknown') {
    return state;
  }
  return 'waiting';
}

function plural(count: number, noun: string): string {
  return `${count.toLocaleString('en-US')} ${noun}${count === 1 ? '' : 's'}`;
}

/**
 * "7 threads: 1 running, 5 waiting, 1 sleeping (3 hidden)": the threads a
 * view shows only.
 */
export function summary(snapshot: ISnapshot, showInternals = false): string {
  const { shown, hidden } = visibleThreads(snapshot, showInternals);
  const counts = new Map<StateGroup, number>();
  for (const thread of shown) {
    const group = stateGroup(thread.state);
    counts.set(group, (counts.get(group) ?? 0) + 1);
  }
  const order: StateGroup[] = ['running', 'waiting', 'sleeping', 'unknown'];
  const parts = order
    .filter(group => counts.has(group))
    .map(group => `${counts.get(group)!.toLocaleString('en-US')} ${group}`);
  const head = plural(shown.length, 'thread');
  const text = parts.length ? `${head}: ${parts.join(', ')}` : head;
  return hidden.length
    ? `${text} (${hidden.length.toLocaleString('en-US')} hidden)`
    : text;
}

/** "3 min 12 s", "45 s", "0.5 s", "2 h 5 min", "7 d 0 h": as the kernel says it. */
export function sayDuration(seconds: number): string {
  if (seconds < 10 && seconds !== Math.trunc(seconds)) {
    return `${seconds.toFixed(1)} s`;
  }
  const s = Math.trunc(seconds);
  if (s < 60) {
    return `${s} s`;
  }
  if (s < 3600) {
    return `${Math.trunc(s / 60)} min ${s % 60} s`;
  }
  if (s < 86400) {
    return `${Math.trunc(s / 3600)} h ${Math.trunc((s % 3600) / 60)} min`;
  }
  return `${Math.trunc(s / 86400)} d ${Math.trunc((s % 86400) / 3600)} h`;
}

/**
 * A thread's verdict in words, as `verdict.thread_text` says it: "moving:
 * line 12 → 14 in spin", "same place, same locals, for 3 min 0 s", "first
 * look: no earlier snapshot to compare"; "" when nobody judged.
 */
export function threadVerdict(thread: IThread, now: number): string {
  switch (thread.verdict) {
    case 'first':
      return 'first look: no earlier snapshot to compare';
    case 'moving':
      return thread.changed ? `moving: ${thread.changed}` : 'moving';
    case 'still':
      return thread.still_since === null
        ? ''
        : `same place, same locals, for ${sayDuration(Math.max(0, now - thread.still_since))}`;
    default:
      return '';
  }
}

/**
 * The cell and its thread in one line, as `verdict.cell_verdict` says it:
 * "cell running for 3 min 12 s · moving: line 3 → 4 in spin", "no cell
 * running", or "" for a snapshot nobody judged.
 */
export function cellVerdict(snapshot: ISnapshot): string {
  if (snapshot.cell_started === null) {
    return snapshot.threads.some(t => t.verdict !== '')
      ? 'no cell running'
      : '';
  }
  const running = sayDuration(
    Math.max(0, snapshot.time - snapshot.cell_started)
  );
  const cell = `cell running for ${running}`;
  const thread = snapshot.threads.find(t => t.ident === snapshot.cell_thread);
  const judged = thread ? threadVerdict(thread, snapshot.time) : '';
  return judged ? `${cell} · ${judged}` : cell;
}

/** "12:34:56.789" in local time. */
export function formatClock(epochSeconds: number): string {
  const date = new Date(epochSeconds * 1000);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `${pad(date.getHours())}:${pad(date.getMinutes())}:` +
    `${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`
  );
}

/** "Stacks of process 4242 at 12:34:56.789 (request)". */
export function snapshotTitle(snapshot: ISnapshot): string {
  const kind = snapshot.kind === 'raw' ? 'raw dump, ' : '';
  return (
    `Stacks of process ${snapshot.pid} at ${formatClock(snapshot.time)} ` +
    `(${kind}${snapshot.trigger})`
  );
}

/** "MainThread (ident 1398, native 4242, daemon)". */
export function threadHeading(thread: IThread): string {
  const bits = [`ident ${thread.ident}`];
  if (thread.native_id !== null) {
    bits.push(`native ${thread.native_id}`);
  }
  if (thread.daemon) {
    bits.push('daemon');
  }
  return `${thread.name} (${bits.join(', ')})`;
}

/** Whether this thread runs the cell. */
export function runsCell(snapshot: ISnapshot, thread: IThread): boolean {
  return thread.runs_cell || thread.ident === snapshot.cell_thread;
}

/**
 * The threads a view lists, the one running the cell first (else the main
 * thread), and the kernel's service threads it leaves out.
 */
export function visibleThreads(
  snapshot: ISnapshot,
  showInternals: boolean
): { shown: IThread[]; hidden: IThread[] } {
  const rank = (thread: IThread) =>
    runsCell(snapshot, thread) ? 0 : thread.is_main ? 1 : 2;
  const ordered = snapshot.threads
    .map((thread, index) => ({ thread, index }))
    .sort((a, b) => rank(a.thread) - rank(b.thread) || a.index - b.index)
    .map(item => item.thread);
  if (showInternals) {
    return { shown: ordered, hidden: [] };
  }
  return {
    shown: ordered.filter(thread => !thread.service),
    hidden: ordered.filter(thread => thread.service)
  };
}

/**
 * A sort order of names as a reader expects: worker-2 before worker-10. Text
 * parts (case-folded) and numbers alternate, as `natural_key` in snapshot.py.
 */
export function naturalCompare(a: string, b: string): number {
  const left = a.split(/(\d+)/);
  const right = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    if (i % 2) {
      const diff = Number(left[i]) - Number(right[i]);
      if (diff) {
        return diff;
      }
    } else {
      const x = left[i].toLowerCase();
      const y = right[i].toLowerCase();
      if (x !== y) {
        return x < y ? -1 : 1;
      }
    }
  }
  return left.length - right.length;
}

/** Waits on another thread's doing (as `SYNC_WAITS` in threadstate.py). */
export const SYNC_WAITS: ReadonlySet<string> = new Set([
  'waiting for a lock',
  'waiting on a queue',
  'waiting on an event',
  'waiting on a condition'
]);

function framesKey(frames: IFrame[]): unknown[] {
  return frames.map(f => [
    f.filename,
    f.lineno,
    f.function,
    f.kind,
    f.repeat,
    f.span,
    f.locals ?? null,
    f.elided
  ]);
}

/**
 * What the threads of one section share: role, state, frames (with locals)
 * and tasks; the rule of `stack_key` in render/common.py.
 */
export function stackKey(snapshot: ISnapshot, thread: IThread): string {
  const tasks = thread.tasks.map(t => [
    t.name,
    t.awaiting,
    framesKey(t.frames)
  ]);
  return JSON.stringify([
    runsCell(snapshot, thread),
    thread.is_main,
    thread.service,
    thread.state,
    framesKey(thread.frames),
    tasks
  ]);
}

/** Threads with the same stack and state, members in natural order. */
export interface ISection {
  threads: IThread[];
  /** Whether the section opens by default. */
  open: boolean;
}

/**
 * Which sections come first: the cell's thread (but a `%stackdump` runs on
 * it, so there it is only the magic and goes last; when no thread runs a
 * cell, the threads in a cell's or the user's code), waits on other
 * threads, other waits, running, the rest; `_rank` in render/common.py.
 */
function rank(snapshot: ISnapshot, thread: IThread, noCell: boolean): number {
  if (runsCell(snapshot, thread)) {
    return snapshot.trigger === 'magic' ? 5 : 0;
  }
  if (
    noCell &&
    thread.frames.some(f => f.kind === 'cell' || f.kind === 'user')
  ) {
    return 0;
  }
  if (SYNC_WAITS.has(thread.state)) {
    return 1;
  }
  const group = stateGroup(thread.state);
  return group === 'waiting' ? 2 : group === 'running' ? 3 : 4;
}

/**
 * The shown threads grouped by `stackKey`, the right one first, and the
 * service threads left out; as `sections` in render/common.py. Open: the
 * first section, the cell's thread (but for `%stackdump`) and waits on
 * other threads.
 */
export function sections(
  snapshot: ISnapshot,
  showInternals: boolean
): { sections: ISection[]; hidden: IThread[] } {
  const { shown, hidden } = visibleThreads(snapshot, showInternals);
  const byKey = new Map<string, IThread[]>();
  for (const thread of shown) {
    const key = stackKey(snapshot, thread);
    const members = byKey.get(key);
    if (members) {
      members.push(thread);
    } else {
      byKey.set(key, [thread]);
    }
  }
  const out: ISection[] = [...byKey.values()].map(members => ({
    threads: members.sort((a, b) => naturalCompare(a.name, b.name)),
    open: false
  }));
  const noCell = !snapshot.threads.some(t => runsCell(snapshot, t));
  out.sort((a, b) => {
    const x = a.threads[0];
    const y = b.threads[0];
    return (
      rank(snapshot, x, noCell) - rank(snapshot, y, noCell) ||
      Number(y.is_main) - Number(x.is_main) ||
      naturalCompare(x.name, y.name)
    );
  });
  out.forEach((section, index) => {
    const r = rank(snapshot, section.threads[0], noCell);
    section.open = index === 0 || r <= 1;
  });
  return { sections: out, hidden };
}

/** Items with the same key, together, groups in the order of their first item. */
function groupBy<T>(items: T[], key: (item: T) => string): T[][] {
  const byKey = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = byKey.get(k);
    if (group) {
      group.push(item);
    } else {
      byKey.set(k, [item]);
    }
  }
  return [...byKey.values()];
}

/** Tasks with the same awaitable and frames, together; names in natural order. */
export function taskGroups(tasks: ITask[]): ITask[][] {
  const sorted = [...tasks].sort((a, b) => naturalCompare(a.name, b.name));
  return groupBy(sorted, task =>
    JSON.stringify([task.awaiting, framesKey(task.frames)])
  );
}

/**
 * "worker-0 … worker-299, pool-1, pool-2": names in natural order, runs of
 * three or more consecutive numbers shortened to "first … last".
 */
export function membersText(names: string[]): string {
  const runs: string[][] = [];
  let previous: [string, number] | null = null;
  for (const name of names) {
    const match = /^(.*?)(\d+)$/.exec(name);
    const here: [string, number] | null = match
      ? [match[1], Number(match[2])]
      : null;
    if (
      here &&
      previous &&
      runs.length &&
      here[0] === previous[0] &&
      here[1] === previous[1] + 1
    ) {
      runs[runs.length - 1].push(name);
    } else {
      runs.push([name]);
    }
    previous = here;
  }
  return runs
    .map(run =>
      run.length >= 3 ? `${run[0]} … ${run[run.length - 1]}` : run.join(', ')
    )
    .join(', ');
}

function spanText(names: string[]): string {
  return names.length > 2
    ? `${names[0]} … ${names[names.length - 1]}`
    : names.join(', ');
}

/** "300 threads worker-0 … worker-299" for a group, a thread's heading for one. */
export function sectionHeading(section: ISection): string {
  const first = section.threads[0];
  if (section.threads.length === 1) {
    return threadHeading(first);
  }
  const names = section.threads.map(t => t.name);
  return `${plural(names.length, 'thread')} ${spanText(names)}`;
}

/** "asyncio task Task-4, …", or "30 asyncio tasks Task-1 … Task-30, …". */
export function taskGroupHeading(tasks: ITask[]): string {
  if (tasks.length === 1) {
    return taskHeading(tasks[0]);
  }
  const waiting = tasks[0].awaiting
    ? `, waiting on a ${tasks[0].awaiting}`
    : '';
  const names = spanText(tasks.map(t => t.name));
  return `${plural(tasks.length, 'asyncio task')} ${names}${waiting}`;
}

/** The frame a collapsed section names: the innermost cell or user frame, else any. */
export function innermostUserFrame(frames: IFrame[]): IFrame | null {
  for (const kinds of [
    ['cell', 'user'],
    ['cell', 'user', 'library']
  ]) {
    for (let i = frames.length - 1; i >= 0; i--) {
      if (kinds.includes(frames[i].kind)) {
        return frames[i];
      }
    }
  }
  return null;
}

/** "spin (Cell In[7], line 3)". */
export function whereText(frame: IFrame): string {
  return `${frame.function} (${frameLocation(frame)})`;
}

/**
 * Whether a section matches a filter: a member's name, or the function or
 * file of one of its frames (its tasks' too) holds the text, in any case.
 */
export function sectionMatches(section: ISection, filter: string): boolean {
  const text = filter.trim().toLowerCase();
  if (!text) {
    return true;
  }
  const has = (value: string) => value.toLowerCase().includes(text);
  const first = section.threads[0];
  const frames = [first, ...first.tasks].flatMap(stack => stack.frames);
  return (
    section.threads.some(t => has(t.name)) ||
    first.tasks.some(t => has(t.name)) ||
    frames.some(f => has(f.function) || has(f.filename) || has(f.label))
  );
}

/** Whether a task is the kernel's own: no frame of a cell or of the user. */
export function isKernelTask(task: ITask): boolean {
  return !task.frames.some(
    frame => frame.kind === 'cell' || frame.kind === 'user'
  );
}

/**
 * The asyncio tasks of a thread a view lists, and how many of the kernel's
 * own it leaves out (none with `showInternals`).
 */
export function visibleTasks(
  thread: IThread,
  showInternals: boolean
): { shown: ITask[]; hidden: number } {
  if (showInternals) {
    return { shown: thread.tasks, hidden: 0 };
  }
  const shown = thread.tasks.filter(task => !isKernelTask(task));
  return { shown, hidden: thread.tasks.length - shown.length };
}

/** "asyncio task Task-4, waiting on a Future". */
export function taskHeading(task: ITask): string {
  const waiting = task.awaiting ? `, waiting on a ${task.awaiting}` : '';
  return `asyncio task ${task.name}${waiting}`;
}

/** "[... 3 asyncio tasks of the kernel hidden ...]". */
export function hiddenTasksText(count: number): string {
  return `[... ${plural(count, 'asyncio task')} of the kernel hidden ...]`;
}

/** One row of a thread's or a task's stack as a view lists it. */
export type Row =
  | { type: 'frame'; frame: IFrame; current: boolean }
  | { type: 'fold'; frame: IFrame; text: string }
  | { type: 'hidden'; count: number; text: string };

/** "[... dive at line 4, 4,990 more times ...]" for a folded repeat. */
export function foldText(frame: IFrame): string {
  const times = frame.repeat.toLocaleString('en-US');
  if (frame.span === 1) {
    const name = frame.function.split('.').pop() || frame.function;
    return `[... ${name} at line ${frame.lineno}, ${times} more times ...]`;
  }
  return `[... the ${frame.span} frames above, ${times} more times ...]`;
}

/** "[... 21 frames of the kernel's machinery ...]". */
export function hiddenText(count: number): string {
  return `[... ${plural(count, 'frame')} of the kernel's machinery ...]`;
}

/** "3 kernel threads hidden (IOPub, Heartbeat, Control)". */
export function hiddenThreadsText(hidden: IThread[]): string {
  const names = hidden.map(t => t.name).join(', ');
  return `${plural(hidden.length, 'kernel thread')} hidden (${names})`;
}

/** "3 child processes, 2 with their own stacks"; `processes_heading`. */
export function processesHeading(processes: IProcess[]): string {
  const count = processes.length;
  const noun = count === 1 ? 'child process' : 'child processes';
  const answered = processes.filter(p => p.threads.length).length;
  if (!answered) {
    return `${count} ${noun} (their own stacks are not in this dump)`;
  }
  if (answered === count) {
    return count > 1
      ? `${count} ${noun}, each with its own stacks`
      : `1 ${noun}`;
  }
  return `${count} ${noun}, ${answered} with their own stacks`;
}

/**
 * "pid 4243: python -c ..." (with its parent when that is not the kernel);
 * "pid 4243: a fork of the kernel" for a fork; `process_text`.
 */
export function processText(process: IProcess, kernelPid: number): string {
  let parent =
    process.parent === kernelPid ? '' : ` (child of ${process.parent})`;
  let what = process.command || '(no command line)';
  if (process.forked) {
    what = parent
      ? `a fork of process ${process.parent}`
      : 'a fork of the kernel';
    parent = '';
  }
  const note = process.note ? `; ${process.note}` : '';
  return `pid ${process.pid}${parent}: ${what}${note}`;
}

/** A worker's stacks as a snapshot of its own, laid out like the kernel's. */
export function processView(process: IProcess, snapshot: ISnapshot): ISnapshot {
  return {
    ...snapshot,
    pid: process.pid,
    trigger: 'request',
    cell_thread: null,
    note: '',
    cell_started: null,
    threads: process.threads,
    processes: [],
    dask: null
  };
}

/**
 * The processes that sent their stacks; those whose stacks are the same,
 * together; the rule of `process_groups` in render/common.py.
 */
export function processGroups(snapshot: ISnapshot): IProcess[][] {
  const answered = snapshot.processes.filter(p => p.threads.length);
  return groupBy(answered, process => {
    const view = processView(process, snapshot);
    return JSON.stringify(process.threads.map(t => stackKey(view, t)));
  });
}

/** "Process 4243: a fork of the kernel", or "2 processes with the same stacks: 4243, 4244". */
export function processGroupHeading(
  group: IProcess[],
  kernelPid: number
): string {
  if (group.length === 1) {
    return 'Process ' + processText(group[0], kernelPid).slice('pid '.length);
  }
  const pids = group.map(p => p.pid).join(', ');
  return `${group.length} processes with the same stacks: ${pids}`;
}

/**
 * A thread's or a task's frames as rows: runs of hidden machinery frames
 * become one count, and a folded repeat becomes a line after the last frame of
 * its group.
 */
export function rows(
  stack: { frames: IFrame[] },
  showInternals: boolean
): Row[] {
  const out: Row[] = [];
  const folds = new Map<number, IFrame[]>();
  const last = stack.frames.length - 1;
  stack.frames.forEach((frame, index) => {
    if (frame.elided > 0 || (frame.kind === 'machinery' && !showInternals)) {
      const count = frame.elided || 1 + frame.repeat * frame.span;
      const previous = out[out.length - 1];
      if (previous && previous.type === 'hidden') {
        previous.count += count;
        previous.text = hiddenText(previous.count);
      } else {
        out.push({ type: 'hidden', count, text: hiddenText(count) });
      }
    } else {
      out.push({ type: 'frame', frame, current: index === last });
      if (frame.repeat > 0) {
        const end = Math.min(index + frame.span - 1, last);
        folds.set(end, [...(folds.get(end) ?? []), frame]);
      }
    }
    for (const folded of folds.get(index) ?? []) {
      out.push({ type: 'fold', frame: folded, text: foldText(folded) });
    }
  });
  return out;
}

/** 'Cell In[7], line 3' for a cell, 'File "x.py", line 3' otherwise. */
export function frameLocation(frame: IFrame): string {
  if (frame.label) {
    return `${frame.label}, line ${frame.lineno}`;
  }
  return `File "${frame.filename}", line ${frame.lineno}`;
}

/** 'Cell In[7], line 3, in spin'. */
export function frameTitle(frame: IFrame): string {
  return `${frameLocation(frame)}, in ${frame.function}`;
}

/** The execution count in a label like "Cell In[7]", or null. */
export function executionCountFromLabel(label: string): number | null {
  const match = /\bIn\s*\[\s*(\d+)\s*\]/.exec(label);
  return match ? Number(match[1]) : null;
}

/** What the notebook glue knows about a cell, to find a frame's cell. */
export interface ICellInfo {
  id: string;
  executionCount: number | null;
  /** The cell's source: raw dumps name a cell by its hash (`cellhash.ts`). */
  source?: string;
}

/**
 * The index of the cell a cell frame comes from: by cell id, else by the
 * execution count in its label ("In[7]"), else by the hash in its file name
 * (a raw dump's); -1 when none matches.
 */
export function findCellIndex(cells: ICellInfo[], frame: IFrame): number {
  if (frame.cell_id) {
    const index = cells.findIndex(cell => cell.id === frame.cell_id);
    if (index >= 0) {
      return index;
    }
  }
  const count = executionCountFromLabel(frame.label);
  if (count !== null) {
    return cells.findIndex(cell => cell.executionCount === count);
  }
  return cellIndexByFile(cells, frame.filename);
}

/** A frame's captured locals; empty when none were captured. */
export function frameLocals(frame: IFrame): ILocal[] {
  return frame.locals ?? [];
}

/**
 * What a frame's variables are when they are not a function's locals: a
 * cell's top level (`<module>`) shows the notebook's globals, a module's body
 * that module's; '' for a function.
 */
export function localsHeading(frame: IFrame): string {
  if (frame.function !== '<module>') {
    return '';
  }
  return frame.kind === 'cell' ? 'notebook globals:' : 'module globals:';
}

/**
 * A local as text lines, "name = value", with the lines after the first of a
 * value that spans several indented under it.
 */
export function localLines(local: ILocal, indent: string): string[] {
  const [first, ...rest] = local.value.split(/\r\n|\r|\n/);
  const pad = ' '.repeat(local.name.length + 3);
  const lines = [
    `${indent}${local.name} = ${first}`,
    ...rest.map(line => `${indent}${pad}${line}`)
  ];
  lines[lines.length - 1] += `  (${local.type})`;
  return lines;
}

/**
 * The rows of a thread's or a task's frames as text lines, each starting with
 * `indent`: the source line two spaces further in, locals four.
 */
function stackLines(
  stack: { frames: IFrame[] },
  indent: string,
  showInternals: boolean,
  showLocals: boolean
): string[] {
  const out: string[] = [];
  for (const row of rows(stack, showInternals)) {
    if (row.type === 'frame') {
      out.push(`${indent}${frameTitle(row.frame)}`);
      if (row.frame.line) {
        out.push(`${indent}  ${row.frame.line.trim()}`);
      }
      if (showLocals) {
        const heading = localsHeading(row.frame);
        if (heading && frameLocals(row.frame).length) {
          out.push(`${indent}    ${heading}`);
        }
        for (const local of frameLocals(row.frame)) {
          out.push(...localLines(local, `${indent}    `));
        }
      }
    } else {
      out.push(`${indent}${row.text}`);
    }
  }
  return out;
}

/**
 * The snapshot as plain text, laid out like a Python traceback; with
 * `showLocals`, each frame's locals follow its source line. A thread's
 * asyncio tasks follow its frames, indented two spaces further.
 */
export function renderText(
  snapshot: ISnapshot,
  showInternals: boolean,
  showLocals = false
): string {
  const out = [
    `${snapshotTitle(snapshot)}: ${summary(snapshot, showInternals)}`
  ];
  if (snapshot.note) {
    out.push(snapshot.note);
  }
  const verdict = cellVerdict(snapshot);
  if (verdict) {
    out.push(verdict[0].toUpperCase() + verdict.slice(1));
  }
  out.push(...threadLines(snapshot, showInternals, showLocals, ''));
  if (snapshot.processes.length) {
    out.push('');
    out.push(processesHeading(snapshot.processes));
    for (const process of snapshot.processes) {
      if (!process.threads.length) {
        out.push(`  ${processText(process, snapshot.pid)}`);
      }
    }
  }
  for (const group of processGroups(snapshot)) {
    out.push('');
    out.push(processGroupHeading(group, snapshot.pid));
    if (group.length > 1) {
      for (const process of group) {
        out.push(`  ${processText(process, snapshot.pid)}`);
      }
    }
    const view = processView(group[0], snapshot);
    out.push(...threadLines(view, showInternals, showLocals, '  '));
  }
  if (snapshot.dask) {
    out.push('', daskHeading(snapshot.dask));
    for (const worker of snapshot.dask.workers) {
      out.push('', daskWorkerHeading(worker));
      for (const group of taskGroups(worker.tasks)) {
        out.push(`  ${daskTaskHeading(group)}:`);
        if (group.length > 1) {
          out.push(`    tasks: ${membersText(group.map(t => t.name))}`);
        }
        if (!group[0].frames.length) {
          out.push('    (no Python frames)');
        }
        out.push(...stackLines(group[0], '    ', showInternals, showLocals));
      }
    }
  }
  return out.join('\n') + '\n';
}

/**
 * "Dask scheduler tcp://10.0.0.5:8786: 3 tasks running on 2 workers", or its
 * note; `dask_heading` in render/common.py.
 */
export function daskHeading(report: IDaskReport): string {
  const where = `Dask scheduler ${report.scheduler || '(address unknown)'}`;
  if (report.note) {
    return `${where}: ${report.note}`;
  }
  const tasks = report.workers.reduce((n, w) => n + w.tasks.length, 0);
  if (!tasks) {
    return `${where}: no task is running on its workers`;
  }
  const workers = report.workers.length;
  return `${where}: ${plural(tasks, 'task')} running on ${plural(workers, 'worker')}`;
}

/** "Worker tcp://10.0.0.7:40411: 2 tasks". */
export function daskWorkerHeading(worker: IDaskWorker): string {
  return `Worker ${worker.address}: ${plural(worker.tasks.length, 'task')}`;
}

/** "task ('getitem-9a2b', 0)", or "3 tasks with the same stack". */
export function daskTaskHeading(tasks: ITask[]): string {
  if (tasks.length === 1) {
    return `task ${tasks[0].name}`;
  }
  return `${tasks.length.toLocaleString('en-US')} tasks with the same stack`;
}

/** A process's thread sections as text, each line indented by `at`. */
function threadLines(
  snapshot: ISnapshot,
  showInternals: boolean,
  showLocals: boolean,
  at: string
): string[] {
  const { sections: groups, hidden } = sections(snapshot, showInternals);
  const out: string[] = [];
  for (const section of groups) {
    const thread = section.threads[0];
    const single = section.threads.length === 1;
    const role = runsCell(snapshot, thread) ? ', runs the cell' : '';
    out.push('');
    const heading = `${single ? 'Thread ' : ''}${sectionHeading(section)}`;
    const held = thread.held_by ? `, held by thread ${thread.held_by}` : '';
    out.push(`${at}${heading}${role}: ${thread.state}${held}`);
    if (!single) {
      out.push(
        `${at}  threads: ${membersText(section.threads.map(t => t.name))}`
      );
    }
    // The first look is said once, on the cell's line, rather than on every thread.
    const judged =
      thread.verdict === 'first' ? '' : threadVerdict(thread, snapshot.time);
    if (judged) {
      out.push(`${at}  ${judged}`);
    }
    if (!thread.frames.length) {
      out.push(`${at}  (no Python frames)`);
    }
    out.push(...stackLines(thread, `${at}  `, showInternals, showLocals));
    const tasks = visibleTasks(thread, showInternals);
    for (const group of taskGroups(tasks.shown)) {
      out.push(`${at}  ${taskGroupHeading(group)}:`);
      if (group.length > 1) {
        out.push(`${at}    tasks: ${membersText(group.map(t => t.name))}`);
      }
      if (!group[0].frames.length) {
        out.push(`${at}    (no Python frames)`);
      }
      out.push(...stackLines(group[0], `${at}    `, showInternals, showLocals));
    }
    if (tasks.hidden) {
      out.push(`${at}  ${hiddenTasksText(tasks.hidden)}`);
    }
  }
  if (hidden.length) {
    out.push('');
    out.push(`${at}(${hiddenThreadsText(hidden)}; --all shows them)`);
  }
  return out;
}

/** A message for an HTTP error status when the server sent none. */
export function defaultErrorMessage(status: number): string {
  switch (status) {
    case 404:
      // Our handlers always say why; a bare 404 is the server's own: no route.
      return (
        'The ipysigtrace server extension did not answer. Is ipysigtrace ' +
        'installed in the environment that runs the Jupyter server, and was ' +
        'the server restarted since?'
      );
    case 409:
      return (
        'ipysigtrace is not loaded in this kernel; load it with %load_ext ' +
        'ipysigtrace once the running cell ends.'
      );
    case 429:
      return 'Too many requests: wait a moment before asking again.';
    case 503:
      return 'The kernel is not running.';
    case 504:
      return (
        'The kernel did not answer in time. Native code may hold the GIL; ' +
        'try again, or wait for the native call to return.'
      );
    default:
      return `The server answered with HTTP status ${status}.`;
  }
}

/** The MIME type of a snapshot in a notebook output (`%stackdump`). */
export const SNAPSHOT_MIME = 'application/vnd.ipysigtrace.snapshot+json';

/** The widget module of the live view (`ipysigtrace.widget.LiveStacks`). */
export const WIDGET_MODULE = 'ipysigtrace';

/** What an output's `application/vnd.ipysigtrace.snapshot+json` value holds. */
export interface ISnapshotOutput {
  snapshot: ISnapshot;
  /** "Live stacks · cell running for 3 min 12 s · …", or "". */
  header: string;
}

/**
 * Read the value of an output's snapshot MIME type.
 *
 * Throws when it holds no ipysigtrace snapshot.
 */
export function parseSnapshotOutput(value: unknown): ISnapshotOutput {
  const raw = isRecord(value) ? value : {};
  return { snapshot: parseSnapshot(raw.snapshot), header: str(raw.header) };
}

/**
 * The output's header, else "Stacks of process … (…): 7 threads: …", and
 * the cell's verdict when the kernel judged the snapshot.
 */
export function outputHeader(output: ISnapshotOutput): string {
  if (output.header) {
    return output.header;
  }
  const verdict = cellVerdict(output.snapshot);
  const head = `${snapshotTitle(output.snapshot)}: ${summary(output.snapshot)}`;
  return verdict ? `${head} · ${verdict}` : head;
}

/** Whether any frame of a thread or of a task carries a local variable. */
export function hasLocals(snapshot: ISnapshot): boolean {
  const stacks = snapshot.threads.flatMap(thread => [thread, ...thread.tasks]);
  return stacks.some(stack =>
    stack.frames.some(frame => frameLocals(frame).length > 0)
  );
}

/**
 * The thread sections the user opened or closed, by thread ident, kept only
 * where they differ from the section's default (open for a view's first
 * thread), so a section the user left alone follows the default when the
 * thread running the cell changes.
 */
export type OpenChoices = Map<string, boolean>;

/** Remember how the user left a section, before the view is rebuilt. */
export function rememberOpen(
  choices: OpenChoices,
  ident: string,
  open: boolean,
  defaultOpen: boolean
): void {
  if (open === defaultOpen) {
    choices.delete(ident);
  } else {
    choices.set(ident, open);
  }
}

/**
 * Whether a thread's section opens: the user's choice, else its default.
 * `key`: the section's key, when it is not the thread's ident (a child
 * process's thread: `<pid>:<ident>`).
 */
export function threadOpen(
  choices: ReadonlyMap<string, boolean>,
  thread: IThread,
  defaultOpen: boolean,
  key = String(thread.ident)
): boolean {
  return choices.get(key) ?? defaultOpen;
}
