/**
 * Calls to the ipysigtrace server extension. They never touch the kernel's
 * shell channel, so they work while a cell hangs.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  defaultErrorMessage,
  dumpBody,
  IDumpOptions,
  IDumpReply,
  parseDumpReply
} from './model';
import {
  IProfileStarted,
  ProfileState,
  parseProfileStarted,
  parseProfileState
} from './profiler';

/** The server extension's URL prefix, below the server's base URL. */
export const API_PATH = 'ipysigtrace/api/kernels';

/** A failed request: `status` is the HTTP status, 0 for a network error. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Read the `message` of a JSON error body, or null. */
async function serverMessage(response: Response): Promise<string | null> {
  try {
    const body = JSON.parse(await response.text());
    if (body && typeof body.message === 'string' && body.message) {
      return body.message;
    }
  } catch {
    // Not JSON: the route may not exist at all.
  }
  return null;
}

/**
 * Call an endpoint of a kernel: its JSON answer, or an `ApiError` with the
 * server's message (else one for the status).
 */
async function call(
  settings: ServerConnection.ISettings,
  path: string[],
  init: RequestInit
): Promise<unknown> {
  const url = URLExt.join(
    settings.baseUrl,
    API_PATH,
    ...path.map(part => encodeURIComponent(part))
  );
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ApiError(
      0,
      `Could not reach the Jupyter server: ${(error as Error).message ?? error}`
    );
  }
  if (!response.ok) {
    const message = await serverMessage(response);
    throw new ApiError(
      response.status,
      message ?? defaultErrorMessage(response.status)
    );
  }
  try {
    return await response.json();
  } catch {
    throw new ApiError(
      response.status,
      'The server answered with invalid JSON.'
    );
  }
}

/**
 * Ask the server for a snapshot of every thread's stack of a kernel.
 *
 * Resolves with the reply; rejects with an `ApiError`.
 */
export async function requestDump(
  kernelId: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings(),
  options: IDumpOptions = {}
): Promise<IDumpReply> {
  const data = await call(settings, [kernelId, 'dump'], {
    method: 'POST',
    body: dumpBody(options)
  });
  try {
    return parseDumpReply(data);
  } catch (error) {
    throw new ApiError(200, (error as Error).message);
  }
}

/** Start profiling the cell the kernel runs now, for `seconds`. */
export async function requestProfile(
  kernelId: string,
  seconds: number,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<IProfileStarted> {
  const data = await call(settings, [kernelId, 'profile'], {
    method: 'POST',
    body: JSON.stringify({ seconds })
  });
  return parseProfileStarted(data);
}

/** Where a profile stands: running, or done with its summary. */
export async function requestProfileResult(
  kernelId: string,
  profileId: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<ProfileState> {
  const data = await call(settings, [kernelId, 'profile', profileId], {
    method: 'GET'
  });
  return parseProfileState(data);
}
