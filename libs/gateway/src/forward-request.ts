import type { Tunnel, User } from '@st/store';
import type { MeteredRequest } from './gateway-meter';
import type { JsonObjectScanner } from './json-object-scanner';
import type { CheckedModel } from './usage-request';

/** One request on its way to a tunnel, after authentication and the tunnel lookup. */
export interface ForwardRequest {
  tunnel: Tunnel;
  user: User;
  requestId: string;
  path: string;
  query: string;
  /** The whole body when it was read (JSON), or undefined to stream it from `req`. */
  body: Buffer | undefined;
  /** True when the request already holds its place in the limits (taken before its body was read). */
  admitted?: boolean;
  /** The top-level "model" the check of `body` found (usage accounting reads it, usage-request.ts). */
  checkedModel?: CheckedModel;
  /** The metrics' handle of the request (gateway-meter.ts). */
  metered?: MeteredRequest;
}

/** A JSON body read and checked, with where its top-level "model" is. */
export interface JsonBody {
  body: Buffer;
  scanner: JsonObjectScanner;
}
