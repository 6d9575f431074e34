import * as grpc from '@grpc/grpc-js';
import { bearerMetadata } from '@st/grpc-kit';
import {
  type CreateApiKeyResponse,
  type CreateTunnelRequest,
  type CreateTunnelResponse,
  type CreateUserResponse,
  type ListSessionsResponse,
  type ListTunnelsResponse,
  type ListUsersResponse,
  type Provider,
  ProviderDiscoveryServiceClient,
  type RestartSessionResponse,
  type RevokeApiKeysResponse,
  type RotateTunnelTokenResponse,
  type Session,
  SessionServiceClient,
  SessionStatus,
  type Tunnel,
  TunnelManagerServiceClient,
  TunnelStatus,
  UserServiceClient,
} from '@st/proto';

/** Deadline of every unary call made through {@link ControlPlaneApi}. */
const CALL_TIMEOUT_MS = 10_000;

/** A grpc-js unary method as ts-proto declares its fullest overload. */
type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

/** Calls a unary method as a promise, with `authorization: Bearer <secret>` when a secret is given. */
export function unaryCall<Req, Res>(client: grpc.Client, method: UnaryMethod<Req, Res>, request: Req, secret: string | undefined): Promise<Res> {
  const metadata = secret === undefined ? new grpc.Metadata() : bearerMetadata(secret);
  return new Promise<Res>((resolve, reject) => {
    method.call(client, request, metadata, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

/** What a caller may ask for in CreateTunnel; everything but the session has the API's defaults. */
export type CreateTunnelInput = Partial<CreateTunnelRequest> & { sessionId: string };

/**
 * The management and discovery API as one caller (the admin or a user) sees it, over the
 * generated grpc-js clients. Every method resolves to the response message or rejects with the
 * grpc-js ServiceError (see {@link grpcError}).
 */
export interface CallerApi {
  createUser(name: string): Promise<CreateUserResponse>;
  listUsers(): Promise<ListUsersResponse>;
  createApiKey(userId: string): Promise<CreateApiKeyResponse>;
  revokeApiKeys(userId: string): Promise<RevokeApiKeysResponse>;
  startSession(name: string): Promise<Session>;
  restartSession(id: string): Promise<Session>;
  /** RestartSession's whole answer: the session and the ids of the tunnels it started again. */
  restartSessionFully(id: string): Promise<RestartSessionResponse>;
  stopSession(id: string): Promise<Session>;
  getSession(id: string): Promise<Session>;
  listSessions(): Promise<ListSessionsResponse>;
  createTunnel(input: CreateTunnelInput): Promise<CreateTunnelResponse>;
  getTunnel(id: string): Promise<Tunnel>;
  listTunnels(sessionId?: string): Promise<ListTunnelsResponse>;
  startTunnel(id: string): Promise<Tunnel>;
  stopTunnel(id: string): Promise<Tunnel>;
  deleteTunnel(id: string): Promise<void>;
  rotateTunnelToken(id: string): Promise<RotateTunnelTokenResponse>;
  listProviders(): Promise<Provider[]>;
}

/**
 * Generated clients for every control-plane service on st-server's gRPC port. One channel per
 * client class; close() when done.
 */
export class ControlPlaneApi {
  readonly users: UserServiceClient;
  readonly sessions: SessionServiceClient;
  readonly tunnels: TunnelManagerServiceClient;
  readonly discovery: ProviderDiscoveryServiceClient;

  constructor(grpcPort: number, host = '127.0.0.1') {
    const address = `${host}:${grpcPort}`;
    const insecure = grpc.credentials.createInsecure();
    this.users = new UserServiceClient(address, insecure);
    this.sessions = new SessionServiceClient(address, insecure);
    this.tunnels = new TunnelManagerServiceClient(address, insecure);
    this.discovery = new ProviderDiscoveryServiceClient(address, insecure);
  }

  /** The API as the holder of `secret` (admin token or API key); undefined sends no credentials. */
  as(secret: string | undefined): CallerApi {
    const { users, sessions, tunnels, discovery } = this;
    const session = async (p: Promise<{ session: Session | undefined }>) => required((await p).session, 'session');
    const tunnel = async (p: Promise<{ tunnel: Tunnel | undefined }>) => required((await p).tunnel, 'tunnel');
    return {
      createUser: (name) => unaryCall(users, users.createUser, { name }, secret),
      listUsers: () => unaryCall(users, users.listUsers, {}, secret),
      createApiKey: (userId) => unaryCall(users, users.createApiKey, { userId }, secret),
      revokeApiKeys: (userId) => unaryCall(users, users.revokeApiKeys, { userId }, secret),
      startSession: (name) => session(unaryCall(sessions, sessions.startSession, { name }, secret)),
      restartSession: (id) => session(unaryCall(sessions, sessions.restartSession, { id }, secret)),
      restartSessionFully: (id) => unaryCall(sessions, sessions.restartSession, { id }, secret),
      stopSession: (id) => session(unaryCall(sessions, sessions.stopSession, { id }, secret)),
      getSession: (id) => session(unaryCall(sessions, sessions.getSession, { id }, secret)),
      listSessions: () => unaryCall(sessions, sessions.listSessions, {}, secret),
      createTunnel: (input) =>
        unaryCall(
          tunnels,
          tunnels.createTunnel,
          { name: '', remotePort: 0, remoteHost: '', openai: false, upstreamApiKey: '', ...input },
          secret,
        ),
      getTunnel: (id) => tunnel(unaryCall(tunnels, tunnels.getTunnel, { id }, secret)),
      listTunnels: (sessionId = '') => unaryCall(tunnels, tunnels.listTunnels, { sessionId }, secret),
      startTunnel: (id) => tunnel(unaryCall(tunnels, tunnels.startTunnel, { id }, secret)),
      stopTunnel: (id) => tunnel(unaryCall(tunnels, tunnels.stopTunnel, { id }, secret)),
      deleteTunnel: async (id) => {
        await unaryCall(tunnels, tunnels.deleteTunnel, { id }, secret);
      },
      rotateTunnelToken: (id) => unaryCall(tunnels, tunnels.rotateTunnelToken, { id }, secret),
      listProviders: async () => (await unaryCall(discovery, discovery.listProviders, {}, secret)).providers,
    };
  }

  close(): void {
    for (const client of [this.users, this.sessions, this.tunnels, this.discovery]) client.close();
  }
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the response carries no ${what}`);
  return value;
}

/** The ServiceError a call failed with; fails when the call succeeded. */
export async function grpcError(call: Promise<unknown>): Promise<grpc.ServiceError> {
  let response: unknown;
  try {
    response = await call;
  } catch (err) {
    if (err instanceof Error && typeof (err as grpc.ServiceError).code === 'number') return err as grpc.ServiceError;
    throw err;
  }
  throw new Error(`expected the call to fail, but it answered ${JSON.stringify(response)}`);
}

/** The name of a gRPC status code ("NOT_FOUND"), for readable assertions. */
export function statusName(code: grpc.status): string {
  return grpc.status[code] ?? String(code);
}

/** "running" | "waiting" | "stopped" | "unspecified", for readable assertions on both generators' enums. */
export type TunnelStatusName = 'running' | 'waiting' | 'stopped' | 'unspecified';

export function tunnelStatusName(status: number): TunnelStatusName {
  switch (status) {
    case TunnelStatus.TUNNEL_STATUS_RUNNING:
      return 'running';
    case TunnelStatus.TUNNEL_STATUS_WAITING:
      return 'waiting';
    case TunnelStatus.TUNNEL_STATUS_STOPPED:
      return 'stopped';
    default:
      return 'unspecified';
  }
}

export function sessionStatusName(status: number): 'running' | 'stopped' | 'unspecified' {
  if (status === SessionStatus.SESSION_STATUS_RUNNING) return 'running';
  if (status === SessionStatus.SESSION_STATUS_STOPPED) return 'stopped';
  return 'unspecified';
}
