/**
 * The snapshot as plain text, laid out like a Python traceback: what Copy
 * puts on the clipboard, the same text as `ipysigtrace.render.text`. No DOM.
 */

import { IFrame, ILocal, ISnapshot } from './snapshot';
import {
  frameLocals,
  processGroups,
  processView,
  rows,
  runsCell,
  sections,
  taskGroups,
  visibleTasks
} from './sections';
import {
  cellVerdict,
  daskHeading,
  daskTaskHeading,
  daskWorkerHeading,
  frameTitle,
  hiddenTasksText,
  hiddenThreadsText,
  localsHeading,
  membersText,
  processesHeading,
  processGroupHeading,
  processText,
  sectionHeading,
  snapshotTitle,
  summary,
  taskGroupHeading,
  threadVerdict
} from './words';

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
