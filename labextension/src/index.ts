/**
 * ipysigtrace for JupyterLab 4 and Notebook 7: "Dump Kernel Stacks" shows
 * every thread's stack of a notebook's kernel, without interrupting it.
 *
 * The Kernel menu item and the keyboard shortcut are declared in
 * schema/plugin.json.
 */
import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, ICommandPalette, showDialog } from '@jupyterlab/apputils';
import { ConsolePanel, IConsoleTracker } from '@jupyterlab/console';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';

import { findCellIndex, ICellInfo, IFrame, WIDGET_MODULE } from './model';
import { followKernels, IStacksSource, StacksPanel } from './panel';
import { WIDGET_MODULE_VERSION } from './version';

/** The plugin's id; also names its settings schema (schema/plugin.json). */
const PLUGIN_ID = 'ipysigtrace:plugin';

/** Command ids. */
export namespace CommandIDs {
  /** Show every thread's stack of the current notebook's kernel. */
  export const dumpStacks = 'ipysigtrace:dump-stacks';
  /** Kernel > Interrupt Kernel while a Stacks panel is the current widget. */
  export const interruptKernel = 'ipysigtrace:interrupt-kernel';
  /** Kernel > Restart Kernel… while a Stacks panel is the current widget. */
  export const restartKernel = 'ipysigtrace:restart-kernel';
}

/** How long a revealed cell stays highlighted, in milliseconds. */
const FLASH_MS = 1500;

/** Select the cell a frame comes from, scroll to it and put the cursor on the line. */
/** What a frame is matched against: each cell's id, execution count and source. */
function notebookCells(panel: NotebookPanel): ICellInfo[] {
  return panel.content.widgets.map(cell => {
    const count = (cell.model as { executionCount?: unknown }).executionCount;
    return {
      id: cell.model.id,
      executionCount: typeof count === 'number' ? count : null,
      source: cell.model.sharedModel.getSource()
    };
  });
}

function revealInNotebook(panel: NotebookPanel, frame: IFrame): boolean {
  const notebook = panel.content;
  const index = findCellIndex(notebookCells(panel), frame);
  if (index < 0) {
    return false;
  }
  notebook.deselectAll();
  notebook.activeCellIndex = index;
  const cell = notebook.widgets[index];
  void notebook
    .scrollToItem(index, 'center')
    .catch(() => undefined)
    .then(() => cell.ready)
    .then(() => {
      const editor = cell.editor;
      if (!editor || frame.lineno < 1) {
        return;
      }
      const line = Math.min(
        frame.lineno - 1,
        Math.max(editor.lineCount - 1, 0)
      );
      const text = editor.getLine(line) ?? '';
      editor.setCursorPosition({ line, column: 0 });
      editor.setSelection({
        start: { line, column: 0 },
        end: { line, column: text.length }
      });
    });
  cell.addClass('jp-ipysigtrace-flash');
  window.setTimeout(() => {
    if (!cell.isDisposed) {
      cell.removeClass('jp-ipysigtrace-flash');
    }
  }, FLASH_MS);
  return true;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    "Shows every thread's stack of a notebook's kernel, without interrupting it.",
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, IConsoleTracker, ILabShell, IMainMenu],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    palette: ICommandPalette | null,
    consoles: IConsoleTracker | null,
    labShell: ILabShell | null,
    mainMenu: IMainMenu | null
  ) => {
    /** Open panels, by the id of the notebook or console they show. */
    const panels = new Map<string, StacksPanel>();

    /** The notebook or console the command acts on. */
    const currentSource = (): IStacksSource | null => {
      const current = app.shell.currentWidget;
      if (current instanceof StacksPanel && !current.source.widget.isDisposed) {
        return current.source;
      }
      const widget: Widget | null =
        current && consoles?.has(current) ? current : notebooks.currentWidget;
      if (widget instanceof NotebookPanel) {
        const panel = widget;
        return {
          widget: panel,
          sessionContext: panel.sessionContext,
          revealFrame: frame => revealInNotebook(panel, frame),
          cells: () => notebookCells(panel)
        };
      }
      if (widget instanceof ConsolePanel) {
        return { widget, sessionContext: widget.sessionContext };
      }
      return null;
    };

    const hasKernel = (): boolean =>
      !!currentSource()?.sessionContext.session?.kernel;

    /** The panel for a notebook or console, made and placed if not open yet. */
    const openPanel = (source: IStacksSource): StacksPanel => {
      const existing = panels.get(source.widget.id);
      if (existing && !existing.isDisposed) {
        app.shell.activateById(existing.id);
        return existing;
      }
      const panel = new StacksPanel(source);
      const key = source.widget.id;
      panels.set(key, panel);
      panel.disposed.connect(() => {
        if (panels.get(key) === panel) {
          panels.delete(key);
        }
      });
      // One panel per notebook: it goes when its notebook goes.
      const closeWithSource = () => panel.dispose();
      source.widget.disposed.connect(closeWithSource);
      panel.disposed.connect(() =>
        source.widget.disposed.disconnect(closeWithSource)
      );
      if (labShell) {
        // JupyterLab: beside the notebook.
        app.shell.add(panel, 'main', {
          mode: 'split-right',
          ref: source.widget.id,
          activate: true
        });
      } else {
        // Notebook 7 keeps one widget in its main area: use the right sidebar.
        panel.addClass('jp-ipysigtrace-mod-sidebar');
        app.shell.add(panel, 'right', { rank: 1000 });
      }
      app.shell.activateById(panel.id);
      return panel;
    };

    app.commands.addCommand(CommandIDs.dumpStacks, {
      label: 'Dump Kernel Stacks',
      caption:
        "Show every thread's stack of the kernel without interrupting it " +
        '(works while a cell hangs)',
      isEnabled: hasKernel,
      execute: async () => {
        const source = currentSource();
        if (!source || !source.sessionContext.session?.kernel) {
          return;
        }
        const panel = openPanel(source);
        await panel.content.refresh();
      }
    });

    // The panel takes the focus; keep Kernel > Interrupt Kernel and Restart
    // Kernel working for its kernel, since one of them is often the next step.
    const currentPanelKernel = () => {
      const current = app.shell.currentWidget;
      return current instanceof StacksPanel
        ? (current.source.sessionContext.session?.kernel ?? null)
        : null;
    };
    app.commands.addCommand(CommandIDs.interruptKernel, {
      label: 'Interrupt Kernel',
      isEnabled: () => currentPanelKernel() !== null,
      execute: () => currentPanelKernel()?.interrupt()
    });
    mainMenu?.kernelMenu.kernelUsers.interruptKernel.add({
      id: CommandIDs.interruptKernel,
      isEnabled: () => currentPanelKernel() !== null
    });
    // Restart asks first, as the notebook's own command does.
    app.commands.addCommand(CommandIDs.restartKernel, {
      label: 'Restart Kernel…',
      isEnabled: () => currentPanelKernel() !== null,
      execute: async () => {
        const current = app.shell.currentWidget;
        if (!(current instanceof StacksPanel)) {
          return;
        }
        const { sessionContext } = current.source;
        const answer = await showDialog({
          title: 'Restart Kernel?',
          body:
            `Restart the kernel of ${sessionContext.name}? ` +
            'Its variables and running cells are lost.',
          buttons: [
            Dialog.cancelButton(),
            Dialog.warnButton({ label: 'Restart' })
          ]
        });
        if (answer.button.accept) {
          await sessionContext.restartKernel();
        }
      }
    });
    mainMenu?.kernelMenu.kernelUsers.restartKernel.add({
      id: CommandIDs.restartKernel,
      isEnabled: () => currentPanelKernel() !== null
    });

    if (palette) {
      palette.addItem({
        command: CommandIDs.dumpStacks,
        category: 'Kernel Operations'
      });
    }

    const changed = () =>
      app.commands.notifyCommandChanged(CommandIDs.dumpStacks);
    notebooks.currentChanged.connect(changed);
    notebooks.widgetAdded.connect((_, panel) => {
      panel.sessionContext.kernelChanged.connect(changed);
      followKernels(panel.sessionContext);
    });
    consoles?.currentChanged.connect(changed);
    consoles?.widgetAdded.connect((_, panel) =>
      followKernels(panel.sessionContext)
    );
  }
};

/**
 * The live view of `%stackdump --live`, an ipywidgets widget. Its code is
 * loaded the first time a notebook shows one.
 */
const widgets: JupyterFrontEndPlugin<void> = {
  id: 'ipysigtrace:widgets',
  description: 'The live stacks widget of %stackdump --live.',
  autoStart: true,
  optional: [IJupyterWidgetRegistry],
  activate: (
    _app: JupyterFrontEnd,
    registry: IJupyterWidgetRegistry | null
  ) => {
    registry?.registerWidget({
      name: WIDGET_MODULE,
      version: WIDGET_MODULE_VERSION,
      exports: async () => {
        const { LiveStacksModel, LiveStacksView } = await import('./widget');
        return { LiveStacksModel, LiveStacksView };
      }
    });
  }
};

export default [plugin, widgets];
