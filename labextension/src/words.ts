/**
 * What a view says: summaries, verdicts, titles and headings, in the same
 * words as the Python renderers (`ipysigtrace/render/`), which the shared
 * fixture pins. No DOM.
 */

import {
  IDaskReport,
  IDaskWorker,
  IFrame,
  IProcess,
  ISnapshot,
  ISnapshotOutput,
  ITask,
  IThread,
  StateGroup
} from './snapshot';
import { ISection, plural, stateGroup, visibleThreads } from './sections';

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

/** "asyncio task Task-4, waiting on a Future". */
export function taskHeading(task: ITask): string {
  const waiting = task.awaiting ? `, waiting on a ${task.awaiting}` : '';
  return `asyncio task ${task.name}${waiting}`;
}

/** "[... 3 asyncio tasks of the kernel hidden ...]". */
export function hiddenTasksText(count: number): string {
  return `[... ${plural(count, 'asyncio task')} of the kernel hidden ...]`;
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
