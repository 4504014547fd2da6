/**
 * The "Stacks" panel: shows one snapshot of every thread's stack of a kernel.
 *
 * Every string that comes from the kernel is put in the page with
 * `textContent`, never as HTML.
 */
import {
  Clipboard,
  ISessionContext,
  MainAreaWidget
} from '@jupyterlab/apputils';
import {
  bugIcon,
  copyIcon,
  refreshIcon,
  ToolbarButton
} from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { ApiError, requestDump } from './api';
import {
  IDumpReply,
  IFrame,
  renderText,
  snapshotTitle,
  summary
} from './model';
import { CLASS, el, rawBanner, ThreadsRenderer } from './view';

/** How often auto-refresh asks for a new snapshot, in milliseconds. */
export const AUTO_REFRESH_MS = 2000;

/**
 * How long a refresh asked for during another request waits after it, in
 * milliseconds: the server refuses two dumps of a kernel within 250 ms.
 */
const REFRESH_GAP_MS = 300;

/** The notebook or console whose kernel a panel shows. */
export interface IStacksSource {
  /** The notebook or console panel. */
  readonly widget: Widget;
  readonly sessionContext: ISessionContext;
  /** Show a cell frame's line in the notebook; false when its cell is gone. */
  revealFrame?(frame: IFrame): boolean;
}

/** What the panel shows when it has no snapshot. */
type Failure = { status: number; message: string };

/** The body of the panel: the header, the banners and one section per thread. */
export class StacksView extends Widget {
  constructor(readonly source: IStacksSource) {
    super();
    this.addClass(CLASS.view);
    const reveal = source.revealFrame?.bind(source);
    this._threads = new ThreadsRenderer(
      reveal &&
        ((frame: IFrame) => {
          if (!reveal(frame)) {
            this._setStatus('That cell is not in this notebook any more.');
          }
        })
    );
    this.node.tabIndex = -1;
    source.sessionContext.statusChanged.connect(this._onStatus, this);
    this._render();
  }

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
    if (value) {
      void this.refresh(); // with the locals
    } else {
      this._render();
    }
  }

  get autoRefresh(): boolean {
    return this._timer !== null;
  }

  set autoRefresh(value: boolean) {
    if (value === this.autoRefresh || this.isDisposed) {
      return;
    }
    if (value) {
      this._timer = window.setInterval(() => {
        // Skip ticks while hidden (a background tab, a collapsed sidebar)
        // and while the last request has not answered yet.
        if (this.isVisible && !this._busy) {
          void this.refresh();
        }
      }, AUTO_REFRESH_MS);
    } else {
      window.clearInterval(this._timer!);
      this._timer = null;
    }
  }

  /** Ask the server for a new snapshot and show it. */
  async refresh(): Promise<void> {
    if (this._busy) {
      // Let the request under way answer, then ask again: asking now would
      // only be refused as too soon, and would discard that answer.
      this._refreshAfter = true;
      return;
    }
    const kernel = this.source.sessionContext.session?.kernel;
    if (!kernel) {
      this._failure = {
        status: 0,
        message: 'This notebook has no running kernel.'
      };
      this._reply = null;
      this._status = '';
      this._render();
      return;
    }
    this._busy = true;
    this._setStatus('Asking the kernel for its stacks…');
    try {
      const reply = await requestDump(kernel.id, undefined, {
        locals: this.showLocals
      });
      if (!this.isDisposed) {
        this._reply = reply;
        this._failure = null;
        this._status = '';
      }
    } catch (error) {
      if (!this.isDisposed) {
        this._failure =
          error instanceof ApiError
            ? { status: error.status, message: error.message }
            : { status: 0, message: String(error) };
        // Keep the last snapshot below the error, except when the kernel
        // is another one now (not loaded, unknown).
        if (this._failure.status === 404 || this._failure.status === 409) {
          this._reply = null;
        }
        this._status = '';
      }
    } finally {
      this._busy = false;
    }
    if (!this.isDisposed) {
      this._render();
      if (this._refreshAfter) {
        this._refreshAfter = false;
        window.setTimeout(() => {
          if (!this.isDisposed) {
            void this.refresh();
          }
        }, REFRESH_GAP_MS);
      }
    }
  }

  /** Copy the snapshot as plain text; false when there is nothing to copy. */
  copyText(): boolean {
    if (!this._reply) {
      this._setStatus('Nothing to copy yet: take a snapshot first.');
      return false;
    }
    const snapshot = this._reply.snapshot;
    Clipboard.copyToSystem(
      renderText(snapshot, this.showInternals, this.showLocals)
    );
    this._setStatus('Copied to the clipboard.');
    return true;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.autoRefresh = false;
    this.source.sessionContext.statusChanged.disconnect(this._onStatus, this);
    super.dispose();
  }

  private _onStatus(): void {
    if (this._loadButton) {
      const enabled = this._canLoad();
      this._loadButton.disabled = !enabled;
      this._loadHint!.textContent =
        enabled || this._loading
          ? ''
          : 'The kernel is busy: this works once it is idle ' +
            '(when the cell ends or is interrupted).';
    }
  }

  private _setStatus(text: string): void {
    this._status = text;
    if (this._statusNode) {
      this._statusNode.textContent = text;
    }
  }

  /** Whether "Load it now" may run: only when the kernel is idle. */
  private _canLoad(): boolean {
    const kernel = this.source.sessionContext.session?.kernel;
    return !!kernel && kernel.status === 'idle' && !this._loading;
  }

  private async _loadExtension(): Promise<void> {
    const kernel = this.source.sessionContext.session?.kernel;
    if (!kernel || !this._canLoad()) {
      return;
    }
    this._loading = true;
    this._onStatus();
    this._setStatus('Loading ipysigtrace in the kernel…');
    try {
      const future = kernel.requestExecute({
        code: '%load_ext ipysigtrace',
        silent: false,
        store_history: false
      });
      const reply = await future.done;
      const content = reply.content;
      if (content.status !== 'ok') {
        const detail =
          content.status === 'error'
            ? `: ${content.ename}: ${content.evalue}`
            : '';
        this._setStatus(`%load_ext ipysigtrace failed in the kernel${detail}`);
        return;
      }
    } catch (error) {
      this._setStatus(`Could not load ipysigtrace: ${String(error)}`);
      return;
    } finally {
      this._loading = false;
      this._onStatus();
    }
    await this.refresh();
  }

  /** Rebuild the whole view from the current state. */
  private _render(): void {
    const scroll = this.node.scrollTop;
    this._threads.remember(this.node);
    this.node.replaceChildren();
    this._loadButton = null;

    this._statusNode = el('div', CLASS.status, this._status);
    this._statusNode.setAttribute('aria-live', 'polite');

    if (this._failure) {
      this.node.append(this._renderFailure(this._failure));
    }
    if (this._reply) {
      if (this._failure) {
        this.node.append(
          el('div', 'jp-ipysigtrace-stale', 'The last snapshot that worked:')
        );
      }
      this._renderReply(this._reply);
    } else {
      this.node.append(this._statusNode);
    }
    this.node.scrollTop = scroll;
  }

  private _renderFailure(failure: Failure): HTMLElement {
    const box = el('div', `${CLASS.banner} ${CLASS.error}`);
    box.setAttribute('role', 'alert');
    if (failure.status === 409) {
      box.append(
        el(
          'p',
          'jp-ipysigtrace-banner-title',
          'ipysigtrace is not loaded in this kernel'
        )
      );
      box.append(el('p', '', failure.message));
      const button = el(
        'button',
        'jp-Button jp-mod-styled jp-mod-accept jp-ipysigtrace-load',
        'Load it now'
      );
      button.title =
        'Run %load_ext ipysigtrace in the kernel (only while it is idle)';
      button.addEventListener('click', () => void this._loadExtension());
      this._loadButton = button;
      this._loadHint = el('span', 'jp-ipysigtrace-load-hint');
      box.append(button, this._loadHint);
      this._onStatus();
    } else {
      const title =
        failure.status === 0
          ? 'No snapshot'
          : `No snapshot (HTTP ${failure.status})`;
      box.append(el('p', 'jp-ipysigtrace-banner-title', title));
      box.append(el('p', '', failure.message));
    }
    return box;
  }

  private _renderReply(reply: IDumpReply): void {
    const snapshot = reply.snapshot;
    const header = el('div', CLASS.header);
    header.append(el('span', 'jp-ipysigtrace-title', snapshotTitle(snapshot)));
    header.append(el('span', 'jp-ipysigtrace-summary', summary(snapshot)));
    if (reply.source) {
      header.append(el('span', 'jp-ipysigtrace-via', `via ${reply.source}`));
    }
    this.node.append(header);
    if (snapshot.note) {
      this.node.append(el('div', 'jp-ipysigtrace-note', snapshot.note));
    }
    if (snapshot.kind === 'raw') {
      this.node.append(rawBanner());
    }
    this.node.append(this._statusNode!);

    this.node.append(...this._threads.render(snapshot));
  }

  private _reply: IDumpReply | null = null;
  private _failure: Failure | null = null;
  private _status = 'Press Refresh to take a snapshot.';
  private _statusNode: HTMLElement | null = null;
  private _loadButton: HTMLButtonElement | null = null;
  private _loadHint: HTMLElement | null = null;
  private _threads: ThreadsRenderer;
  private _timer: number | null = null;
  private _busy = false;
  private _refreshAfter = false;
  private _loading = false;
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
    this.toolbar.addItem('refresh', refresh);
    this.toolbar.addItem('auto-refresh', auto);
    this.toolbar.addItem('internals', internals);
    this.toolbar.addItem('locals', locals);
    this.toolbar.addItem('copy', copy);
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
