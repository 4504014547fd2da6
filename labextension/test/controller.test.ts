/**
 * Unit tests of src/controller.ts, the Stacks panel's request logic, with a
 * fake host (kernel, server and clock): `npm test` (node's test runner).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  AUTO_REFRESH_MS,
  CHECK_REFUSALS,
  IStacksHost,
  IStacksState,
  KernelActivity,
  LoadReply,
  MAX_ERROR_CHARS,
  NOT_LOADED,
  oneLine,
  REFRESH_GAP_MS,
  StacksController
} from '../src/controller';
import { IDumpOptions, IDumpReply } from '../src/model';

import { deferred, FakeClock, IDeferred, settle } from './fake';

interface IDumpCall {
  kernelId: string;
  options: IDumpOptions;
  answer: IDeferred<IDumpReply>;
}

interface ILoadCall {
  kernelId: string;
  started: () => void;
  answer: IDeferred<LoadReply>;
}

class FakeHost implements IStacksHost {
  id: string | null = 'kernel-1';
  state = 'busy';
  visible = true;
  readonly clock = new FakeClock();
  readonly dumps: IDumpCall[] = [];
  readonly loads: ILoadCall[] = [];

  kernelId(): string | null {
    return this.id;
  }

  kernelState(): string {
    return this.state;
  }

  requestDump(kernelId: string, options: IDumpOptions): Promise<IDumpReply> {
    const answer = deferred<IDumpReply>();
    this.dumps.push({ kernelId, options, answer });
    return answer.promise;
  }

  loadExtension(kernelId: string, started: () => void): Promise<LoadReply> {
    const answer = deferred<LoadReply>();
    this.loads.push({ kernelId, started, answer });
    return answer.promise;
  }

  isVisible(): boolean {
    return this.visible;
  }

  get lastDump(): IDumpCall {
    return this.dumps[this.dumps.length - 1];
  }

  get lastLoad(): ILoadCall {
    return this.loads[this.loads.length - 1];
  }
}

const SERVER_WORDS =
  'ipysigtrace is not loaded in this kernel; load it with %load_ext ' +
  'ipysigtrace once the running cell ends.';

function snapshotReply(pid = 4242): IDumpReply {
  return { source: 'control', snapshot: { pid } } as unknown as IDumpReply;
}

function notLoaded(): { status: number; message: string } {
  return { status: 409, message: SERVER_WORDS };
}

function setup(state = 'busy') {
  const host = new FakeHost();
  host.state = state;
  let changes = 0;
  const controller = new StacksController(host, () => {
    changes++;
  });
  return {
    host,
    controller,
    changes: () => changes,
    /** Set the kernel's state and tell the controller. */
    become(next: string) {
      host.state = next;
      controller.kernelStateChanged();
    }
  };
}

/** Open the panel on a kernel without ipysigtrace: one dump, answered 409. */
async function notLoadedPanel(state = 'busy') {
  const ctx = setup(state);
  const done = ctx.controller.refresh();
  ctx.host.lastDump.answer.reject(notLoaded());
  await done;
  return ctx;
}

/** The pid of the snapshot the panel shows, or null. */
function shownPid(controller: StacksController): number | null {
  return controller.state.reply?.snapshot.pid ?? null;
}

/** Everything the panel would show, as one text. */
function shown(state: IStacksState): string {
  return [
    state.notice?.text ?? '',
    state.notice?.action?.label ?? '',
    state.failure?.message ?? '',
    state.status
  ].join('\n');
}

test('a new panel asks nothing and says how to take a snapshot', () => {
  const { host, controller } = setup();
  assert.deepEqual(controller.state, {
    reply: null,
    failure: null,
    notice: null,
    status: 'Press Refresh to take a snapshot.'
  });
  assert.equal(host.dumps.length, 0);
});

test('refresh shows the snapshot and says what is under way meanwhile', async () => {
  const { host, controller } = setup();
  const done = controller.refresh();
  assert.equal(controller.requesting, true);
  assert.equal(controller.state.status, 'Asking the kernel for its stacks…');
  assert.deepEqual(host.lastDump.options, { locals: false });
  assert.equal(host.lastDump.kernelId, 'kernel-1');
  const reply = snapshotReply();
  host.lastDump.answer.resolve(reply);
  await done;
  assert.equal(controller.requesting, false);
  assert.equal(controller.state.reply, reply);
  assert.equal(controller.state.status, '');
  assert.equal(controller.state.notice, null);
});

test('refresh without a kernel says so and asks nothing', async () => {
  const { host, controller } = setup();
  host.id = null;
  await controller.refresh();
  assert.equal(host.dumps.length, 0);
  assert.deepEqual(controller.state.failure, {
    status: 0,
    message: 'This notebook has no running kernel.'
  });
});

test('a refresh during a request waits for its answer, then asks again', async () => {
  const { host, controller } = setup();
  const first = controller.refresh();
  await controller.refresh(); // returns at once: one request at a time
  assert.equal(host.dumps.length, 1);
  const reply = snapshotReply(1);
  host.lastDump.answer.resolve(reply);
  await first;
  assert.equal(controller.state.reply, reply, 'the first answer is shown');
  host.clock.advance(REFRESH_GAP_MS - 1);
  assert.equal(host.dumps.length, 1, 'not within the server gap');
  host.clock.advance(1);
  assert.equal(host.dumps.length, 2);
});

test('an error keeps the last snapshot below it; an unknown kernel does not', async () => {
  const { host, controller } = setup();
  let done = controller.refresh();
  const reply = snapshotReply();
  host.lastDump.answer.resolve(reply);
  await done;
  done = controller.refresh();
  host.lastDump.answer.reject({ status: 504, message: 'No answer in time.' });
  await done;
  assert.deepEqual(controller.state.failure, {
    status: 504,
    message: 'No answer in time.'
  });
  assert.equal(controller.state.reply, reply);
  done = controller.refresh();
  host.lastDump.answer.reject({ status: 404, message: 'No such kernel.' });
  await done;
  assert.equal(controller.state.reply, null);
  done = controller.refresh();
  host.lastDump.answer.reject(new Error('network down'));
  await done;
  assert.deepEqual(controller.state.failure, {
    status: 0,
    message: 'Error: network down'
  });
});

test('not loaded, kernel busy: one sentence, in the panel’s words, and an offer for when the cell ends', async () => {
  const { controller } = await notLoadedPanel('busy');
  const state = controller.state;
  assert.equal(state.reply, null);
  assert.equal(state.failure, null, 'the server’s words are not shown');
  assert.deepEqual(state.notice, {
    text: `${NOT_LOADED}; it can be loaded when the running cell ends.`,
    action: {
      id: 'load',
      label: 'Load it when the cell ends',
      title:
        'Run %load_ext ipysigtrace as soon as the kernel is idle, then take a snapshot'
    },
    error: false
  });
  const text = shown(state);
  assert.equal(text.split('not loaded').length, 2, text);
  assert.ok(!text.includes('Run %load_ext'), text);
});

test('not loaded, kernel idle: one sentence and "Load ipysigtrace"', async () => {
  const { controller } = await notLoadedPanel('idle');
  assert.equal(controller.state.notice?.text, `${NOT_LOADED}.`);
  assert.equal(controller.state.notice?.action?.label, 'Load ipysigtrace');
});

test('not loaded, kernel neither busy nor idle: it can be loaded once idle', async () => {
  const { controller } = await notLoadedPanel('starting');
  assert.equal(
    controller.state.notice?.text,
    `${NOT_LOADED}; it can be loaded once the kernel is idle.`
  );
  assert.equal(
    controller.state.notice?.action?.label,
    'Load it when the cell ends'
  );
});

test('the notice follows the kernel between busy and idle, redrawn only when its words change', async () => {
  const { controller, become, changes } = await notLoadedPanel('busy');
  const before = changes();
  become('busy');
  assert.equal(changes(), before, 'no change, no redraw');
  become('idle');
  assert.equal(changes(), before + 1);
  assert.equal(controller.state.notice?.text, `${NOT_LOADED}.`);
  become('busy');
  assert.equal(
    controller.state.notice?.text,
    `${NOT_LOADED}; it can be loaded when the running cell ends.`
  );
});

test('idle: "Load ipysigtrace" loads at once, then takes the snapshot', async () => {
  const { host, controller, become } = await notLoadedPanel('idle');
  controller.act('load');
  assert.equal(host.loads.length, 1);
  assert.equal(host.lastLoad.kernelId, 'kernel-1');
  assert.deepEqual(controller.state.notice, {
    text: 'Loading ipysigtrace in the kernel…',
    action: null,
    error: false
  });
  host.lastLoad.started();
  become('busy'); // the kernel runs %load_ext
  assert.equal(
    controller.state.notice?.text,
    'Loading ipysigtrace in the kernel…'
  );
  become('idle');
  assert.equal(host.loads.length, 1, 'idle again does not load again');
  host.lastLoad.answer.resolve({ status: 'ok', stderr: '' });
  await settle();
  assert.equal(host.dumps.length, 2, 'the snapshot is asked for');
  assert.equal(controller.state.notice, null);
  const reply = snapshotReply();
  host.lastDump.answer.resolve(reply);
  await settle();
  assert.equal(controller.state.reply, reply);
  assert.equal(controller.state.notice, null);
  assert.equal(controller.state.failure, null);
});

test('busy: asking waits for the cell to end, says so, and loads when the kernel is idle', async () => {
  const { host, controller, become } = await notLoadedPanel('busy');
  controller.act('load');
  assert.equal(host.loads.length, 0, 'nothing is sent to a busy kernel');
  assert.deepEqual(controller.state.notice, {
    text: `${NOT_LOADED}; it will be loaded when the running cell ends.`,
    action: {
      id: 'cancel',
      label: 'Do not load it',
      title: 'Forget the request to load ipysigtrace'
    },
    error: false
  });
  become('busy');
  assert.equal(host.loads.length, 0);
  become('idle'); // the cell ended (or was interrupted)
  assert.equal(host.loads.length, 1);
  assert.equal(
    controller.state.notice?.text,
    'Loading ipysigtrace in the kernel…'
  );
  host.lastLoad.answer.resolve({ status: 'ok', stderr: '' });
  await settle();
  const reply = snapshotReply();
  host.lastDump.answer.resolve(reply);
  await settle();
  assert.equal(controller.state.reply, reply);
  assert.equal(controller.state.notice, null);
});

test('a waiting load says "once the kernel is idle" while the kernel is starting', async () => {
  const { controller, become } = await notLoadedPanel('busy');
  controller.act('load');
  become('starting');
  assert.equal(
    controller.state.notice?.text,
    `${NOT_LOADED}; it will be loaded once the kernel is idle.`
  );
});

test('"Do not load it" forgets the request: the cell ends and nothing is loaded', async () => {
  const { host, controller, become } = await notLoadedPanel('busy');
  controller.act('load');
  controller.act('cancel');
  assert.equal(
    controller.state.notice?.text,
    `${NOT_LOADED}; it can be loaded when the running cell ends.`
  );
  become('idle');
  assert.equal(host.loads.length, 0);
  assert.equal(controller.state.notice?.action?.label, 'Load ipysigtrace');
});

test('a load sent behind another running cell says it waits for that cell, not "Loading…"', async () => {
  const { host, controller, become } = await notLoadedPanel('busy');
  controller.act('load');
  become('idle'); // between two queued cells: the next one starts at once
  become('busy');
  assert.equal(host.loads.length, 1);
  assert.deepEqual(controller.state.notice, {
    text: 'ipysigtrace will be loaded when the running cell ends.',
    action: null,
    error: false
  });
  host.lastLoad.started(); // the kernel runs ours now
  assert.equal(
    controller.state.notice?.text,
    'Loading ipysigtrace in the kernel…'
  );
});

test('a load aborted right after the cell ended is sent once more, then reported, never as failed', async () => {
  const { host, controller, become } = await notLoadedPanel('busy');
  controller.act('load');
  become('idle');
  host.lastLoad.answer.resolve({ status: 'aborted' });
  await settle();
  assert.equal(host.loads.length, 2, 'asked once more, the kernel being idle');
  host.lastLoad.answer.resolve({ status: 'aborted' });
  await settle();
  assert.equal(host.loads.length, 2, 'only once');
  const notice = controller.state.notice;
  assert.deepEqual(notice, {
    text:
      'The kernel skipped the load of ipysigtrace, as it skips requests ' +
      'that come just after a cell fails.',
    action: {
      id: 'load',
      label: 'Load ipysigtrace',
      title: 'Run %load_ext ipysigtrace in the kernel now, then take a snapshot'
    },
    error: false
  });
  assert.ok(!/fail(ed)? to load|load failed/i.test(shown(controller.state)));
  controller.act('load'); // offered again
  assert.equal(host.loads.length, 3);
});

test('an aborted retry waits for idle if the kernel is busy again', async () => {
  const { host, become } = await notLoadedPanel('busy').then(ctx => {
    ctx.controller.act('load');
    return ctx;
  });
  become('idle');
  host.state = 'busy'; // another cell started meanwhile
  host.lastLoad.answer.resolve({ status: 'aborted' });
  await settle();
  assert.equal(host.loads.length, 1);
  become('idle');
  assert.equal(host.loads.length, 2);
});

test('a load asked while idle and aborted is reported at once (no retry)', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  controller.act('load');
  host.lastLoad.answer.resolve({ status: 'aborted' });
  await settle();
  assert.equal(host.loads.length, 1);
  assert.match(controller.state.notice!.text, /skipped the load/);
  assert.equal(controller.state.notice?.action?.id, 'load');
});

test('an interrupted load says so and offers again, not as an error', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  controller.act('load');
  host.lastLoad.answer.resolve({
    status: 'error',
    ename: 'KeyboardInterrupt',
    evalue: ''
  });
  await settle();
  assert.deepEqual(controller.state.notice, {
    text: 'The load of ipysigtrace was interrupted.',
    action: {
      id: 'load',
      label: 'Load ipysigtrace',
      title: 'Run %load_ext ipysigtrace in the kernel now, then take a snapshot'
    },
    error: false
  });
  assert.equal(host.dumps.length, 1, 'no snapshot asked for');
});

test('a real failure says the kernel’s error in one line', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  controller.act('load');
  host.lastLoad.answer.resolve({
    status: 'error',
    ename: 'ModuleNotFoundError',
    evalue: "No module named 'ipysigtrace'\nsecond line"
  });
  await settle();
  const notice = controller.state.notice!;
  assert.equal(
    notice.text,
    "Could not load ipysigtrace: ModuleNotFoundError: No module named 'ipysigtrace'"
  );
  assert.equal(notice.error, true);
  assert.equal(notice.action?.id, 'load', 'offered again');
});

test('an error without a value is named alone', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  controller.act('load');
  host.lastLoad.answer.resolve({
    status: 'error',
    ename: 'SystemExit',
    evalue: ''
  });
  await settle();
  assert.equal(
    controller.state.notice?.text,
    'Could not load ipysigtrace: SystemExit'
  );
});

test('a load that ran but left ipysigtrace unloaded says the kernel’s complaint', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  controller.act('load');
  host.lastLoad.answer.resolve({
    status: 'ok',
    stderr:
      'some warning\nipysigtrace: not loaded: SIGUSR2 has a handler of its own\n'
  });
  await settle();
  host.lastDump.answer.reject(notLoaded());
  await settle();
  assert.deepEqual(controller.state.notice, {
    text: 'Could not load ipysigtrace: SIGUSR2 has a handler of its own',
    action: {
      id: 'load',
      label: 'Load ipysigtrace',
      title: 'Run %load_ext ipysigtrace in the kernel now, then take a snapshot'
    },
    error: true
  });
});

test('a load that ran silently but left it unloaded says so', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  controller.act('load');
  host.lastLoad.answer.resolve({ status: 'ok', stderr: '' });
  await settle();
  host.lastDump.answer.reject(notLoaded());
  await settle();
  assert.equal(
    controller.state.notice?.text,
    '%load_ext ipysigtrace ran, but the kernel still does not answer.'
  );
});

test('after a load, a "not loaded" answer to a request sent before it does not count', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  controller.act('load');
  const early = controller.refresh(); // the user pressed Refresh meanwhile
  host.lastLoad.answer.resolve({ status: 'ok', stderr: '' });
  await settle();
  assert.equal(
    host.dumps.length,
    2,
    'the load waits for the request under way'
  );
  host.dumps[1].answer.reject(notLoaded());
  await early;
  assert.equal(controller.state.notice, null, 'still checking, no complaint');
  host.clock.advance(REFRESH_GAP_MS);
  assert.equal(host.dumps.length, 3);
  const reply = snapshotReply();
  host.lastDump.answer.resolve(reply);
  await settle();
  assert.equal(controller.state.reply, reply);
  assert.equal(controller.state.notice, null);
});

test('after a load, a snapshot refused as too soon is asked again after the gap', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  controller.act('load');
  host.lastLoad.answer.resolve({ status: 'ok', stderr: '' });
  await settle();
  for (let refused = 0; refused < CHECK_REFUSALS; refused++) {
    host.lastDump.answer.reject({ status: 429, message: 'Too soon.' });
    await settle();
    assert.equal(controller.state.failure, null, 'not shown: asked again');
    const before = host.dumps.length;
    host.clock.advance(REFRESH_GAP_MS);
    assert.equal(host.dumps.length, before + 1);
  }
  const reply = snapshotReply();
  host.lastDump.answer.resolve(reply);
  await settle();
  assert.equal(controller.state.reply, reply);
  assert.equal(controller.state.notice, null);
});

test('after a load, refusals beyond the bound are shown', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  controller.act('load');
  host.lastLoad.answer.resolve({ status: 'ok', stderr: '' });
  await settle();
  for (let refused = 0; refused < CHECK_REFUSALS; refused++) {
    host.lastDump.answer.reject({ status: 429, message: 'Too soon.' });
    await settle();
    host.clock.advance(REFRESH_GAP_MS);
  }
  host.lastDump.answer.reject({ status: 429, message: 'Too soon.' });
  await settle();
  assert.deepEqual(controller.state.failure, {
    status: 429,
    message: 'Too soon.'
  });
  host.clock.advance(REFRESH_GAP_MS * 10);
  assert.equal(host.dumps.length, 2 + CHECK_REFUSALS);
});

test('a refusal (429) outside a load check is shown at once', async () => {
  const { host, controller } = setup('busy');
  const done = controller.refresh();
  host.lastDump.answer.reject({ status: 429, message: 'Too soon.' });
  await done;
  assert.equal(controller.state.failure?.status, 429);
  host.clock.advance(REFRESH_GAP_MS * 10);
  assert.equal(host.dumps.length, 1);
});

test('after a load, another error ends the check and shows the error', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  controller.act('load');
  host.lastLoad.answer.resolve({ status: 'ok', stderr: '' });
  await settle();
  host.lastDump.answer.reject({ status: 504, message: 'No answer in time.' });
  await settle();
  assert.equal(controller.state.failure?.status, 504);
  assert.equal(controller.state.notice, null);
  controller.autoRefresh = true;
  host.clock.advance(AUTO_REFRESH_MS);
  assert.equal(host.dumps.length, 3, 'auto-refresh runs again');
});

test('a kernel restart while waiting drops the request and says so', async () => {
  const { host, controller, become } = await notLoadedPanel('busy');
  controller.act('load');
  become('restarting');
  assert.deepEqual(controller.state.notice, {
    text: 'The kernel restarted before ipysigtrace was loaded.',
    action: {
      id: 'refresh',
      label: 'Refresh',
      title: 'Take a new snapshot of the kernel'
    },
    error: false
  });
  become('starting');
  become('idle');
  assert.equal(host.loads.length, 0, 'the new kernel was not asked to load');
  controller.act('refresh');
  assert.equal(host.dumps.length, 2);
  host.lastDump.answer.reject(notLoaded());
  await settle();
  assert.equal(controller.state.notice?.text, `${NOT_LOADED}.`);
});

test('an automatic restart while loading: the cancelled load is not reported', async () => {
  const { host, controller, become } = await notLoadedPanel('idle');
  controller.act('load');
  become('autorestarting');
  host.lastLoad.answer.reject(new Error('Canceled future for execute_request'));
  await settle();
  assert.equal(
    controller.state.notice?.text,
    'The kernel restarted before ipysigtrace was loaded.'
  );
  assert.equal(controller.state.status, '');
});

test('a restart with nothing asked says the kernel restarted', async () => {
  const { controller, become } = await notLoadedPanel('busy');
  become('restarting');
  assert.equal(controller.state.notice?.text, 'The kernel restarted.');
  assert.equal(controller.state.notice?.action?.id, 'refresh');
});

test('a restart keeps the snapshot as the last look at the old process, and says so', async () => {
  const { host, controller, become } = setup('busy');
  const done = controller.refresh();
  host.lastDump.answer.resolve(snapshotReply());
  await done;
  become('restarting');
  become('restarting'); // said once, of the snapshot it concerns
  assert.equal(controller.state.notice, null);
  assert.equal(shownPid(controller), 4242);
  assert.equal(
    controller.state.status,
    'The kernel restarted: the snapshot below is from before.'
  );
  // Asking the new process shows no snapshot of the old one under "Asking…".
  become('idle');
  const again = controller.refresh();
  assert.equal(shownPid(controller), null);
  assert.match(controller.state.status, /^Asking/);
  host.lastDump.answer.resolve(snapshotReply(4343));
  await again;
  assert.equal(shownPid(controller), 4343);
  assert.equal(controller.state.status, '');
});

test('an answer that arrives after a restart is said to be of the old process', async () => {
  const { host, controller, become } = setup('busy');
  const done = controller.refresh();
  become('restarting'); // while the request is under way
  host.lastDump.answer.resolve(snapshotReply());
  await done;
  assert.equal(shownPid(controller), 4242);
  assert.equal(
    controller.state.status,
    'The kernel restarted: the snapshot below is from before.'
  );
  become('idle');
  void controller.refresh(); // the new process: the old one's snapshot is not kept
  assert.equal(shownPid(controller), null);
});

test('a stopped kernel keeps its last snapshot, said to be from before', async () => {
  const { host, controller, become } = setup('busy');
  const done = controller.refresh();
  host.lastDump.answer.resolve(snapshotReply());
  await done;
  become('dead');
  assert.equal(shownPid(controller), 4242);
  assert.equal(
    controller.state.status,
    'The kernel stopped: the snapshot below is from before.'
  );
});

test('a snapshot of one kernel is not shown under "Asking…" for another', async () => {
  const { host, controller } = setup('busy');
  const done = controller.refresh();
  host.lastDump.answer.resolve(snapshotReply());
  await done;
  host.id = 'kernel-2';
  controller.kernelChanged();
  void controller.refresh();
  assert.equal(shownPid(controller), null);
  assert.match(controller.state.status, /^Asking/);
});

test('a snapshot of the same process stays under "Asking…" until the next arrives', async () => {
  const { host, controller } = setup('busy');
  const done = controller.refresh();
  host.lastDump.answer.resolve(snapshotReply());
  await done;
  void controller.refresh();
  assert.equal(shownPid(controller), 4242);
});

test('a kernel that dies while waiting: said, and nothing is loaded', async () => {
  const { host, controller, become } = await notLoadedPanel('busy');
  controller.act('load');
  become('dead');
  assert.equal(
    controller.state.notice?.text,
    'The kernel stopped before ipysigtrace was loaded.'
  );
  become('idle');
  assert.equal(host.loads.length, 0);
});

test('another kernel while waiting: the request is dropped, and "load" no longer acts on it', async () => {
  const { host, controller } = await notLoadedPanel('busy');
  controller.act('load');
  host.id = 'kernel-2';
  host.state = 'idle';
  controller.kernelChanged();
  controller.kernelStateChanged();
  assert.equal(
    controller.state.notice?.text,
    'The notebook changed kernels before ipysigtrace was loaded.'
  );
  assert.equal(host.loads.length, 0);
  controller.act('load');
  assert.equal(host.loads.length, 0);
});

test('another kernel with an old offer on screen: "load" does nothing until asked again', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  host.id = 'kernel-2';
  controller.act('load'); // before the panel heard of the change
  assert.equal(host.loads.length, 0);
  controller.kernelChanged();
  assert.equal(controller.state.notice?.text, 'The notebook changed kernels.');
});

test('no kernel any more while waiting: said, and nothing is loaded', async () => {
  const { host, controller } = await notLoadedPanel('busy');
  controller.act('load');
  host.id = null;
  controller.kernelChanged();
  assert.equal(
    controller.state.notice?.text,
    'The kernel stopped before ipysigtrace was loaded.'
  );
});

test('an answer about a kernel the notebook no longer has is dropped', async () => {
  const { host, controller } = setup('busy');
  const done = controller.refresh();
  host.id = 'kernel-2';
  host.lastDump.answer.reject(notLoaded());
  await done;
  assert.equal(controller.state.notice, null);
  assert.equal(controller.state.status, '');
});

test('a load that gets no reply (and no restart) says so and offers again', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  controller.act('load');
  host.lastLoad.answer.reject(new Error('gone'));
  await settle();
  assert.deepEqual(controller.state.notice, {
    text: 'The kernel did not answer the load of ipysigtrace.',
    action: {
      id: 'load',
      label: 'Load ipysigtrace',
      title: 'Run %load_ext ipysigtrace in the kernel now, then take a snapshot'
    },
    error: false
  });
});

test('a host that throws instead of rejecting is handled the same way', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  host.loadExtension = () => {
    throw new Error('no kernel');
  };
  controller.act('load');
  await settle();
  assert.equal(
    controller.state.notice?.text,
    'The kernel did not answer the load of ipysigtrace.'
  );
});

test('a refresh that answers "not loaded" while waiting keeps the request', async () => {
  const { host, controller, become } = await notLoadedPanel('busy');
  controller.act('load');
  const done = controller.refresh();
  host.lastDump.answer.reject(notLoaded());
  await done;
  assert.equal(
    controller.state.notice?.text,
    `${NOT_LOADED}; it will be loaded when the running cell ends.`
  );
  become('idle');
  assert.equal(host.loads.length, 1);
});

test('a snapshot while waiting (loaded meanwhile, by hand) ends the wait', async () => {
  const { host, controller, become } = await notLoadedPanel('busy');
  controller.act('load');
  const done = controller.refresh();
  host.lastDump.answer.resolve(snapshotReply());
  await done;
  assert.equal(controller.state.notice, null);
  become('idle');
  assert.equal(host.loads.length, 0);
});

test('an offer after an outcome stays until the user acts', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  controller.act('load');
  host.lastLoad.answer.resolve({
    status: 'error',
    ename: 'KeyboardInterrupt',
    evalue: ''
  });
  await settle();
  const done = controller.refresh();
  host.lastDump.answer.reject(notLoaded());
  await done;
  assert.equal(
    controller.state.notice?.text,
    'The load of ipysigtrace was interrupted.'
  );
});

test('auto-refresh asks on every tick, and skips ticks while hidden, busy or loading', async () => {
  const { host, controller } = setup('busy');
  controller.autoRefresh = true;
  assert.equal(controller.autoRefresh, true);
  host.clock.advance(AUTO_REFRESH_MS);
  assert.equal(host.dumps.length, 1);
  host.clock.advance(AUTO_REFRESH_MS); // the first has not answered
  assert.equal(host.dumps.length, 1);
  host.lastDump.answer.reject(notLoaded());
  await settle();
  host.visible = false;
  host.clock.advance(AUTO_REFRESH_MS);
  assert.equal(host.dumps.length, 1, 'hidden');
  host.visible = true;
  host.clock.advance(AUTO_REFRESH_MS);
  assert.equal(host.dumps.length, 2);
  host.lastDump.answer.reject(notLoaded());
  await settle();
  controller.act('load'); // waiting for the cell to end
  host.clock.advance(AUTO_REFRESH_MS * 3);
  assert.equal(host.dumps.length, 2, 'no tick while waiting to load');
  controller.autoRefresh = false;
  assert.equal(host.clock.pending, 0);
});

test('auto-refresh skips ticks while the load runs', async () => {
  const { host, controller } = await notLoadedPanel('idle');
  controller.autoRefresh = true;
  controller.act('load');
  host.clock.advance(AUTO_REFRESH_MS * 2);
  assert.equal(host.dumps.length, 1);
});

test('turning locals on takes a snapshot with locals; off does not ask', async () => {
  const { host, controller } = setup('busy');
  controller.locals = true;
  assert.equal(host.dumps.length, 1);
  assert.deepEqual(host.lastDump.options, { locals: true });
  host.lastDump.answer.resolve(snapshotReply());
  await settle();
  controller.locals = false;
  assert.equal(host.dumps.length, 1);
  void controller.refresh();
  assert.deepEqual(host.lastDump.options, { locals: false });
});

test('say() puts a line in the status', () => {
  const { controller, changes } = setup();
  controller.say('Copied to the clipboard.');
  assert.equal(controller.state.status, 'Copied to the clipboard.');
  assert.equal(changes(), 1);
});

test('after dispose: no timer, no request, and late answers change nothing', async () => {
  const { host, controller, changes } = await notLoadedPanel('idle');
  controller.autoRefresh = true;
  controller.act('load');
  const before = changes();
  controller.dispose();
  assert.equal(host.clock.pending, 0);
  host.lastLoad.answer.resolve({ status: 'ok', stderr: '' });
  await settle();
  await controller.refresh();
  controller.act('load');
  controller.kernelStateChanged();
  assert.equal(host.dumps.length, 1);
  assert.equal(changes(), before);
});

test('KernelActivity: a control request answered during a cell does not end the cell', () => {
  const activity = new KernelActivity('idle');
  assert.equal(activity.status('busy', 'cell'), true);
  assert.equal(activity.state, 'busy');
  // The dump request to a kernel without ipysigtrace, then a kernel_info_request
  // the server sends on control: each says busy and idle while the cell runs.
  for (const request of ['dump', 'kernel-info']) {
    assert.equal(activity.status('busy', request), false);
    assert.equal(activity.status('idle', request), false);
    assert.equal(activity.state, 'busy', request);
  }
  assert.equal(activity.status('idle', 'cell'), true);
  assert.equal(activity.state, 'idle');
  assert.equal(activity.status('idle', 'cell'), false, 'no change');
});

test('KernelActivity: a control request that outlasts the cell keeps it busy until its idle', () => {
  const activity = new KernelActivity('idle');
  activity.status('busy', 'cell');
  activity.status('busy', 'debug');
  activity.status('idle', 'cell');
  assert.equal(activity.state, 'busy');
  assert.equal(activity.status('idle', 'debug'), true);
  assert.equal(activity.state, 'idle');
});

test('KernelActivity: tracking that begins during a cell waits for an idle it did not see start', () => {
  const activity = new KernelActivity('busy');
  activity.status('busy', 'dump');
  activity.status('idle', 'dump');
  assert.equal(activity.state, 'busy', 'the cell still runs');
  assert.equal(activity.status('idle', 'cell'), true);
  assert.equal(activity.state, 'idle');
  const idle = new KernelActivity('idle');
  assert.equal(idle.status('idle', 'other'), false);
  assert.equal(idle.state, 'idle');
});

test('KernelActivity: starting and restarts forget the requests of the old process', () => {
  const activity = new KernelActivity('busy');
  activity.status('busy', 'cell');
  assert.equal(activity.status('starting', ''), true);
  assert.equal(activity.state, 'starting');
  assert.equal(activity.status('busy', 'kernel-info'), true);
  assert.equal(activity.status('idle', 'kernel-info'), true);
  assert.equal(activity.state, 'idle', 'the old cell is not waited for');
  activity.status('busy', 'cell-2');
  assert.equal(activity.connection('restarting'), true);
  assert.equal(activity.state, 'restarting');
  activity.status('busy', 'kernel-info');
  activity.status('idle', 'kernel-info');
  assert.equal(activity.state, 'idle');
});

test('KernelActivity takes connection states from JupyterLab, not its busy or idle', () => {
  const activity = new KernelActivity('busy');
  assert.equal(activity.connection('idle'), false); // JupyterLab's, blurred
  assert.equal(activity.connection('busy'), false);
  assert.equal(activity.state, 'busy');
  for (const state of [
    'unknown',
    'restarting',
    'autorestarting',
    'terminating'
  ]) {
    assert.equal(activity.connection(state), true, state);
    assert.equal(activity.state, state);
  }
  assert.equal(activity.status('busy', 'kernel-info'), true);
  assert.equal(activity.connection('dead'), true);
  assert.equal(
    activity.status('idle', 'kernel-info'),
    false,
    'dead stays dead'
  );
  assert.equal(activity.connection('restarting'), false);
  assert.equal(activity.state, 'dead');
});

test('oneLine: first non-empty line, no escapes or control characters, bounded', () => {
  assert.equal(
    oneLine('\n\n  \u001b[31mValueError\u001b[0m: bad\nmore'),
    'ValueError: bad'
  );
  assert.equal(oneLine('a\tb\u0007c'), 'a b c');
  assert.equal(oneLine('first\u2028second'), 'first');
  assert.equal(oneLine('abc\u202edef\u2066'), 'abc def');
  const long = oneLine('x'.repeat(1000));
  assert.equal(long.length, MAX_ERROR_CHARS);
  assert.ok(long.endsWith('…'));
  assert.equal(oneLine(''), '');
});
