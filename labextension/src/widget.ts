/**
 * The browser side of `%stackdump --live` (`ipysigtrace.widget.LiveStacks`).
 *
 * The kernel's watcher replaces `output` while a cell runs; ipywidgets brings
 * the change over IOPub, which the browser hears even while the kernel is
 * busy. Everything the user does here (open a thread, show locals, copy) is
 * done in the browser, because messages to a busy kernel wait until its cell
 * ends. Stop tells the kernel to stop updating and freezes this view at once.
 */
import { DOMWidgetModel, DOMWidgetView } from '@jupyter-widgets/base';

import { button, SnapshotView } from './mime';
import { WIDGET_MODULE } from './model';
import { WIDGET_MODULE_VERSION } from './version';

export class LiveStacksModel extends DOMWidgetModel {
  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'LiveStacksModel',
      _model_module: WIDGET_MODULE,
      _model_module_version: WIDGET_MODULE_VERSION,
      _view_name: 'LiveStacksView',
      _view_module: WIDGET_MODULE,
      _view_module_version: WIDGET_MODULE_VERSION,
      output: {},
      interval: 2,
      stopped: false
    };
  }
}

export class LiveStacksView extends DOMWidgetView {
  render(): void {
    this.el.classList.add('jp-ipysigtrace-live');
    this._stop = button(
      'Stop',
      'Stop updating this view (the kernel hears it once the cell ends)',
      'jp-ipysigtrace-stop',
      () => this._stopClicked()
    );
    this._view.toolbar.prepend(this._stop);
    this.el.append(this._view.node);
    this.listenTo(this.model, 'change:output', () => this._update());
    this.listenTo(this.model, 'change:stopped', () => this._update());
    this._update();
  }

  remove(): this {
    this._view.dispose();
    return super.remove();
  }

  private _update(): void {
    const heard = Boolean(this.model.get('stopped'));
    if (!this._frozen) {
      this._view.setOutput(this.model.get('output'));
    }
    this._frozen = heard || this._stopping;
    this._stop.disabled = this._frozen;
    this._view.note = heard
      ? 'Stopped: this view no longer updates.'
      : this._stopping
        ? 'Stopped here; the kernel stops sending updates once its cell ends.'
        : '';
  }

  private _stopClicked(): void {
    this._stopping = true;
    this._update();
    // A custom message, not a state change, so that the model keeps the
    // kernel's value; a busy kernel reads it when its cell ends.
    this.send({ event: 'stop' });
  }

  private _view = new SnapshotView();
  private _stop!: HTMLButtonElement;
  private _stopping = false;
  private _frozen = false;
}
