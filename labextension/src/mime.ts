/**
 * The output renderer of `application/vnd.ipysigtrace.snapshot+json`, the
 * snapshot of `%stackdump`, and the view it shares with the live widget.
 *
 * Neither calls the server or the kernel. Each update goes to the same
 * `SnapshotView`, so the sections the user opened or closed, the toggles
 * and the scroll position stay.
 */
import { Clipboard } from '@jupyterlab/apputils';
import type { IRenderMime } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';

import {
  hasLocals,
  ISnapshotOutput,
  outputHeader,
  parseSnapshotOutput,
  renderText,
  SNAPSHOT_MIME
} from './model';
import { CLASS, el, filterBox, noteAndBanner, ThreadsRenderer } from './view';

/** A button of the view's toolbar. */
export function button(
  label: string,
  title: string,
  className: string,
  onClick: () => void
): HTMLButtonElement {
  const node = el('button', `jp-ipysigtrace-mime-button ${className}`, label);
  node.type = 'button';
  node.title = title;
  node.addEventListener('click', onClick);
  return node;
}

/** A snapshot output: a header, a toolbar and the threads. */
export class SnapshotView extends Widget {
  constructor() {
    super();
    this.addClass('jp-ipysigtrace-mime');
    this._threads.showLocals = true;

    this._internals = button(
      'Show kernel internals',
      "Show the kernel's own threads and frames",
      'jp-ipysigtrace-internals',
      () => {
        this._threads.showInternals = !this._threads.showInternals;
        this._render();
      }
    );
    this._locals = button(
      'Show locals',
      'Show the local variables the kernel captured',
      'jp-ipysigtrace-locals',
      () => {
        this._threads.showLocals = !this._threads.showLocals;
        this._render();
      }
    );
    const copy = button(
      'Copy as text',
      'Copy the stacks as plain text, like a traceback',
      'jp-ipysigtrace-copy',
      () => this._copy()
    );
    const toolbar = this.toolbar;
    toolbar.setAttribute('role', 'toolbar');
    const filter = filterBox(text => {
      this._threads.filter = text;
      this._render();
    });
    toolbar.append(this._internals, this._locals, copy, filter, this._status);
    this._status.setAttribute('aria-live', 'polite');
    this._body.classList.add(CLASS.view);
    this._note.hidden = true;
    this.node.append(this._header, this._note, toolbar, this._body);
  }

  /** Show a snapshot output (the MIME type's data); keep the user's choices. */
  setOutput(data: unknown): void {
    try {
      this._output = parseSnapshotOutput(data);
      this._error = '';
    } catch (error) {
      this._output = null;
      this._error = `Not a stack snapshot: ${(error as Error).message}`;
    }
    this._render();
  }

  /** A line after the header, such as "stopped"; empty hides it. */
  set note(text: string) {
    this._note.textContent = text;
    this._note.hidden = !text;
  }

  /** Rebuild the header and the threads; keep the user's choices. */
  private _render(): void {
    const output = this._output;
    const scroll = this._body.scrollTop;
    this._threads.remember(this._body);
    this._body.replaceChildren();
    this._header.textContent = output ? outputHeader(output) : this._error;
    this._internals.setAttribute(
      'aria-pressed',
      String(this._threads.showInternals)
    );
    this._internals.title = output?.snapshot.trimmed
      ? "Show the kernel's own threads (an output keeps their states, not their frames: %stackdump --all keeps those too)"
      : "Show the kernel's own threads and frames";
    this._locals.setAttribute('aria-pressed', String(this._threads.showLocals));
    this._locals.hidden = !output || !hasLocals(output.snapshot);
    if (output) {
      const snapshot = output.snapshot;
      this._body.append(...noteAndBanner(snapshot));
      this._body.append(...this._threads.render(snapshot));
    }
    this._body.scrollTop = scroll;
  }

  private _copy(): void {
    if (!this._output) {
      return;
    }
    Clipboard.copyToSystem(
      renderText(
        this._output.snapshot,
        this._threads.showInternals,
        this._threads.showLocals
      )
    );
    this._status.textContent = 'Copied to the clipboard.';
    window.clearTimeout(this._statusTimer);
    this._statusTimer = window.setTimeout(() => {
      this._status.textContent = '';
    }, 3000);
  }

  dispose(): void {
    window.clearTimeout(this._statusTimer);
    super.dispose();
  }

  /** The toolbar, where a user of the view can add buttons. */
  readonly toolbar = el('div', 'jp-ipysigtrace-mime-toolbar');
  private _output: ISnapshotOutput | null = null;
  private _error = '';
  // Cell frames are not buttons here: a renderer cannot reach its notebook.
  private _threads = new ThreadsRenderer();
  private _header = el('div', `${CLASS.header} jp-ipysigtrace-mime-header`);
  private _note = el('div', 'jp-ipysigtrace-mime-note');
  private _status = el('span', CLASS.status);
  private _body = el('div', 'jp-ipysigtrace-mime-body');
  private _internals: HTMLButtonElement;
  private _locals: HTMLButtonElement;
  private _statusTimer = 0;
}

/** Renders the MIME type's outputs. */
export class SnapshotRenderer
  extends SnapshotView
  implements IRenderMime.IRenderer
{
  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this._mimeType = options.mimeType;
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this.setOutput(model.data[this._mimeType]);
  }

  private _mimeType: string;
}

/** The renderer factory: safe (it only sets text), one MIME type. */
export const rendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [SNAPSHOT_MIME],
  createRenderer: options => new SnapshotRenderer(options)
};

const extension: IRenderMime.IExtension = {
  id: 'ipysigtrace:mime',
  description:
    'Renders the stack snapshots of %stackdump and of the live view ' +
    'in notebook outputs.',
  rendererFactory,
  // Before text/html, so the snapshot wins over its fallbacks.
  rank: 0,
  dataType: 'json'
};

export default extension;
