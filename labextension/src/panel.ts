/**
 * The "Stacks" panel: shows one snapshot of every thread's stack of a kernel.
 * What it asks and when is its `StacksController`'s (src/controller.ts); the
 * panel gives it the kernel and the server, and draws what it says.
 *
 * Every string that comes from the kernel is put in the page with
 * `textContent`, never as HTML.
 */
import {
  Clipboard,
  ISessionContext,
  MainAreaWidget
} from '@jupyterlab/apputils';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import {
  bugIcon,
  copyIcon,
  refreshIcon,
  ToolbarButton
} from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { requestDump, requestProfile, requestProfileResult } from './api';
import {
  ActionId,
  AUTO_REFRESH_MS,
  IClock,
  IFailure,
  INotice,
  IStacksHost,
  KernelActivity,
  LoadReply,
  StacksController
} from './controller';
import { nameRawCells } from './cellhash';
import {
  cellVerdict,
  ICellInfo,
  IDumpReply,
  IFrame,
  ISnapshot,
  renderText,
  snapshotTitle,
  summary
} from './model';
import { hotText, PROFILE_SECONDS, ProfileRun } from './profiler';
import { CLASS, el, filterBox, noteAndBanner, ThreadsRenderer } from './view';

/** The class of the notice's button (kept focused across a redraw). */
const NOTICE_BUTTON = 'jp-ipysigtrace-notice-button';

/** The look and the class of each of the notice's buttons. */
const ACTION_CLASS: Record<ActionId, string> = {
  load: 'jp-mod-accept jp-ipysigtrace-load',
  cancel: 'jp-mod-reject jp-ipysigtrace-load-cancel',
  refresh: 'jp-mod-accept jp-ipysigtrace-ask-again'
};

/** The notebook or console whose kernel a panel shows. */
export interface IStacksSource {
  /** The notebook or console panel. */
  readonly widget: Widget;
  readonly sessionContext: ISessionContext;
  /** Show a cell frame's line in the notebook; false when its cell is gone. */
  revealFrame?(frame: IFrame): boolean;
  /** The notebook's cells now: a raw dump's frames are named from them. */
  cells?(): ICellInfo[];
}

/**
 * A kernel connection's `KernelActivity`, fed from its IOPub status messages
 * and its status. One per connection, shared by its panels and kept while
 * the connection lives, so that a panel opened later starts from a state
 * that earlier dump requests have not blurred.
 */
class TrackedKernel {
  constructor(kernel: Kernel.IKernelConnection) {
    this.activity = new KernelActivity(kernel.status);
    kernel.iopubMessage.connect(this._onIOPub, this);
    kernel.statusChanged.connect(this._onStatus, this);
  }

  readonly activity: KernelActivity;

  /** Called whenever `activity.state` changes. */
  readonly listeners = new Set<() => void>();

  private _onIOPub(
    _: Kernel.IKernelConnection,
    msg: KernelMessage.IIOPubMessage
  ): void {
    if (msg.header.msg_type !== 'status') {
      return;
    }
    const state = (msg.content as { execution_state?: unknown })
      .execution_state;
    const parent = (msg.parent_header as { msg_id?: unknown }).msg_id;
    if (
      typeof state === 'string' &&
      this.activity.status(state, typeof parent === 'string' ? parent : '')
    ) {
      this._emit();
    }
  }

  private _onStatus(_: Kernel.IKernelConnection, status: Kernel.Status): void {
    if (this.activity.connection(status)) {
      this._emit();
    }
  }

  private _emit(): void {
    for (const listener of [...this.listeners]) {
      listener();
    }
  }
}

const tracked = new WeakMap<Kernel.IKernelConnection, TrackedKernel>();

function trackedKernel(kernel: Kernel.IKernelConnection): TrackedKernel {
  let found = tracked.get(kernel);
  if (!found) {
    found = new TrackedKernel(kernel);
    tracked.set(kernel, found);
  }
  return found;
}

/**
 * Follow the busy and idle of a notebook's or console's kernels from now on,
 * so that a panel opened during a hang knows the kernel is busy even when
 * control requests have made JupyterLab's status say idle.
 */
export function followKernels(sessionContext: ISessionContext): void {
  const follow = () => {
    const kernel = sessionContext.session?.kernel;
    if (kernel) {
      trackedKernel(kernel);
    }
  };
  follow();
  sessionContext.kernelChanged.connect(follow);
}

/** `%load_ext ipysigtrace`, silent and not in the history, in one kernel. */
function loadExtension(
  kernel: Kernel.IKernelConnection,
  started: () => void
): Promise<LoadReply> {
  const future = kernel.requestExecute({
    code: '%load_ext ipysigtrace',
    silent: true,
    store_history: false,
    allow_stdin: false
  });
  let stderr = '';
  future.onIOPub = msg => {
    const content = msg.content as {
      execution_state?: unknown;
      name?: unknown;
      text?: unknown;
    };
    if (msg.header.msg_type === 'status') {
      if (content.execution_state === 'busy') {
        started();
      }
    } else if (
      msg.header.msg_type === 'stream' &&
      content.name === 'stderr' &&
      typeof content.text === 'string'
    ) {
      stderr += content.text;
    }
  };
  return future.done.then(reply => {
    const content = reply.content as {
      status: string;
      ename?: unknown;
      evalue?: unknown;
    };
    if (content.status === 'ok') {
      return { status: 'ok', stderr };
    }
    if (content.status === 'error') {
      return {
        status: 'error',
        ename: String(content.ename ?? 'Error'),
        evalue: String(content.evalue ?? '')
      };
    }
    return { status: 'aborted' };
  });
}

const windowClock: IClock = {
  setTimeout: (callback, ms) => window.setTimeout(callback, ms),
  clearTimeout: handle => window.clearTimeout(handle as number),
  setInterval: (callback, ms) => window.setInterval(callback, ms),
  clearInterval: handle => window.clearInterval(handle as number)
};

/**
 * The body of the panel: the header, the banners and one section per
 * thread, drawn from what its `StacksController` says.
 */
export class StacksView extends Widget {
  constructor(readonly source: IStacksSource) {
    super();
    this.addClass(CLASS.view);
    const reveal = source.revealFrame?.bind(source);
    this._threads = new ThreadsRenderer(
      reveal &&
        ((frame: IFrame) => {
          if (!reveal(frame)) {
            this.controller.say('That cell is not in this notebook any more.');
          }
        })
    );
    this.node.tabIndex = -1;
    const sessionContext = source.sessionContext;
    const kernel = () => sessionContext.session?.kernel ?? null;
    const host: IStacksHost = {
      kernelId: () => kernel()?.id ?? null,
      kernelState: () => {
        const current = kernel();
        return current ? trackedKernel(current).activity.state : 'unknown';
      },
      requestDump: (kernelId, options) =>
        requestDump(kernelId, undefined, options),
      loadExtension: (kernelId, started) => {
        const current = kernel();
        return current && current.id === kernelId
          ? loadExtension(current, started)
          : Promise.reject(new Error('That kernel is not there any more.'));
      },
      isVisible: () => this.isVisible,
      clock: windowClock
    };
    this.controller = new StacksController(host, () => this._render());
    this.profiler = new ProfileRun(
      {
        kernelId: host.kernelId,
        startProfile: (kernelId, seconds) => requestProfile(kernelId, seconds),
        profileResult: (kernelId, profileId) =>
          requestProfileResult(kernelId, profileId),
        clock: windowClock
      },
      () => this._render()
    );
    sessionContext.kernelChanged.connect(this._onKernelChanged, this);
    this._watch(kernel());
    this._render();
  }

  /** What the panel asks and when; the view draws what it says. */
  readonly controller: StacksController;

  /** The "Profile 10 s" button's profile of the running cell. */
  readonly profiler: ProfileRun;

  get showInternals(): boolean {
    return this._threads.showInternals;
  }

  set showInternals(value: boolean) {
    this._threads.showInternals = value;
    this._render();
  }

  /**
   * Whether requests ask for the locals of cell and user frames, and the
   * view and "Copy as text" show them. Turning it on takes a new snapshot.
   */
  get showLocals(): boolean {
    return this._threads.showLocals;
  }

  set showLocals(value: boolean) {
    if (value === this.showLocals || this.isDisposed) {
      return;
    }
    this._threads.showLocals = value;
    this.controller.locals = value; // takes a snapshot when turned on
    this._render();
  }

  /** Show only the threads whose name, functions or files hold this text. */
  get filter(): string {
    return this._threads.filter;
  }

  set filter(value: string) {
    this._threads.filter = value;
    this._filter.value = value;
    this._renderThreads();
  }

  get autoRefresh(): boolean {
    return this.controller.autoRefresh;
  }

  set autoRefresh(value: boolean) {
    this.controller.autoRefresh = value;
  }

  /** Ask the server for a new snapshot and show it. */
  refresh(): Promise<void> {
    return this.controller.refresh();
  }

  /** Copy the snapshot as plain text; false when there is nothing to copy. */
  copyText(): boolean {
    const reply = this.controller.state.reply;
    if (!reply) {
      this.controller.say('Nothing to copy yet: take a snapshot first.');
      return false;
    }
    Clipboard.copyToSystem(
      renderText(
        this._shown(reply.snapshot),
        this.showInternals,
        this.showLocals
      )
    );
    this.controller.say('Copied to the clipboard.');
    return true;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.controller.dispose();
    this.profiler.dispose();
    this._watch(null);
    this.source.sessionContext.kernelChanged.disconnect(
      this._onKernelChanged,
      this
    );
    super.dispose();
  }

  private _onKernelChanged(): void {
    this.profiler.cancel();
    this._watch(this.source.sessionContext.session?.kernel ?? null);
    this.controller.kernelChanged();
    this.controller.kernelStateChanged();
  }

  /** Follow the busy and idle of this kernel (null: of none). */
  private _watch(kernel: Kernel.IKernelConnection | null): void {
    this._tracked?.listeners.delete(this._onActivity);
    this._tracked = kernel ? trackedKernel(kernel) : null;
    this._tracked?.listeners.add(this._onActivity);
  }

  private _onActivity = (): void => this.controller.kernelStateChanged();

  /** Rebuild the whole view from the controller's state. */
  private _render(): void {
    if (this.isDisposed) {
      return;
    }
    const state = this.controller.state;
    const scroll = this.node.scrollTop;
    const hadFocus =
      document.activeElement?.classList.contains(NOTICE_BUTTON) ?? false;
    const typing = document.activeElement === this._filter;
    this._threads.remember(this.node);
    this.node.replaceChildren();

    const status = el('div', CLASS.status, state.status);
    status.setAttribute('aria-live', 'polite');

    if (this.profiler.text) {
      this.node.append(this._renderProfile());
    }
    if (state.notice) {
      this.node.append(this._renderNotice(state.notice));
    }
    if (state.failure) {
      this.node.append(this._renderFailure(state.failure));
    }
    if (state.reply) {
      if (state.failure) {
        this.node.append(
          el('div', 'jp-ipysigtrace-stale', 'The last snapshot that worked:')
        );
      }
      this._renderReply(state.reply, status);
    } else {
      this.node.append(status);
    }
    if (hadFocus) {
      this.node.querySelector<HTMLElement>(`.${NOTICE_BUTTON}`)?.focus();
    }
    if (typing && this._filter.isConnected) {
      this._filter.focus();
    }
    this.node.scrollTop = scroll;
  }

  /** The banner for a kernel without ipysigtrace: one sentence, one button. */
  /** "Profile 10 s", beside the line that says how long the cell has run. */
  private _profileButton(): HTMLElement {
    const button = el(
      'button',
      'jp-ipysigtrace-profile-button',
      `Profile ${PROFILE_SECONDS} s`
    );
    button.type = 'button';
    button.title =
      `Sample the running cell for ${PROFILE_SECONDS} s without stopping it: ` +
      'the functions that take its time, here and (with its flame graph) under the cell';
    button.disabled = this.profiler.running;
    button.addEventListener('click', () => void this.profiler.start());
    return button;
  }

  /** Where the profile stands; once done, the functions that took the time. */
  private _renderProfile(): HTMLElement {
    const block = el('div', 'jp-ipysigtrace-profile');
    block.setAttribute('aria-live', 'polite');
    block.append(
      el('div', 'jp-ipysigtrace-profile-status', this.profiler.text)
    );
    const summary = this.profiler.summary;
    if (summary?.top.length) {
      const list = el('ol', 'jp-ipysigtrace-profile-top');
      for (const hot of summary.top) {
        list.append(el('li', '', hotText(hot)));
      }
      block.append(list);
    }
    return block;
  }

  private _renderNotice(notice: INotice): HTMLElement {
    const box = el(
      'div',
      `${CLASS.banner} jp-ipysigtrace-not-loaded` +
        (notice.error ? ` ${CLASS.error}` : '')
    );
    box.setAttribute('role', notice.error ? 'alert' : 'status');
    box.append(el('p', 'jp-ipysigtrace-notice', notice.text));
    const action = notice.action;
    if (action) {
      const button = el(
        'button',
        `jp-Button jp-mod-styled ${NOTICE_BUTTON} ${ACTION_CLASS[action.id]}`,
        action.label
      );
      button.title = action.title;
      button.addEventListener('click', () => this.controller.act(action.id));
      box.append(button);
    }
    return box;
  }

  private _renderFailure(failure: IFailure): HTMLElement {
    const box = el('div', `${CLASS.banner} ${CLASS.error}`);
    box.setAttribute('role', 'alert');
    const title =
      failure.status === 0
        ? 'No snapshot'
        : `No snapshot (HTTP ${failure.status})`;
    box.append(el('p', 'jp-ipysigtrace-banner-title', title));
    box.append(el('p', '', failure.message));
    return box;
  }

  /** The snapshot as shown: a raw one with its cell frames named (`cellhash.ts`). */
  private _shown(snapshot: ISnapshot): ISnapshot {
    const cells = this.source.cells;
    return cells && snapshot.kind === 'raw'
      ? nameRawCells(snapshot, cells.call(this.source))
      : snapshot;
  }

  private _renderReply(reply: IDumpReply, status: HTMLElement): void {
    const snapshot = this._shown(reply.snapshot);
    const header = el('div', CLASS.header);
    header.append(el('span', 'jp-ipysigtrace-title', snapshotTitle(snapshot)));
    header.append(
      el(
        'span',
        'jp-ipysigtrace-summary',
        summary(snapshot, this.showInternals)
      )
    );
    const verdict = cellVerdict(snapshot);
    if (verdict) {
      header.append(el('span', 'jp-ipysigtrace-verdict', verdict));
    }
    if (snapshot.kind === 'rich' && snapshot.cell_started !== null) {
      header.append(this._profileButton());
    }
    if (reply.source) {
      header.append(el('span', 'jp-ipysigtrace-via', `via ${reply.source}`));
    }
    this.node.append(header);
    this.node.append(...noteAndBanner(snapshot));
    this.node.append(status);

    this.node.append(this._filter, this._threadsNode);
    this._threadsNode.replaceChildren(...this._threads.render(snapshot));
  }

  /** Redraw the thread sections only (the filter changed): the box keeps its focus. */
  private _renderThreads(): void {
    const reply = this.controller.state.reply;
    if (this.isDisposed || !reply || !this._threadsNode.isConnected) {
      return;
    }
    this._threads.remember(this._threadsNode);
    this._threadsNode.replaceChildren(
      ...this._threads.render(this._shown(reply.snapshot))
    );
  }

  private _threads: ThreadsRenderer;
  private _filter = filterBox(text => {
    this.filter = text;
  });
  private _threadsNode = el('div', 'jp-ipysigtrace-threads');
  private _tracked: TrackedKernel | null = null;
}

/** The main-area widget: a toolbar above a `StacksView`. */
export class StacksPanel extends MainAreaWidget<StacksView> {
  constructor(source: IStacksSource) {
    super({ content: new StacksView(source) });
    this.addClass('jp-ipysigtrace-panel');
    this.id = `ipysigtrace-stacks-${source.widget.id}`;
    this.title.icon = bugIcon;
    this.title.closable = true;
    this.title.caption = "Every thread's stack of the kernel (ipysigtrace)";
    this._syncTitle();
    source.widget.title.changed.connect(this._syncTitle, this);

    const view = this.content;
    // Some versions of ToolbarButton flip `pressed` on every click: set it
    // after each click so only the three toggles ever look pressed.
    const refresh: ToolbarButton = new ToolbarButton({
      icon: refreshIcon,
      label: 'Refresh',
      tooltip: 'Take a new snapshot (does not interrupt the kernel)',
      className: 'jp-ipysigtrace-refresh',
      onClick: () => {
        refresh.pressed = false;
        void view.refresh();
      }
    });
    const auto: ToolbarButton = new ToolbarButton({
      label: 'Auto-refresh',
      tooltip: `Take a snapshot every ${AUTO_REFRESH_MS / 1000} s`,
      className: 'jp-ipysigtrace-auto',
      pressed: false,
      onClick: () => {
        view.autoRefresh = !view.autoRefresh;
        auto.pressed = view.autoRefresh;
      }
    });
    const internals: ToolbarButton = new ToolbarButton({
      label: 'Show kernel internals',
      tooltip: "Show the kernel's own threads and frames",
      className: 'jp-ipysigtrace-internals',
      pressed: false,
      onClick: () => {
        view.showInternals = !view.showInternals;
        internals.pressed = view.showInternals;
      }
    });
    const locals: ToolbarButton = new ToolbarButton({
      label: 'Show locals',
      tooltip:
        'Show the local variables of cell and user frames (a short text of ' +
        'each value; takes a new snapshot)',
      className: 'jp-ipysigtrace-locals',
      pressed: false,
      onClick: () => {
        view.showLocals = !view.showLocals;
        locals.pressed = view.showLocals;
      }
    });
    const copy: ToolbarButton = new ToolbarButton({
      icon: copyIcon,
      label: 'Copy as text',
      tooltip: 'Copy the stacks as plain text, like a traceback',
      className: 'jp-ipysigtrace-copy',
      onClick: () => {
        copy.pressed = false;
        view.copyText();
      }
    });
    // A narrow toolbar (Notebook 7's right sidebar) folds its last items into
    // a menu: the two actions come first, so they stay in sight, then the toggles.
    this.toolbar.addItem('refresh', refresh);
    this.toolbar.addItem('copy', copy);
    this.toolbar.addItem('auto-refresh', auto);
    this.toolbar.addItem('internals', internals);
    this.toolbar.addItem('locals', locals);
  }

  get source(): IStacksSource {
    return this.content.source;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.source.widget.title.changed.disconnect(this._syncTitle, this);
    super.dispose();
  }

  private _syncTitle(): void {
    this.title.label = `Stacks: ${this.source.widget.title.label}`;
  }
}
