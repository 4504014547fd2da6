/**
 * What the Stacks panel asks and when, apart from the DOM: one request at a
 * time, a refresh asked for during a request, the auto-refresh timer, and
 * loading ipysigtrace into a kernel that lacks it once its running cell ends.
 *
 * The controller says what the panel shows (`IStacksState`); the panel only
 * draws it. It knows nothing of JupyterLab: the panel gives it an
 * `IStacksHost` (the kernel, the server, the clock), so `node --test` can
 * drive it with fakes.
 */
import { IDumpOptions, IDumpReply } from './model';

/** How often auto-refresh asks for a new snapshot, in milliseconds. */
export const AUTO_REFRESH_MS = 2000;

/**
 * How long a refresh asked for during another request waits after it, in
 * milliseconds: the server refuses two dumps of a kernel within 250 ms.
 */
export const REFRESH_GAP_MS = 300;

/**
 * How many times the snapshot after a load is asked again when the server
 * says it comes too soon after the previous dump (HTTP 429).
 */
export const CHECK_REFUSALS = 3;

/** The longest kernel error the panel shows, in characters. */
export const MAX_ERROR_CHARS = 300;

/** The one sentence for a kernel that lacks ipysigtrace. */
export const NOT_LOADED = 'ipysigtrace is not loaded in this kernel';

/** States of a kernel's connection that JupyterLab knows and IOPub does not. */
const CONNECTION_STATES: ReadonlySet<string> = new Set([
  'unknown',
  'terminating',
  'restarting',
  'autorestarting',
  'dead'
]);

/**
 * Whether a kernel runs something, request by request: busy from a request's
 * busy status until that same request's idle, from IOPub status messages;
 * restarts and the like from JupyterLab's connection states.
 *
 * JupyterLab's own kernel status takes the last status message, whatever
 * request it is about. The control channel is answered while a cell runs,
 * and the kernel says busy and idle around each control request (a dump
 * request to a kernel without ipysigtrace, a debugger's request, a
 * kernel_info_request that the server sends on control), so a busy kernel
 * looks idle there.
 */
export class KernelActivity {
  /** `initial`: JupyterLab's status of the kernel when tracking begins. */
  constructor(initial: string) {
    this._state = initial;
    this._busyBefore = initial === 'busy';
  }

  /** 'busy', 'idle', 'starting', or a connection state such as 'restarting'. */
  get state(): string {
    return this._state;
  }

  /**
   * An IOPub status message about the request `parentId` ('' for none);
   * true when it changed the state.
   */
  status(executionState: string, parentId: string): boolean {
    if (this._state === 'dead') {
      return false;
    }
    if (executionState === 'busy') {
      this._running.add(parentId);
    } else if (executionState === 'idle') {
      if (!this._running.delete(parentId)) {
        // The end of a request that started before tracking began: the
        // one that made the kernel busy then.
        this._busyBefore = false;
      }
    } else {
      return this._reset(executionState); // 'starting', 'restarting'
    }
    return this._set(
      this._running.size > 0 || this._busyBefore ? 'busy' : 'idle'
    );
  }

  /**
   * JupyterLab's status of the kernel changed; true when it changed the
   * state. Only connection states count: busy and idle come from IOPub.
   */
  connection(status: string): boolean {
    return CONNECTION_STATES.has(status) ? this._reset(status) : false;
  }

  /** A new kernel process or none: no request of the old one runs. */
  private _reset(state: string): boolean {
    if (this._state === 'dead') {
      return false;
    }
    this._running.clear();
    this._busyBefore = false;
    return this._set(state);
  }

  private _set(state: string): boolean {
    if (state === this._state) {
      return false;
    }
    this._state = state;
    return true;
  }

  private _state: string;
  /** Requests whose busy came and whose idle has not. */
  private _running = new Set<string>();
  /** Whether a request that started before tracking began may still run. */
  private _busyBefore: boolean;
}

/** The kernel's answer to the silent `%load_ext ipysigtrace`. */
export type LoadReply =
  | { status: 'ok'; stderr: string }
  | { status: 'error'; ename: string; evalue: string }
  | { status: 'aborted' };

/** Timers; the panel gives the window's, tests a clock they move by hand. */
export interface IClock {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** What the controller needs from the notebook, its kernel and the server. */
export interface IStacksHost {
  /** The id of the kernel the panel shows, or null when there is none. */
  kernelId(): string | null;
  /** The kernel's state as `KernelActivity` tracks it ('busy', 'idle', ...). */
  kernelState(): string;
  /** Ask the server for a snapshot; rejects with `{ status, message }`. */
  requestDump(kernelId: string, options: IDumpOptions): Promise<IDumpReply>;
  /**
   * Run `%load_ext ipysigtrace` in the kernel, silent and not stored in the
   * history; call `started` when the kernel starts to run it. Rejects when
   * no reply can come (the kernel restarted, went away).
   */
  loadExtension(kernelId: string, started: () => void): Promise<LoadReply>;
  /** Whether the panel is on screen: auto-refresh skips ticks when not. */
  isVisible(): boolean;
  readonly clock: IClock;
}

/** A request that gave no snapshot, other than "not loaded". */
export interface IFailure {
  /** The HTTP status; 0 when there was no answer. */
  readonly status: number;
  readonly message: string;
}

/** What a button of the notice does. */
export type ActionId = 'load' | 'cancel' | 'refresh';

export interface IAction {
  readonly id: ActionId;
  readonly label: string;
  /** The button's tooltip. */
  readonly title: string;
}

/** The banner about a kernel without ipysigtrace: one sentence, one button. */
export interface INotice {
  readonly text: string;
  readonly action: IAction | null;
  /** Whether it reports an error of the kernel. */
  readonly error: boolean;
}

/** What the panel shows. */
export interface IStacksState {
  /** The last snapshot, or null. */
  readonly reply: IDumpReply | null;
  /** Why the last request gave no snapshot, or null. */
  readonly failure: IFailure | null;
  /** Shown for a kernel without ipysigtrace, or null. */
  readonly notice: INotice | null;
  /** One line: what is under way, or what just happened. */
  readonly status: string;
}

/** Where loading ipysigtrace into a kernel that lacks it stands. */
type Load =
  | { phase: 'none' }
  /** The last request said "not loaded"; nothing asked yet. */
  | { phase: 'offer'; kernelId: string }
  /** Asked while the kernel was busy: loads when it is idle. */
  | { phase: 'waiting'; kernelId: string; retried: boolean }
  /** `%load_ext` sent; `started` once the kernel runs it. */
  | {
      phase: 'loading';
      kernelId: string;
      token: number;
      started: boolean;
      waited: boolean;
      retried: boolean;
    }
  /** Loaded; the snapshot asked after it (`after`: the last earlier request). */
  | {
      phase: 'checking';
      kernelId: string;
      after: number;
      stderr: string;
      /** Times the server said "too soon" to the snapshot (429). */
      refused: number;
    }
  /** It ended without loading: what happened, and the offer again. */
  | { phase: 'again'; kernelId: string; text: string; error: boolean }
  /** The kernel restarted, stopped or was replaced: ask it again. */
  | { phase: 'lost'; text: string };

const ASKING = 'Asking the kernel for its stacks…';
const LOADING = 'Loading ipysigtrace in the kernel…';
const START = 'Press Refresh to take a snapshot.';

/** The first line of a kernel's text, without terminal escapes, bounded. */
export function oneLine(text: string, max = MAX_ERROR_CHARS): string {
  // eslint-disable-next-line no-control-regex -- terminal escapes are what it removes
  const plain = text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '');
  const line =
    plain
      .split(/\r\n|[\n\r\u2028\u2029]/)
      .map(part => part.trim())
      .find(part => part !== '') ?? '';
  // Control characters, and the bidi controls that would reorder the line.
  const clean = line
    // eslint-disable-next-line no-control-regex -- control characters are what it drops
    .replace(/[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, ' ')
    .trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** The last line ipysigtrace wrote to stderr while loading, without its prefix. */
function loadComplaint(stderr: string): string {
  const lines = stderr.split(/\r\n|[\n\r]/).filter(line => line.trim());
  const last = lines.length ? lines[lines.length - 1] : '';
  return oneLine(last.replace(/^\s*ipysigtrace:\s*(not loaded:\s*)?/, ''));
}

/** `{ status, message }` of a rejected request. */
function failureOf(error: unknown): IFailure {
  if (error && typeof error === 'object') {
    const { status, message } = error as {
      status?: unknown;
      message?: unknown;
    };
    if (typeof status === 'number' && typeof message === 'string') {
      return { status, message };
    }
  }
  return { status: 0, message: String(error) };
}

/** The request logic of one Stacks panel. */
export class StacksController {
  /** `changed` is called whenever what the panel shows has changed. */
  constructor(
    private readonly _host: IStacksHost,
    private readonly _onChange: () => void
  ) {}

  /** What the panel shows now. */
  get state(): IStacksState {
    return {
      reply: this._reply,
      failure: this._failure,
      notice: this._notice(),
      status: this._status
    };
  }

  /** Whether a request to the server is under way. */
  get requesting(): boolean {
    return this._requesting;
  }

  /** Whether requests ask for locals; turning it on takes a new snapshot. */
  get locals(): boolean {
    return this._locals;
  }

  set locals(value: boolean) {
    if (value === this._locals || this._disposed) {
      return;
    }
    this._locals = value;
    if (value) {
      void this.refresh();
    }
  }

  get autoRefresh(): boolean {
    return this._timer !== null;
  }

  set autoRefresh(value: boolean) {
    if (value === this.autoRefresh || this._disposed) {
      return;
    }
    if (value) {
      this._timer = this._host.clock.setInterval(
        () => this._tick(),
        AUTO_REFRESH_MS
      );
    } else {
      this._host.clock.clearInterval(this._timer);
      this._timer = null;
    }
  }

  /** Ask the server for a new snapshot. */
  async refresh(): Promise<void> {
    if (this._disposed) {
      return;
    }
    if (this._requesting) {
      // Let the request under way answer, then ask again: asking now would
      // only be refused as too soon, and would discard that answer.
      this._refreshAfter = true;
      return;
    }
    const kernelId = this._host.kernelId();
    if (!kernelId) {
      this._reply = null;
      this._failure = {
        status: 0,
        message: 'This notebook has no running kernel.'
      };
      this._load = { phase: 'none' };
      this._status = '';
      this._changed();
      return;
    }
    const seq = ++this._seq;
    if (this._replyFrom !== this._process(kernelId)) {
      this._reply = null; // a process that is gone: not shown as this one's
    }
    this._requesting = true;
    this._status = ASKING;
    this._changed();
    const asked = this._process(kernelId); // the process the answer will be about
    try {
      const reply = await this._host.requestDump(kernelId, {
        locals: this._locals
      });
      if (this._current(kernelId)) {
        this._reply = reply;
        this._replyFrom = asked;
        this._failure = null;
        this._load = { phase: 'none' };
        if (asked !== this._process(kernelId)) {
          // It ended while the answer came: the snapshot is of the old process.
          this._status = `${this._lastEnd}: the snapshot below is from before.`;
        }
      }
    } catch (error) {
      if (this._current(kernelId)) {
        this._failed(kernelId, seq, failureOf(error));
      }
    } finally {
      this._requesting = false;
    }
    if (this._disposed) {
      return;
    }
    if (this._status === ASKING) {
      this._status = '';
    }
    this._changed();
    if (this._refreshAfter) {
      this._refreshAfter = false;
      this._host.clock.setTimeout(() => void this.refresh(), REFRESH_GAP_MS);
    }
  }

  /** The notice's button was pressed. */
  act(id: ActionId): void {
    if (this._disposed) {
      return;
    }
    const load = this._load;
    if (id === 'refresh') {
      void this.refresh();
    } else if (id === 'cancel' && load.phase === 'waiting') {
      this._load = { phase: 'offer', kernelId: load.kernelId };
      this._changed();
    } else if (
      id === 'load' &&
      (load.phase === 'offer' || load.phase === 'again') &&
      load.kernelId === this._host.kernelId()
    ) {
      this._load = {
        phase: 'waiting',
        kernelId: load.kernelId,
        retried: false
      };
      if (this._host.kernelState() === 'idle') {
        this._startLoad(false);
      } else {
        this._changed();
      }
    }
  }

  /** Show a line in the status (a copy, a cell that is gone). */
  say(text: string): void {
    if (this._disposed) {
      return;
    }
    this._status = text;
    this._changed();
  }

  /** The host's `kernelState()` changed. */
  kernelStateChanged(): void {
    if (this._disposed) {
      return;
    }
    const state = this._host.kernelState();
    const load = this._load;
    if (state === 'restarting' || state === 'autorestarting') {
      this._ended('The kernel restarted');
      this._lose('The kernel restarted');
    } else if (state === 'dead' || state === 'terminating') {
      this._ended('The kernel stopped');
      this._lose('The kernel stopped');
    } else if (state === 'idle' && load.phase === 'waiting') {
      this._startLoad(true);
    } else if (this._noticeKey() !== this._shown) {
      this._changed(); // the notice's words depend on busy or idle
    }
  }

  /** The notebook's kernel was replaced by another (or by none). */
  kernelChanged(): void {
    if (this._disposed) {
      return;
    }
    const load = this._load;
    if (
      load.phase !== 'none' &&
      load.phase !== 'lost' &&
      load.kernelId !== this._host.kernelId()
    ) {
      this._lose(
        this._host.kernelId() === null
          ? 'The kernel stopped'
          : 'The notebook changed kernels'
      );
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this.autoRefresh = false;
    this._disposed = true;
  }

  /** Tell the panel to draw the state again. */
  private _changed(): void {
    this._shown = this._noticeKey();
    this._onChange();
  }

  private _noticeKey(): string {
    return JSON.stringify(this._notice());
  }

  private _tick(): void {
    // Skip ticks while hidden (a background tab, a collapsed sidebar), while
    // the last request has not answered yet, and while ipysigtrace is being
    // loaded (a snapshot follows the load).
    const phase = this._load.phase;
    if (
      this._host.isVisible() &&
      !this._requesting &&
      phase !== 'waiting' &&
      phase !== 'loading' &&
      phase !== 'checking'
    ) {
      void this.refresh();
    }
  }

  /** Whether an answer about `kernelId` still concerns the panel. */
  private _current(kernelId: string): boolean {
    return !this._disposed && this._host.kernelId() === kernelId;
  }

  private _failed(kernelId: string, seq: number, failure: IFailure): void {
    const load = this._load;
    if (
      failure.status === 429 &&
      load.phase === 'checking' &&
      load.refused < CHECK_REFUSALS
    ) {
      // The dump that said "not loaded" may have been just before the load:
      // the server refuses a second one so soon. Ask again after the gap.
      this._load = { ...load, refused: load.refused + 1 };
      this._refreshAfter = true;
      return;
    }
    if (failure.status !== 409) {
      this._failure = failure;
      // Keep the last snapshot below the error, except when the kernel is
      // unknown now.
      if (failure.status === 404) {
        this._reply = null;
        this._load = { phase: 'none' };
      } else if (this._load.phase === 'checking') {
        this._load = { phase: 'none' }; // loaded; the error says the rest
      }
      return;
    }
    // Not loaded: the panel says so in its own words (the notice).
    this._failure = null;
    this._reply = null;
    if (load.phase === 'checking') {
      if (seq > load.after) {
        const complaint = loadComplaint(load.stderr);
        this._load = {
          phase: 'again',
          kernelId,
          error: true,
          text: complaint
            ? `Could not load ipysigtrace: ${complaint}`
            : '%load_ext ipysigtrace ran, but the kernel still does not answer.'
        };
      }
    } else if (load.phase === 'none' || load.phase === 'lost') {
      this._load = { phase: 'offer', kernelId };
    }
  }

  /** Which kernel process a reply asked of `kernelId` now comes from. */
  private _process(kernelId: string): string {
    return `${kernelId}#${this._lives}`;
  }

  /**
   * The kernel's process ended (a restart, a stop): the snapshot on screen
   * stays, as the last look at it, and says it is from before.
   */
  private _ended(what: string): void {
    const kernelId = this._host.kernelId();
    const shown =
      kernelId !== null && this._replyFrom === this._process(kernelId);
    this._lives++;
    this._lastEnd = what;
    if (this._reply && shown) {
      this._status = `${what}: the snapshot below is from before.`;
      this._changed();
    }
  }

  private _lose(what: string): void {
    const load = this._load;
    if (load.phase === 'none' || load.phase === 'lost') {
      return;
    }
    const asked = load.phase === 'waiting' || load.phase === 'loading';
    this._load = {
      phase: 'lost',
      text: asked ? `${what} before ipysigtrace was loaded.` : `${what}.`
    };
    this._changed();
  }

  /** Send `%load_ext` for the waiting load (`waited`: it waited for idle). */
  private _startLoad(waited: boolean): void {
    const load = this._load;
    if (load.phase !== 'waiting') {
      return;
    }
    const token = ++this._tokens;
    const kernelId = load.kernelId;
    this._load = {
      phase: 'loading',
      kernelId,
      token,
      started: false,
      waited,
      retried: load.retried
    };
    this._changed();
    const mine = () => {
      const now = this._load;
      return !this._disposed && now.phase === 'loading' && now.token === token
        ? now
        : null;
    };
    let reply: Promise<LoadReply>;
    try {
      reply = this._host.loadExtension(kernelId, () => {
        const now = mine();
        if (now && !now.started) {
          this._load = { ...now, started: true };
          this._changed();
        }
      });
    } catch (error) {
      reply = Promise.reject(error);
    }
    reply.then(
      answer => {
        const now = mine();
        if (now) {
          this._loaded(now, answer);
        }
      },
      () => {
        if (mine()) {
          this._load = {
            phase: 'again',
            kernelId,
            error: false,
            text: 'The kernel did not answer the load of ipysigtrace.'
          };
          this._changed();
        }
      }
    );
  }

  private _loaded(
    load: Extract<Load, { phase: 'loading' }>,
    answer: LoadReply
  ): void {
    const kernelId = load.kernelId;
    if (answer.status === 'ok') {
      this._load = {
        phase: 'checking',
        kernelId,
        after: this._seq,
        stderr: answer.stderr,
        refused: 0
      };
      this._changed();
      void this.refresh();
      return;
    }
    if (answer.status === 'aborted' && load.waited && !load.retried) {
      // ipykernel drops requests that arrive while it deals with the error
      // of the cell that just ended (an interrupt): the user's "when the
      // cell ends" still holds, so ask once more.
      this._load = { phase: 'waiting', kernelId, retried: true };
      if (this._host.kernelState() === 'idle') {
        this._startLoad(true);
      } else {
        this._changed();
      }
      return;
    }
    let text: string;
    let error = false;
    if (answer.status === 'aborted') {
      text =
        'The kernel skipped the load of ipysigtrace, as it skips requests ' +
        'that come just after a cell fails.';
    } else if (answer.ename === 'KeyboardInterrupt') {
      text = 'The load of ipysigtrace was interrupted.';
    } else {
      text = `Could not load ipysigtrace: ${oneLine(
        answer.evalue ? `${answer.ename}: ${answer.evalue}` : answer.ename
      )}`;
      error = true;
    }
    this._load = { phase: 'again', kernelId, text, error };
    this._changed();
  }

  /** The banner for the load's phase, in the words for busy or idle. */
  private _notice(): INotice | null {
    const load = this._load;
    const state = this._host.kernelState();
    const offer: IAction =
      state === 'idle'
        ? {
            id: 'load',
            label: 'Load ipysigtrace',
            title:
              'Run %load_ext ipysigtrace in the kernel now, then take a snapshot'
          }
        : {
            id: 'load',
            label: 'Load it when the cell ends',
            title:
              'Run %load_ext ipysigtrace as soon as the kernel is idle, ' +
              'then take a snapshot'
          };
    const when =
      state === 'busy'
        ? 'when the running cell ends'
        : 'once the kernel is idle';
    switch (load.phase) {
      case 'none':
        return null;
      case 'offer':
        return {
          text:
            state === 'idle'
              ? `${NOT_LOADED}.`
              : `${NOT_LOADED}; it can be loaded ${when}.`,
          action: offer,
          error: false
        };
      case 'waiting':
        return {
          text: `${NOT_LOADED}; it will be loaded ${when}.`,
          action: {
            id: 'cancel',
            label: 'Do not load it',
            title: 'Forget the request to load ipysigtrace'
          },
          error: false
        };
      case 'loading':
        return {
          text:
            load.started || state === 'idle'
              ? LOADING
              : `ipysigtrace will be loaded ${when}.`,
          action: null,
          error: false
        };
      case 'checking':
        return null;
      case 'again':
        return { text: load.text, action: offer, error: load.error };
      case 'lost':
        return {
          text: load.text,
          action: {
            id: 'refresh',
            label: 'Refresh',
            title: 'Take a new snapshot of the kernel'
          },
          error: false
        };
    }
  }

  private _reply: IDumpReply | null = null;
  /**
   * The kernel process the reply came from: the kernel's id, and how many
   * restarts or stops the panel had seen when it came. A reply of another
   * process is not left under "Asking…" as if it were this one's.
   */
  private _replyFrom = '';
  private _lives = 0;
  /** How the last process ended: 'The kernel restarted' or 'The kernel stopped'. */
  private _lastEnd = '';
  private _failure: IFailure | null = null;
  private _status = START;
  private _load: Load = { phase: 'none' };
  private _locals = false;
  private _timer: unknown = null;
  private _requesting = false;
  private _refreshAfter = false;
  private _seq = 0;
  private _tokens = 0;
  private _disposed = false;
  /** The notice as last drawn, to redraw only when its words change. */
  private _shown = 'null';
}
