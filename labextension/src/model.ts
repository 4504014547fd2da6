/**
 * The model of every view, in one import: the snapshot and its reader
 * (`snapshot.ts`), which threads show and how (`sections.ts`), what the views
 * say (`words.ts`), and the text form (`text.ts`). No DOM, no JupyterLab
 * imports, so node's test runner reads all of it.
 */

export * from './snapshot';
export * from './sections';
export * from './words';
export * from './text';
