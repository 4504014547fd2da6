/**
 * The DOM of a parsed snapshot, shared by the Stacks panel and the output
 * renderer: one collapsible section per thread, its frames (folds, hidden
 * machinery, locals) and its asyncio tasks.
 *
 * Every string that comes from the kernel is put in the page with
 * `textContent`, never as HTML.
 */
import {
  daskHeading,
  daskTaskHeading,
  daskWorkerHeading,
  frameLocals,
  frameTitle,
  hiddenTasksText,
  hiddenThreadsText,
  processGroupHeading,
  processGroups,
  processText,
  processView,
  processesHeading,
  IDaskReport,
  IFrame,
  IProcess,
  ILocal,
  innermostUserFrame,
  localsHeading,
  ISection,
  ISnapshot,
  ITask,
  membersText,
  OpenChoices,
  rememberOpen,
  rows,
  runsCell,
  sectionHeading,
  sectionMatches,
  sections,
  stateGroup,
  taskGroupHeading,
  taskGroups,
  threadOpen,
  threadVerdict,
  visibleTasks,
  whereText
} from './model';

export const CLASS = {
  view: 'jp-ipysigtrace-view',
  header: 'jp-ipysigtrace-header',
  status: 'jp-ipysigtrace-status',
  banner: 'jp-ipysigtrace-banner',
  error: 'jp-ipysigtrace-error',
  thread: 'jp-ipysigtrace-thread',
  frame: 'jp-ipysigtrace-frame',
  task: 'jp-ipysigtrace-task',
  taskHeading: 'jp-ipysigtrace-task-heading',
  members: 'jp-ipysigtrace-members',
  filter: 'jp-ipysigtrace-filter',
  badge: 'jp-ipysigtrace-badge',
  localsList: 'jp-ipysigtrace-locals-list',
  local: 'jp-ipysigtrace-local'
};

/** Make an element with a class and, optionally, text (set as textContent). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A group of more members than this lists them closed. */
const MEMBERS_OPEN = 10;
/** The first few groups of child processes are open; the others, closed. */
const GROUPS_OPEN = 3;

/**
 * The kernel's child processes: how many, and a list of those without stacks
 * (their notes say why), closed when many.
 */
function renderProcesses(snapshot: ISnapshot): HTMLElement {
  const heading = processesHeading(snapshot.processes);
  const listed = snapshot.processes.filter(p => !p.threads.length);
  if (!listed.length) {
    return el('div', 'jp-ipysigtrace-processes', heading);
  }
  const details = el('details', 'jp-ipysigtrace-processes');
  details.open = listed.length <= MEMBERS_OPEN;
  details.append(el('summary', '', heading));
  const list = el('ul', '');
  for (const process of listed) {
    list.append(el('li', '', processText(process, snapshot.pid)));
  }
  details.append(list);
  return details;
}

/** The members of a group: "300 threads" over their names, closed when many. */
function membersList(names: string[], noun: string): HTMLElement {
  const details = el('details', CLASS.members);
  details.open = names.length <= MEMBERS_OPEN;
  details.append(
    el('summary', '', `${names.length.toLocaleString('en-US')} ${noun}`)
  );
  details.append(el('div', 'jp-ipysigtrace-members-names', membersText(names)));
  return details;
}

/**
 * The filter box of a view: thread name, function or file; `onChange` gets
 * the text at each keystroke.
 */
export function filterBox(onChange: (text: string) => void): HTMLInputElement {
  const input = el('input', CLASS.filter);
  input.type = 'search';
  input.placeholder = 'Filter: thread, function, file';
  input.setAttribute('aria-label', 'Filter threads by name, function or file');
  input.addEventListener('input', () => onChange(input.value));
  return input;
}

/** The banner of a raw dump: native code holds the GIL. */
/**
 * What goes above the threads: the snapshot's note, and for a raw dump the
 * banner that explains it (in place of the raw note, which says the same).
 */
export function noteAndBanner(snapshot: ISnapshot): HTMLElement[] {
  const raw = snapshot.kind === 'raw';
  const out: HTMLElement[] = [];
  if (snapshot.note && !(raw && snapshot.note.startsWith(RAW_NOTE_START))) {
    out.push(el('div', 'jp-ipysigtrace-note', snapshot.note));
  }
  if (raw) {
    out.push(rawBanner());
  }
  return out;
}

/** How `rawdump.RAW_NOTE` begins. */
const RAW_NOTE_START = 'Native code holds the GIL';

export function rawBanner(): HTMLElement {
  const box = el('div', `${CLASS.banner} jp-ipysigtrace-raw`);
  box.setAttribute('role', 'status');
  box.append(
    el('p', 'jp-ipysigtrace-banner-title', 'Native code holds the GIL')
  );
  box.append(
    el(
      'p',
      '',
      'The cell is inside native code (a C extension, or a builtin such as ' +
        'sum() over an endless iterator) that does not release the GIL, so no ' +
        'Python thread can run. This is a raw dump written by faulthandler: it ' +
        'has fewer details.'
    )
  );
  box.append(
    el(
      'p',
      '',
      'Interrupt Kernel may not help until the native call returns. Wait for it ' +
        'to finish; if it never returns, restart the kernel (its variables are lost).'
    )
  );
  return box;
}

/**
 * Renders a snapshot's threads, and keeps which sections the user opened or
 * closed from one rendering to the next.
 */
export class ThreadsRenderer {
  /** Show the kernel's service threads, machinery frames and tasks. */
  showInternals = false;
  /** Show the locals the snapshot carries. */
  showLocals = false;

  /**
   * @param revealFrame - called when a cell frame is clicked; without it,
   *   cell frames are not buttons.
   */
  constructor(readonly revealFrame?: (frame: IFrame) => void) {}

  /** Remember the open state of the thread sections under `node`. */
  remember(node: HTMLElement): void {
    node.querySelectorAll('details[data-ident]').forEach(item => {
      const details = item as HTMLDetailsElement;
      rememberOpen(
        this._open,
        details.dataset.ident!,
        details.open,
        details.dataset.defaultOpen === 'true'
      );
    });
  }

  /** Show only the sections that match this text (`sectionMatches`). */
  filter = '';

  /** The thread sections, then a line naming the threads left out. */
  render(snapshot: ISnapshot): HTMLElement[] {
    const out: HTMLElement[] = [];
    const { sections: all, hidden } = sections(snapshot, this.showInternals);
    const shown = all.filter(section => sectionMatches(section, this.filter));
    for (const section of shown) {
      out.push(this._renderSection(snapshot, section));
    }
    if (all.length && !shown.length) {
      out.push(
        el('div', 'jp-ipysigtrace-empty', 'No thread matches the filter.')
      );
    }
    if (hidden.length) {
      out.push(
        el(
          'div',
          'jp-ipysigtrace-hidden-threads',
          `${hiddenThreadsText(hidden)}: "Show kernel internals" shows them.`
        )
      );
    }
    if (!snapshot.threads.length) {
      out.push(
        el('div', 'jp-ipysigtrace-empty', 'The snapshot has no threads.')
      );
    }
    if (snapshot.processes.length) {
      out.push(renderProcesses(snapshot));
    }
    processGroups(snapshot).forEach((group, index) => {
      out.push(this._renderProcessGroup(snapshot, group, index < GROUPS_OPEN));
    });
    if (snapshot.dask) {
      out.push(this._renderDask(snapshot.dask));
    }
    return out;
  }

  /** The Dask cluster's workers, each a section of its tasks grouped by stack. */
  private _renderDask(report: IDaskReport): HTMLElement {
    const block = el('div', 'jp-ipysigtrace-dask');
    block.append(el('div', 'jp-ipysigtrace-dask-heading', daskHeading(report)));
    report.workers.forEach((worker, index) => {
      const details = el('details', 'jp-ipysigtrace-process');
      const key = `dask:${worker.address}`;
      details.dataset.ident = key;
      details.dataset.defaultOpen = String(index < GROUPS_OPEN);
      details.open = this._open.get(key) ?? index < GROUPS_OPEN;
      details.append(
        el(
          'summary',
          'jp-ipysigtrace-process-summary',
          daskWorkerHeading(worker)
        )
      );
      for (const group of taskGroups(worker.tasks)) {
        details.append(this._renderTask(group, daskTaskHeading(group)));
      }
      block.append(details);
    });
    return block;
  }

  /** Child processes with the same stacks: who they are, then the stacks. */
  private _renderProcessGroup(
    snapshot: ISnapshot,
    group: IProcess[],
    open: boolean
  ): HTMLElement {
    const details = el('details', 'jp-ipysigtrace-process');
    const key = `process:${group[0].pid}`;
    details.dataset.ident = key;
    details.dataset.defaultOpen = String(open);
    details.open = this._open.get(key) ?? open;
    details.append(
      el(
        'summary',
        'jp-ipysigtrace-process-summary',
        processGroupHeading(group, snapshot.pid)
      )
    );
    if (group.length > 1) {
      details.append(
        membersList(
          group.map(p => processText(p, snapshot.pid)),
          'processes'
        )
      );
    }
    const view = processView(group[0], snapshot);
    const { sections: all, hidden } = sections(view, this.showInternals);
    for (const section of all.filter(s => sectionMatches(s, this.filter))) {
      details.append(this._renderSection(view, section, `${view.pid}:`));
    }
    if (hidden.length) {
      details.append(
        el('div', 'jp-ipysigtrace-hidden-threads', hiddenThreadsText(hidden))
      );
    }
    return details;
  }

  private _renderSection(
    snapshot: ISnapshot,
    section: ISection,
    keyPrefix = ''
  ): HTMLElement {
    const thread = section.threads[0];
    const cell = runsCell(snapshot, thread);
    const single = section.threads.length === 1;
    const details = el('details', CLASS.thread);
    const key = `${keyPrefix}${thread.ident}`;
    details.dataset.ident = key;
    details.dataset.defaultOpen = String(section.open);
    details.open = threadOpen(this._open, thread, section.open, key);
    if (cell) {
      details.classList.add('jp-ipysigtrace-thread-cell');
    }
    if (!single) {
      details.classList.add('jp-ipysigtrace-thread-group');
    }

    const summaryNode = el('summary', 'jp-ipysigtrace-thread-summary');
    const heading = sectionHeading(section);
    if (single) {
      summaryNode.append(el('span', 'jp-ipysigtrace-thread-name', thread.name));
      summaryNode.append(
        el(
          'span',
          'jp-ipysigtrace-thread-meta',
          heading.slice(thread.name.length)
        )
      );
    } else {
      summaryNode.append(el('span', 'jp-ipysigtrace-thread-name', heading));
    }
    if (cell) {
      summaryNode.append(
        el('span', 'jp-ipysigtrace-thread-role', 'runs the cell')
      );
    }
    const where = innermostUserFrame(thread.frames);
    if (where) {
      summaryNode.append(
        el('span', 'jp-ipysigtrace-thread-where', `at ${whereText(where)}`)
      );
    }
    summaryNode.append(
      el(
        'span',
        `${CLASS.badge} jp-ipysigtrace-state-${stateGroup(thread.state)}`,
        thread.state
      )
    );
    if (thread.held_by) {
      summaryNode.append(
        el(
          'span',
          'jp-ipysigtrace-thread-verdict',
          `held by thread ${thread.held_by}`
        )
      );
    }
    // A first look is said once, in the header, not on every thread.
    const judged =
      thread.verdict === 'first' ? '' : threadVerdict(thread, snapshot.time);
    if (judged) {
      summaryNode.append(el('span', 'jp-ipysigtrace-thread-verdict', judged));
    }
    details.append(summaryNode);

    if (!single) {
      details.append(
        membersList(
          section.threads.map(t => t.name),
          'threads'
        )
      );
    }
    details.append(this._renderFrames(thread));
    const tasks = visibleTasks(thread, this.showInternals);
    for (const group of taskGroups(tasks.shown)) {
      details.append(this._renderTask(group));
    }
    if (tasks.hidden) {
      details.append(
        el('div', 'jp-ipysigtrace-hidden-tasks', hiddenTasksText(tasks.hidden))
      );
    }
    return details;
  }

  /** A thread's or a task's frames, with folds, hidden runs and locals. */
  private _renderFrames(stack: { frames: IFrame[] }): HTMLElement {
    const list = el('div', 'jp-ipysigtrace-frames');
    if (!stack.frames.length) {
      list.append(el('div', 'jp-ipysigtrace-empty', '(no Python frames)'));
    }
    for (const row of rows(stack, this.showInternals)) {
      if (row.type === 'frame') {
        list.append(this._renderFrame(row.frame, row.current));
        const locals = this.showLocals ? frameLocals(row.frame) : [];
        if (locals.length) {
          // Beside the frame, not in it: a cell frame is a button.
          list.append(this._renderLocals(locals, localsHeading(row.frame)));
        }
      } else {
        list.append(el('div', `jp-ipysigtrace-${row.type}`, row.text));
      }
    }
    return list;
  }

  /** Asyncio tasks of the thread's loop with one stack: heading, members, frames. */
  private _renderTask(
    group: ITask[],
    heading = taskGroupHeading(group)
  ): HTMLElement {
    const block = el('div', CLASS.task);
    block.append(el('div', CLASS.taskHeading, heading));
    if (group.length > 1) {
      block.append(
        membersList(
          group.map(t => t.name),
          'tasks'
        )
      );
    }
    block.append(this._renderFrames(group[0]));
    return block;
  }

  private _renderFrame(frame: IFrame, current: boolean): HTMLElement {
    // frame.kind was checked against the known kinds by parseSnapshot.
    const node = el('div', `${CLASS.frame} ${CLASS.frame}-${frame.kind}`);
    if (current) {
      node.classList.add('jp-ipysigtrace-frame-current');
    }
    node.append(el('div', 'jp-ipysigtrace-location', frameTitle(frame)));
    if (frame.line) {
      node.append(el('pre', 'jp-ipysigtrace-source', frame.line.trim()));
    }
    const reveal = this.revealFrame;
    if (frame.kind === 'cell' && reveal) {
      node.tabIndex = 0;
      node.setAttribute('role', 'button');
      node.title = 'Show this line in the notebook';
      node.addEventListener('click', () => reveal(frame));
      node.addEventListener('keydown', event => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          reveal(frame);
        }
      });
    }
    return node;
  }

  /** A frame's locals: "name = value  type" rows, values cut by CSS. */
  private _renderLocals(locals: ILocal[], heading = ''): HTMLElement {
    const list = el('dl', CLASS.localsList);
    list.setAttribute(
      'aria-label',
      heading ? heading.replace(/:$/, '') : 'Local variables'
    );
    if (heading) {
      list.append(el('div', 'jp-ipysigtrace-locals-heading', heading));
    }
    for (const local of locals) {
      const item = el('div', CLASS.local);
      const name = el('dt', 'jp-ipysigtrace-local-name', local.name);
      name.title = local.name;
      item.append(name);
      const value = el('dd', 'jp-ipysigtrace-local-value');
      const text = el('span', 'jp-ipysigtrace-local-text', local.value);
      text.title = local.value;
      value.append(text);
      if (local.type) {
        const type = el('span', 'jp-ipysigtrace-local-type', local.type);
        type.title = local.type;
        value.append(type);
      }
      item.append(value);
      list.append(item);
    }
    return list;
  }

  private _open: OpenChoices = new Map();
}
