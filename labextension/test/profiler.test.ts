/**
 * Unit tests of src/profiler.ts, the panel's "Profile 10 s": the summary of a
 * profile that Python wrote (tests/fixtures/profile.json), and the run's
 * questions to a fake server on a fake clock.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import {
  hotText,
  IProfileHost,
  IProfileStarted,
  IProfileSummary,
  PROFILE_POLL_MS,
  ProfileRun,
  ProfileState,
  parseProfileState,
  summarize
} from '../src/profiler';

import { deferred, FakeClock, IDeferred, settle } from './fake';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'tests', 'fixtures');
const PROFILE = JSON.parse(
  fs.readFileSync(path.join(FIXTURES, 'profile.json'), 'utf8')
) as unknown;

test('the summary names the functions that took the cell thread’s time, as Python ranks them', () => {
  const summary = summarize(PROFILE);
  assert.equal(summary.samples, 100);
  assert.equal(summary.rate, 10);
  assert.deepEqual(summary.top.map(hotText), [
    'hot (Cell In[3], line 1): 70 %',
    'cool (/home/me/slow.py:4): 25 %',
    '<module> (Cell In[3], line 9): 5 %'
  ]);
  assert.deepEqual(summarize({ threads: 'x', frames: 7 }).top, []);
  assert.throws(() => parseProfileState({ state: 'gone' }), /not a profile/);
});

class FakeServer implements IProfileHost {
  id: string | null = 'kernel-1';
  readonly clock = new FakeClock();
  starts: IDeferred<IProfileStarted>[] = [];
  asks: IDeferred<ProfileState>[] = [];

  kernelId(): string | null {
    return this.id;
  }

  startProfile(): Promise<IProfileStarted> {
    const answer = deferred<IProfileStarted>();
    this.starts.push(answer);
    return answer.promise;
  }

  profileResult(): Promise<ProfileState> {
    const answer = deferred<ProfileState>();
    this.asks.push(answer);
    return answer.promise;
  }
}

test('a profile says how long it has left, then what took the time', async () => {
  const server = new FakeServer();
  let changes = 0;
  const run = new ProfileRun(server, () => changes++);
  void run.start(10);
  void run.start(10); // one at a time
  assert.equal(server.starts.length, 1);
  assert.match(run.text, /Starting a profile of the running cell for 10 s/);
  server.starts[0].resolve({ profileId: '4242-1', seconds: 10 });
  await settle();
  assert.match(run.text, /10 s left/);
  server.clock.advance(PROFILE_POLL_MS);
  server.asks[0].resolve({ state: 'running', secondsLeft: 4.2 });
  await settle();
  assert.match(run.text, /5 s left/);
  assert.equal(run.summary, null);
  server.clock.advance(PROFILE_POLL_MS);
  server.asks[1].resolve(
    parseProfileState({ state: 'done', profile: PROFILE })
  );
  await settle();
  assert.equal(run.running, false);
  const summary = run.summary as IProfileSummary | null; // narrowed to null above
  assert.equal(summary?.top[0].name, 'hot');
  assert.match(
    run.text,
    /100 samples of the cell at 10 Hz; its flame graph is under/
  );
  assert.equal(server.clock.pending, 0, 'no more questions');
  assert.ok(changes >= 4);
});

test('a refusal is said in one line, and a cancelled run asks nothing more', async () => {
  const server = new FakeServer();
  const run = new ProfileRun(server, () => undefined);
  void run.start();
  server.starts[0].reject({ status: 409, message: 'No cell is running.' });
  await settle();
  assert.equal(run.text, 'No profile: No cell is running.');
  assert.equal(run.running, false);
  void run.start();
  server.starts[1].resolve({ profileId: '4242-2', seconds: 10 });
  await settle();
  run.cancel();
  assert.equal(server.clock.pending, 0);
  assert.equal(run.text, '');
  server.id = null;
  void run.start();
  assert.equal(run.text, 'No kernel to profile.');
});
