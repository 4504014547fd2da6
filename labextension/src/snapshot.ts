/**
 * The snapshot as the kernel sends it: its types, and the reader of its JSON
 * form (written by `ipysigtrace.snapshot.StackSnapshot.to_dict`, format
 * "ipysigtrace.snapshot", versions 1 and 2; unknown fields are ignored). A
 * notebook keeps its compact form (`to_dict(compact=True)`): fields at their
 * defaults left out, a thread `like` an earlier one taking what it leaves out
 * from that one (a worker's thread may be like an earlier worker's, `[worker,
 * thread]`: version 2), and in a `trimmed` snapshot one record (with `elided`)
 * for each run of the kernel's own frames. No DOM, no JupyterLab: node's test
 * runner reads it.
 */

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
function parseThreads(value: unknown, earlier: IThread[][] = []): IThread[] {
  if (!Array.isArray(value)) {
    return [];
  }
  const out: IThread[] = [];
  for (const item of value) {
    // Only an earlier thread is there to be like: out holds those so far, and
    // `earlier` the threads of the workers before this one ([worker, thread]).
    const like = isRecord(item) ? item.like : undefined;
    let base: IThread | null = null;
    if (Number.isInteger(like)) {
      base = out[like as number] ?? null;
    } else if (
      Array.isArray(like) &&
      like.length === 2 &&
      like.every(n => Number.isInteger(n))
    ) {
      base = earlier[like[0] as number]?.[like[1] as number] ?? null;
    }
    out.push(parseThread(item, base));
  }
  return out;
}

/** The workers, in order: each one's threads may be like an earlier one's. */
function parseProcesses(value: unknown): IProcess[] {
  if (!Array.isArray(value)) {
    return [];
  }
  const earlier: IThread[][] = []; // by the worker's index in the JSON list
  const out: IProcess[] = [];
  for (const p of value) {
    if (!isRecord(p)) {
      earlier.push([]);
      continue;
    }
    const threads = parseThreads(p.threads, earlier);
    earlier.push(threads);
    out.push({
      pid: num(p.pid),
      parent: num(p.parent),
      command: str(p.command),
      note: str(p.note),
      forked: p.forked === true,
      threads
    });
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
    processes: parseProcesses(value.processes),
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
