/**
 * The version, written once, in package.json: npm reads it there, and so do the
 * Python package's build (pyproject.toml) and the widget's module version.
 */

// The bundler inlines the JSON; this declaration is all tsc needs to know of it.
declare function require(id: '../package.json'): { version: string };

const PACKAGE = require('../package.json');

/** The version the kernel's `LiveStacks` widget asks for (`^` of the same). */
export const WIDGET_MODULE_VERSION: string = PACKAGE.version;
