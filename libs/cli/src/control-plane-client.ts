import { credentials, type CallOptions, type Client, type ClientReadableStream, type ClientUnaryCall, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { bearerMetadata, CLIENT_KEEPALIVE_OPTIONS, MESSAGE_SIZE_OPTIONS } from '@st/grpc-kit';
import {
  ProviderDiscoveryServiceClient,
  SessionServiceClient,
  TunnelManagerServiceClient,
  UsageServiceClient,
  UserServiceClient,
  type CreateApiKeyResponse,
  type GetUsageRequest,
  type GetUsageResponse,
  type CreateTunnelRequest,
  type CreateTunnelResponse,
  type CreateUserResponse,
  type DeleteTunnelResponse,
  type GetSessionResponse,
  type GetTunnelResponse,
  type ListProvidersResponse,
  type ListSessionsResponse,
  type ListTunnelsResponse,
  type ListUsersResponse,
  type RestartSessionResponse,
  type RevokeApiKeysResponse,
  type RotateTunnelTokenResponse,
  type Session,
  type StartSessionResponse,
  type StartTunnelResponse,
  type StopSessionResponse,
  type StopTunnelResponse,
  type Tunnel,
  type User,
  type WatchProvidersResponse,
} from '@st/proto';
import { CliError, EXIT_AUTH, EXIT_ERROR } from './exit-codes';
import type { CallContext } from './grpc-errors';
import { usageError } from './grpc-errors';
import { DEFAULT_SERVER } from './default-server';

export { DEFAULT_SERVER } from './default-server';
/** Every unary call gets this deadline: a hung server must not hang a script. */
export const DEFAULT_DEADLINE_MS = 15_000;

/** Whose credential a command sends: the user's API key, or the admin token (users commands). */
export type Role = 'user' | 'admin';

export type CliEnv = Readonly<Record<string, string | undefined>>;

/**
 * The control plane's gRPC address as `host:port`, from --server, else ST_SERVER, else the
 * default. `http://host:port` is accepted (the form agents use); TLS is not supported.
 */
export function resolveAddress(flag: string | undefined, env: CliEnv): string {
  const fromFlag = flag !== undefined;
  const raw = (fromFlag ? flag : env.ST_SERVER)?.trim() || DEFAULT_SERVER;
  const source = fromFlag ? '--server' : 'ST_SERVER';
  let address = raw;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw);
  if (scheme) {
    if (scheme[1].toLowerCase() !== 'http') {
      throw usageError(`${source}=${raw}: stctl speaks plaintext gRPC; give host:port (or http://host:port)`);
    }
    address = raw.slice(scheme[0].length).replace(/\/+$/, '');
  }
  if (!/^(\[[0-9a-f:.]+\]|[^\s/:[\]]+)(:\d{1,5})?$/i.test(address)) {
    throw usageError(`${source}=${raw} is not a gRPC address: give host:port, for example ${DEFAULT_SERVER}`);
  }
  return /:\d{1,5}$/.test(address) ? address : `${address}:50051`;
}

/** The credential a role sends, and the variable it came from; exit 3 when it is not set. */
export function resolveCredential(role: Role, env: CliEnv): { secret: string; context: CallContext['credentialEnv'] } {
  if (role === 'admin') {
    const secret = env.ST_ADMIN_TOKEN?.trim();
    if (!secret) throw new CliError(EXIT_AUTH, 'no admin token: set ST_ADMIN_TOKEN to the admin token st-server was started with');
    return { secret, context: 'ST_ADMIN_TOKEN' };
  }
  const secret = env.ST_API_KEY?.trim();
  if (!secret) throw new CliError(EXIT_AUTH, 'no API key: set ST_API_KEY to your API key (an admin creates one with `stctl users create NAME`)');
  return { secret, context: 'ST_API_KEY' };
}

type UnaryStart<Res> = (metadata: Metadata, options: Partial<CallOptions>, callback: (err: ServiceError | null, res: Res) => void) => ClientUnaryCall;

export interface ControlPlaneClientOptions {
  address: string;
  /** Sent as `authorization: Bearer <secret>` on every call. */
  secret: string;
  deadlineMs?: number;
}

/**
 * The management and discovery services of one control plane, over plaintext gRPC, with one
 * credential. Unary calls are promises with a deadline; clients are made on first use and share
 * one channel.
 */
export class ControlPlaneClient {
  readonly address: string;
  private readonly secret: string;
  private readonly deadlineMs: number;
  private readonly clients = new Map<string, Client>();

  constructor(options: ControlPlaneClientOptions) {
    this.address = options.address;
    this.secret = options.secret;
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  }

  // --- UserService (admin token) ---

  async createUser(name: string): Promise<CreateUserResponse & { user: User }> {
    const res = await this.unary<CreateUserResponse>((md, o, cb) => this.users().createUser({ name }, md, o, cb));
    return { ...res, user: required(res.user, 'user') };
  }

  listUsers(): Promise<ListUsersResponse> {
    return this.unary((md, o, cb) => this.users().listUsers({}, md, o, cb));
  }

  createApiKey(userId: string): Promise<CreateApiKeyResponse> {
    return this.unary((md, o, cb) => this.users().createApiKey({ userId }, md, o, cb));
  }

  revokeApiKeys(userId: string): Promise<RevokeApiKeysResponse> {
    return this.unary((md, o, cb) => this.users().revokeApiKeys({ userId }, md, o, cb));
  }

  // --- SessionService (API key) ---

  async startSession(name: string): Promise<Session> {
    return required((await this.unary<StartSessionResponse>((md, o, cb) => this.sessions().startSession({ name }, md, o, cb))).session, 'session');
  }

  /** The session, and the ids of the tunnels started again with it. */
  async restartSession(id: string): Promise<RestartSessionResponse & { session: Session }> {
    const res = await this.unary<RestartSessionResponse>((md, o, cb) => this.sessions().restartSession({ id }, md, o, cb));
    return { ...res, session: required(res.session, 'session') };
  }

  async stopSession(id: string): Promise<Session> {
    return required((await this.unary<StopSessionResponse>((md, o, cb) => this.sessions().stopSession({ id }, md, o, cb))).session, 'session');
  }

  async getSession(id: string): Promise<Session> {
    return required((await this.unary<GetSessionResponse>((md, o, cb) => this.sessions().getSession({ id }, md, o, cb))).session, 'session');
  }

  listSessions(): Promise<ListSessionsResponse> {
    return this.unary((md, o, cb) => this.sessions().listSessions({}, md, o, cb));
  }

  // --- TunnelManagerService (API key) ---

  async createTunnel(request: CreateTunnelRequest): Promise<CreateTunnelResponse & { tunnel: Tunnel }> {
    const res = await this.unary<CreateTunnelResponse>((md, o, cb) => this.tunnels().createTunnel(request, md, o, cb));
    return { ...res, tunnel: required(res.tunnel, 'tunnel') };
  }

  async getTunnel(id: string): Promise<Tunnel> {
    return required((await this.unary<GetTunnelResponse>((md, o, cb) => this.tunnels().getTunnel({ id }, md, o, cb))).tunnel, 'tunnel');
  }

  listTunnels(sessionId = ''): Promise<ListTunnelsResponse> {
    return this.unary((md, o, cb) => this.tunnels().listTunnels({ sessionId }, md, o, cb));
  }

  async startTunnel(id: string): Promise<Tunnel> {
    return required((await this.unary<StartTunnelResponse>((md, o, cb) => this.tunnels().startTunnel({ id }, md, o, cb))).tunnel, 'tunnel');
  }

  async stopTunnel(id: string): Promise<Tunnel> {
    return required((await this.unary<StopTunnelResponse>((md, o, cb) => this.tunnels().stopTunnel({ id }, md, o, cb))).tunnel, 'tunnel');
  }

  async rotateTunnelToken(id: string): Promise<RotateTunnelTokenResponse & { tunnel: Tunnel }> {
    const res = await this.unary<RotateTunnelTokenResponse>((md, o, cb) => this.tunnels().rotateTunnelToken({ id }, md, o, cb));
    return { ...res, tunnel: required(res.tunnel, 'tunnel') };
  }

  async deleteTunnel(id: string): Promise<void> {
    await this.unary<DeleteTunnelResponse>((md, o, cb) => this.tunnels().deleteTunnel({ id }, md, o, cb));
  }

  // --- ProviderDiscoveryService (API key) ---

  listProviders(): Promise<ListProvidersResponse> {
    return this.unary((md, o, cb) => this.discovery().listProviders({}, md, o, cb));
  }

  /** The provider event stream; no deadline, it runs until cancelled or the server ends it. */
  watchProviders(): ClientReadableStream<WatchProvidersResponse> {
    return this.discovery().watchProviders({}, bearerMetadata(this.secret));
  }

  // --- UsageService (API key; the admin token with allUsers) ---

  getUsage(request: GetUsageRequest): Promise<GetUsageResponse> {
    return this.unary((md, o, cb) => this.usage().getUsage(request, md, o, cb));
  }

  /** Closes every channel: the process can then exit on its own. */
  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private unary<Res>(start: UnaryStart<Res>): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      start(bearerMetadata(this.secret), { deadline: Date.now() + this.deadlineMs }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  private users(): UserServiceClient {
    return this.client('users', UserServiceClient);
  }

  private sessions(): SessionServiceClient {
    return this.client('sessions', SessionServiceClient);
  }

  private tunnels(): TunnelManagerServiceClient {
    return this.client('tunnels', TunnelManagerServiceClient);
  }

  private discovery(): ProviderDiscoveryServiceClient {
    return this.client('discovery', ProviderDiscoveryServiceClient);
  }

  private usage(): UsageServiceClient {
    return this.client('usage', UsageServiceClient);
  }

  private client<C extends Client>(key: string, ctor: new (address: string, creds: ReturnType<typeof credentials.createInsecure>, options?: object) => C): C {
    const existing = this.clients.get(key);
    if (existing) return existing as C;
    const first = this.clients.values().next().value;
    const client = new ctor(this.address, credentials.createInsecure(), {
      ...CLIENT_KEEPALIVE_OPTIONS,
      ...MESSAGE_SIZE_OPTIONS,
      ...(first ? { channelOverride: first.getChannel() } : {}),
    });
    this.clients.set(key, client);
    return client;
  }
}

/** A response field proto3 makes optional but the API always sets. */
function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new CliError(EXIT_ERROR, `the server answered without a ${what}`);
  return value;
}
