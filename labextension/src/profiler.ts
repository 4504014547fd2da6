/**
 * "Profile 10 s": a sampling profile of the cell that runs now, without
 * stopping it. The server extension asks the kernel, which samples on its
 * watcher's clock and, when the time is up (or the cell ends), shows the
 * flame graph and the top functions under that cell. Meanwhile the panel
 * says how far it is; then which functions took the cell's time.
 */
import type { IClock } from './controller';

/** How long the panel's button profiles. */
export const PROFILE_SECONDS = 10;
/** Between two questions about a profile that runs. */
export const PROFILE_POLL_MS = 1000;
/** How long past its end a profile may take to be handed over. */
const GRACE_MS = 30_000;
/** Functions the panel names. */
const TOP = 3;

export interface IProfileStarted {
  profileId: string;
  seconds: number;
}

/** A function that took time, with its share of the cell thread's samples. */
export interface IHotFunction {
  name: string;
  where: string;
  /** Its own samples over the thread's, 0 to 1. */
  share: number;
}

/** What the panel says of a finished profile. */
export interface IProfileSummary {
  /** Samples of the cell's thread. */
  samples: number;
  rate: number;
  seconds: number;
  /** Why it ended: duration, cell ended, stopped, unloaded. */
  ended: string;
  top: IHotFunction[];
}

export type ProfileState =
  | { state: 'running'; secondsLeft: number }
  | { state: 'done'; summary: IProfileSummary };

type JSONRecord = Record<string, unknown>;

function isRecord(value: unknown): value is JSONRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** The server's answer to the start; throws when it is not one. */
export function parseProfileStarted(value: unknown): IProfileStarted {
  if (!isRecord(value) || typeof value.profile_id !== 'string') {
    throw new Error('The server answered without a profile id.');
  }
  return { profileId: value.profile_id, seconds: num(value.seconds) };
}

/** The server's answer about a profile; throws when it is not one. */
export function parseProfileState(value: unknown): ProfileState {
  if (isRecord(value) && value.state === 'running') {
    return { state: 'running', secondsLeft: num(value.seconds_left) };
  }
  if (isRecord(value) && value.state === 'done') {
    return { state: 'done', summary: summarize(value.profile) };
  }
  throw new Error('The server answered with something that is not a profile.');
}

/**
 * The cell thread's samples and the functions with the most own time
 * (the kernel's machinery, and those under 0.5 %, left out), from the
 * profile's JSON (`ipysigtrace/profile.py`).
 */
export function summarize(profile: unknown): IProfileSummary {
  const data = isRecord(profile) ? profile : {};
  const frames = Array.isArray(data.frames) ? data.frames : [];
  const threads = (Array.isArray(data.threads) ? data.threads : []).filter(
    isRecord
  );
  const thread = threads.find(t => t.runs_cell === true) ?? threads[0];
  const own = new Map<number, number>();
  let samples = 0;
  for (const stack of Array.isArray(thread?.stacks) ? thread.stacks : []) {
    const indices =
      isRecord(stack) && Array.isArray(stack.frames) ? stack.frames : [];
    const count = isRecord(stack) ? num(stack.count) : 0;
    samples += count;
    const last = indices[indices.length - 1];
    if (Number.isInteger(last)) {
      own.set(last as number, (own.get(last as number) ?? 0) + count);
    }
  }
  const top: IHotFunction[] = [];
  for (const [index, count] of [...own].sort((a, b) => b[1] - a[1])) {
    const frame = frames[index];
    // Under 0.5 % would read as 0 %: the list names what took the time.
    const small = !samples || count / samples < 0.005;
    if (
      !isRecord(frame) ||
      frame.kind === 'machinery' ||
      small ||
      top.length >= TOP
    ) {
      continue;
    }
    const line = num(frame.line);
    const where =
      typeof frame.label === 'string' && frame.label
        ? `${frame.label}, line ${line}`
        : `${String(frame.filename ?? '')}:${line}`;
    top.push({
      name: String(frame.function ?? '?'),
      where,
      share: samples ? count / samples : 0
    });
  }
  return {
    samples,
    rate: num(data.rate),
    seconds: num(data.seconds),
    ended: typeof data.ended === 'string' ? data.ended : '',
    top
  };
}

/** "hot (Cell In[3], line 1): 62 %". */
export function hotText(hot: IHotFunction): string {
  return `${hot.name} (${hot.where}): ${Math.round(hot.share * 100)} %`;
}

/** What the profile needs from the panel's kernel and the server. */
export interface IProfileHost {
  kernelId(): string | null;
  startProfile(kernelId: string, seconds: number): Promise<IProfileStarted>;
  profileResult(kernelId: string, profileId: string): Promise<ProfileState>;
  readonly clock: IClock;
}

/** One panel's profile: at most one at a time. */
export class ProfileRun {
  constructor(
    private readonly _host: IProfileHost,
    private readonly _onChange: () => void
  ) {}

  /** One line for the panel: what runs, what came of it, or "". */
  get text(): string {
    return this._text;
  }

  /** The finished profile's summary, or null. */
  get summary(): IProfileSummary | null {
    return this._summary;
  }

  get running(): boolean {
    return this._token !== 0;
  }

  /** Profile the running cell for `seconds`; ignored while one runs. */
  async start(seconds = PROFILE_SECONDS): Promise<void> {
    const kernelId = this._host.kernelId();
    if (this.running || this._disposed) {
      return;
    }
    if (!kernelId) {
      this._say('No kernel to profile.');
      return;
    }
    const token = ++this._runs;
    this._token = token;
    this._summary = null;
    this._say(`Starting a profile of the running cell for ${seconds} s…`);
    let started: IProfileStarted;
    try {
      started = await this._host.startProfile(kernelId, seconds);
    } catch (error) {
      this._fail(token, error);
      return;
    }
    if (token !== this._token) {
      return;
    }
    this._pollsLeft = Math.ceil((seconds * 1000 + GRACE_MS) / PROFILE_POLL_MS);
    this._say(`Profiling the running cell: ${seconds} s left…`);
    this._poll(token, kernelId, started.profileId);
  }

  /** The kernel changed or the panel closed: stop asking. */
  cancel(): void {
    if (this._timer !== null) {
      this._host.clock.clearTimeout(this._timer);
      this._timer = null;
    }
    if (this.running) {
      this._token = 0;
      this._say('');
    }
  }

  dispose(): void {
    this.cancel();
    this._disposed = true;
  }

  private _poll(token: number, kernelId: string, profileId: string): void {
    this._timer = this._host.clock.setTimeout(() => {
      this._timer = null;
      void this._ask(token, kernelId, profileId);
    }, PROFILE_POLL_MS);
  }

  private async _ask(
    token: number,
    kernelId: string,
    profileId: string
  ): Promise<void> {
    let answer: ProfileState;
    try {
      answer = await this._host.profileResult(kernelId, profileId);
    } catch (error) {
      this._fail(token, error);
      return;
    }
    if (token !== this._token || this._disposed) {
      return;
    }
    if (answer.state === 'running') {
      if (--this._pollsLeft <= 0) {
        this._fail(token, new Error('The profile did not end in time.'));
        return;
      }
      const left = Math.max(0, Math.ceil(answer.secondsLeft));
      this._say(`Profiling the running cell: ${left} s left…`);
      this._poll(token, kernelId, profileId);
      return;
    }
    this._token = 0;
    this._summary = answer.summary;
    const { samples, rate } = answer.summary;
    const took =
      answer.summary.ended === 'cell ended' ? ' (the cell ended)' : '';
    this._say(
      `Profile: ${samples.toLocaleString('en-US')} samples of the cell at ` +
        `${rate} Hz${took}; its flame graph is under the cell.`
    );
  }

  private _fail(token: number, error: unknown): void {
    if (token !== this._token) {
      return;
    }
    this._token = 0;
    const message =
      error && typeof error === 'object' && 'message' in error
        ? String((error as { message: unknown }).message)
        : String(error);
    this._say(`No profile: ${message}`);
  }

  private _say(text: string): void {
    this._text = text;
    this._onChange();
  }

  private _text = '';
  private _summary: IProfileSummary | null = null;
  private _token = 0;
  private _runs = 0;
  private _pollsLeft = 0;
  private _timer: unknown = null;
  private _disposed = false;
}
