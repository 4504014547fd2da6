/**
 * Which threads a view shows and in what order: sections of threads with the
 * same stack, the thread that matters first, the rows of a stack (folds,
 * hidden runs), which sections are open, and which cell a frame is in. The
 * same rules as `ipysigtrace/render/common.py`. No DOM.
 */

import { cellIndexByFile } from './cellhash';
import {
  IFrame,
  ILocal,
  IProcess,
  ISnapshot,
  ITask,
  IThread,
  StateGroup
} from './snapshot';

/** running, sleeping, unknown, or waiting for every kind of wait. */
export function stateGroup(state: string): StateGroup {
  if (state === 'running' || state === 'sleeping' || state === 'unknown') {
    return state;
  }
  return 'waiting';
}

export function plural(count: number, noun: string): string {
  return `${count.toLocaleString('en-US')} ${noun}${count === 1 ? '' : 's'}`;
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
