import * as grpc from '@grpc/grpc-js';
import { bearerFromMetadata } from '@st/grpc-kit';
import {
  ProviderChange,
  ProviderDiscoveryServiceService,
  SessionServiceService,
  SessionStatus,
  TunnelManagerServiceService,
  TunnelStatus,
  UsageServiceService,
  UserServiceService,
  type GetUsageRequest,
  type Provider,
  type ProviderDiscoveryServiceServer,
  type Session,
  type SessionServiceServer,
  type Tunnel,
  type TunnelManagerServiceServer,
  type UsageRow,
  type UsageServiceServer,
  type User,
  type UserServiceServer,
  type WatchProvidersResponse,
} from '@st/proto';

// An in-memory stand-in for st-server's management and discovery services, for driving stctl
// in-process over real gRPC. It keeps the contract that matters to the CLI (ownership answers
// NOT_FOUND, admin token vs API keys, statuses, the watch's ADDED…SYNCED…changes order) and
// records every call with the bearer it carried. Test support only: not exported by the library.

/** One call as the fake saw it. */
export interface RecordedCall {
  method: string;
  request: unknown;
  /** The bearer secret of the call's `authorization` metadata, if any. */
  bearer: string | undefined;
}

interface OwnedSession {
  owner: string;
  session: Session;
}

interface OwnedTunnel {
  owner: string;
  tunnel: Tunnel;
  agentToken: string;
  upstreamApiKey: string;
  /** Stopped by its session's stop: the session's restart starts it again. */
  stoppedBySession?: boolean;
}

type ServiceErrorLike = Partial<grpc.StatusObject> & { code: grpc.status };

const fail = (code: grpc.status, details: string): ServiceErrorLike => ({ code, details, metadata: new grpc.Metadata() });

export class FakeControlPlane {
  readonly calls: RecordedCall[] = [];
  readonly users = new Map<string, User>();
  /** API key → user id. */
  readonly apiKeys = new Map<string, string>();
  readonly sessions = new Map<string, OwnedSession>();
  readonly tunnels = new Map<string, OwnedTunnel>();
  /** What GetUsage answers (already summed: grouping and since are the server's job, recorded in calls). */
  readonly usageRows: UsageRow[] = [];
  private readonly watchers = new Set<{ owner: string; call: grpc.ServerWritableStream<unknown, WatchProvidersResponse> }>();
  private readonly server = new grpc.Server();
  private nextId = 1;
  private clock = Date.parse('2025-01-02T03:04:05.000Z');
  port = 0;

  constructor(readonly adminToken: string) {
    this.server.addService(UserServiceService, this.userService());
    this.server.addService(SessionServiceService, this.sessionService());
    this.server.addService(TunnelManagerServiceService, this.tunnelService());
    this.server.addService(ProviderDiscoveryServiceService, this.discoveryService());
    this.server.addService(UsageServiceService, this.usageService());
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async listen(): Promise<string> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    return this.address;
  }

  /** Drops every connection at once, as a crashed server would. */
  kill(): void {
    this.server.forceShutdown();
  }

  /** Ends every watch stream with OK, as a server shutting down gracefully might. */
  endWatches(): void {
    for (const w of this.watchers) w.call.end();
    this.watchers.clear();
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** A user with an API key, made directly (no admin call recorded). */
  addUser(name: string): { user: User; apiKey: string } {
    const user: User = { id: this.id('u'), name, createTime: this.now() };
    this.users.set(user.id, user);
    const apiKey = this.mintKey(user.id);
    return { user, apiKey };
  }

  /** Calls of one method, in order. */
  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  private id(prefix: string): string {
    return `${prefix}-${String(this.nextId++).padStart(4, '0')}`;
  }

  private now(): Date {
    this.clock += 1000;
    return new Date(this.clock);
  }

  private mintKey(userId: string): string {
    const key = `st_key_${userId}_${this.nextId++}`;
    this.apiKeys.set(key, userId);
    return key;
  }

  private record(method: string, call: { request: unknown; metadata: grpc.Metadata }): string | undefined {
    const bearer = bearerFromMetadata(call.metadata);
    this.calls.push({ method, request: call.request, bearer });
    return bearer;
  }

  /** A unary handler for the admin API: checks the admin token, maps thrown errors to statuses. */
  private admin<Req, Res>(method: string, body: (req: Req) => Res): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const bearer = this.record(method, call);
      if (bearer !== this.adminToken) return callback(fail(grpc.status.UNAUTHENTICATED, 'the admin token is missing or wrong'));
      try {
        callback(null, body(call.request));
      } catch (err) {
        callback(err as ServiceErrorLike);
      }
    };
  }

  /** A unary handler for a user's API: resolves the API key to its user. */
  private user<Req, Res>(method: string, body: (owner: string, req: Req) => Res): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const bearer = this.record(method, call);
      const owner = bearer === undefined ? undefined : this.apiKeys.get(bearer);
      if (!owner) return callback(fail(grpc.status.UNAUTHENTICATED, 'the API key is missing, unknown or revoked'));
      try {
        callback(null, body(owner, call.request));
      } catch (err) {
        callback(err as ServiceErrorLike);
      }
    };
  }

  private userService(): UserServiceServer {
    return {
      createUser: this.admin('CreateUser', (req: { name: string }) => {
        if (!/^[A-Za-z0-9._-]{1,64}$/.test(req.name)) throw fail(grpc.status.INVALID_ARGUMENT, `invalid user name "${req.name}"`);
        if ([...this.users.values()].some((u) => u.name === req.name)) throw fail(grpc.status.ALREADY_EXISTS, `user "${req.name}" already exists`);
        const { user, apiKey } = this.addUser(req.name);
        return { user, apiKey };
      }),
      listUsers: this.admin('ListUsers', () => ({ users: [...this.users.values()] })),
      createApiKey: this.admin('CreateApiKey', (req: { userId: string }) => {
        if (!this.users.has(req.userId)) throw fail(grpc.status.NOT_FOUND, `user ${req.userId} not found`);
        return { apiKey: this.mintKey(req.userId) };
      }),
      revokeApiKeys: this.admin('RevokeApiKeys', (req: { userId: string }) => {
        if (!this.users.has(req.userId)) throw fail(grpc.status.NOT_FOUND, `user ${req.userId} not found`);
        let revoked = 0;
        for (const [key, owner] of this.apiKeys) {
          if (owner === req.userId) {
            this.apiKeys.delete(key);
            revoked += 1;
          }
        }
        return { revoked };
      }),
    };
  }

  private ownSession(owner: string, id: string): Session {
    const found = this.sessions.get(id);
    if (!found || found.owner !== owner) throw fail(grpc.status.NOT_FOUND, `session ${id} not found`);
    return found.session;
  }

  private ownTunnel(owner: string, id: string): OwnedTunnel {
    const found = this.tunnels.get(id);
    if (!found || found.owner !== owner) throw fail(grpc.status.NOT_FOUND, `tunnel ${id} not found`);
    return found;
  }

  private sessionService(): SessionServiceServer {
    return {
      startSession: this.user('StartSession', (owner, req: { name: string }) => {
        if (req.name === '') throw fail(grpc.status.INVALID_ARGUMENT, 'a session needs a name');
        const time = this.now();
        const session: Session = { id: this.id('s'), name: req.name, status: SessionStatus.SESSION_STATUS_RUNNING, createTime: time, updateTime: time };
        this.sessions.set(session.id, { owner, session });
        return { session };
      }),
      restartSession: this.user('RestartSession', (owner, req: { id: string }) => {
        const session = this.ownSession(owner, req.id);
        session.status = SessionStatus.SESSION_STATUS_RUNNING;
        session.updateTime = this.now();
        const restartedTunnelIds: string[] = [];
        for (const t of this.tunnels.values()) {
          if (t.tunnel.sessionId === session.id && t.stoppedBySession) {
            t.stoppedBySession = false;
            t.tunnel.status = TunnelStatus.TUNNEL_STATUS_WAITING;
            restartedTunnelIds.push(t.tunnel.id);
            this.notify(t, ProviderChange.PROVIDER_CHANGE_UPDATED);
          }
        }
        return { session, restartedTunnelIds };
      }),
      stopSession: this.user('StopSession', (owner, req: { id: string }) => {
        const session = this.ownSession(owner, req.id);
        session.status = SessionStatus.SESSION_STATUS_STOPPED;
        session.updateTime = this.now();
        for (const t of this.tunnels.values()) {
          if (t.tunnel.sessionId === session.id && t.tunnel.status !== TunnelStatus.TUNNEL_STATUS_STOPPED) {
            t.tunnel.status = TunnelStatus.TUNNEL_STATUS_STOPPED;
            t.stoppedBySession = true;
            this.notify(t, ProviderChange.PROVIDER_CHANGE_UPDATED);
          }
        }
        return { session };
      }),
      getSession: this.user('GetSession', (owner, req: { id: string }) => ({ session: this.ownSession(owner, req.id) })),
      listSessions: this.user('ListSessions', (owner) => ({
        sessions: [...this.sessions.values()].filter((s) => s.owner === owner).map((s) => s.session),
      })),
    };
  }

  private tunnelService(): TunnelManagerServiceServer {
    return {
      createTunnel: this.user(
        'CreateTunnel',
        (owner, req: { sessionId: string; name: string; remotePort: number; remoteHost: string; openai: boolean; upstreamApiKey: string }) => {
          const session = this.ownSession(owner, req.sessionId);
          if (session.status !== SessionStatus.SESSION_STATUS_RUNNING) throw fail(grpc.status.FAILED_PRECONDITION, `session ${session.id} is stopped: restart it first`);
          const port = req.remotePort || 8000;
          const name = req.name || `${session.name}-${port}`;
          if ([...this.tunnels.values()].some((t) => t.owner === owner && t.tunnel.name === name)) {
            throw fail(grpc.status.ALREADY_EXISTS, `a tunnel named "${name}" already exists`);
          }
          const id = this.id('t');
          const tunnel: Tunnel = {
            id,
            name,
            sessionId: session.id,
            sessionName: session.name,
            remoteHost: req.remoteHost || 'localhost',
            remotePort: port,
            openai: req.openai,
            status: TunnelStatus.TUNNEL_STATUS_WAITING,
            hasUpstreamApiKey: req.upstreamApiKey !== '',
            healthy: false,
            lastHealthCheck: undefined,
            models: [],
            baseUrl: `http://gateway.test/t/${id}${req.openai ? '/v1' : ''}`,
            createTime: this.now(),
            connections: [],
          };
          const owned: OwnedTunnel = { owner, tunnel, agentToken: `st_agent_${id}`, upstreamApiKey: req.upstreamApiKey };
          this.tunnels.set(id, owned);
          this.notify(owned, ProviderChange.PROVIDER_CHANGE_ADDED);
          return { tunnel, agentToken: owned.agentToken };
        },
      ),
      getTunnel: this.user('GetTunnel', (owner, req: { id: string }) => ({ tunnel: this.ownTunnel(owner, req.id).tunnel })),
      listTunnels: this.user('ListTunnels', (owner, req: { sessionId: string }) => ({
        tunnels: [...this.tunnels.values()]
          .filter((t) => t.owner === owner && (req.sessionId === '' || t.tunnel.sessionId === req.sessionId))
          .map((t) => t.tunnel),
      })),
      startTunnel: this.user('StartTunnel', (owner, req: { id: string }) => {
        const owned = this.ownTunnel(owner, req.id);
        const session = this.ownSession(owner, owned.tunnel.sessionId);
        if (session.status !== SessionStatus.SESSION_STATUS_RUNNING) throw fail(grpc.status.FAILED_PRECONDITION, `session ${session.id} is stopped: restart it first`);
        owned.tunnel.status = TunnelStatus.TUNNEL_STATUS_WAITING;
        owned.stoppedBySession = false;
        this.notify(owned, ProviderChange.PROVIDER_CHANGE_UPDATED);
        return { tunnel: owned.tunnel };
      }),
      stopTunnel: this.user('StopTunnel', (owner, req: { id: string }) => {
        const owned = this.ownTunnel(owner, req.id);
        owned.stoppedBySession = false;
        owned.tunnel.status = TunnelStatus.TUNNEL_STATUS_STOPPED;
        this.notify(owned, ProviderChange.PROVIDER_CHANGE_UPDATED);
        return { tunnel: owned.tunnel };
      }),
      rotateTunnelToken: this.user('RotateTunnelToken', (owner, req: { id: string }) => {
        const owned = this.ownTunnel(owner, req.id);
        owned.agentToken = `st_agent_${owned.tunnel.id}_${this.nextId++}`;
        return { tunnel: owned.tunnel, agentToken: owned.agentToken };
      }),
      deleteTunnel: this.user('DeleteTunnel', (owner, req: { id: string }) => {
        const owned = this.ownTunnel(owner, req.id);
        this.tunnels.delete(req.id);
        this.notify(owned, ProviderChange.PROVIDER_CHANGE_REMOVED);
        return {};
      }),
    };
  }

  private providersOf(owner: string): Provider[] {
    return [...this.tunnels.values()]
      .filter((t) => t.owner === owner && t.tunnel.openai)
      .map((t) => toProvider(t.tunnel))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  private discoveryService(): ProviderDiscoveryServiceServer {
    return {
      listProviders: this.user('ListProviders', (owner) => ({ providers: this.providersOf(owner) })),
      watchProviders: (call) => {
        const bearer = this.record('WatchProviders', call);
        const owner = bearer === undefined ? undefined : this.apiKeys.get(bearer);
        if (!owner) {
          call.emit('error', fail(grpc.status.UNAUTHENTICATED, 'the API key is missing, unknown or revoked'));
          return;
        }
        for (const provider of this.providersOf(owner)) call.write({ change: ProviderChange.PROVIDER_CHANGE_ADDED, provider });
        call.write({ change: ProviderChange.PROVIDER_CHANGE_SYNCED, provider: undefined });
        const watcher = { owner, call };
        this.watchers.add(watcher);
        call.on('cancelled', () => this.watchers.delete(watcher));
      },
    };
  }

  /** A user sees its own rows (user id cleared); the admin everyone's, only with allUsers. */
  private usageService(): UsageServiceServer {
    return {
      getUsage: (call: grpc.ServerUnaryCall<GetUsageRequest, unknown>, callback: grpc.sendUnaryData<{ usage: UsageRow[] }>) => {
        const bearer = this.record('GetUsage', call);
        const allUsers = call.request.allUsers;
        if (bearer === this.adminToken) {
          if (!allUsers) return callback(fail(grpc.status.PERMISSION_DENIED, 'the admin token has no usage of its own: ask for every user\'s (all_users)'));
          return callback(null, { usage: this.usageRows });
        }
        const owner = bearer === undefined ? undefined : this.apiKeys.get(bearer);
        if (!owner) return callback(fail(grpc.status.UNAUTHENTICATED, 'the API key is missing, unknown or revoked'));
        if (allUsers) return callback(fail(grpc.status.PERMISSION_DENIED, "every user's usage is the admin's to see: use the admin token"));
        callback(null, { usage: this.usageRows.filter((r) => r.userId === owner).map((r) => ({ ...r, userId: '' })) });
      },
    };
  }

  private notify(owned: OwnedTunnel, change: ProviderChange): void {
    if (!owned.tunnel.openai) return;
    for (const w of this.watchers) {
      if (w.owner === owned.owner) w.call.write({ change, provider: toProvider(owned.tunnel) });
    }
  }
}

function toProvider(tunnel: Tunnel): Provider {
  return {
    id: tunnel.id,
    name: tunnel.name,
    type: 'openai-tunnel',
    status: tunnel.status,
    healthy: tunnel.healthy,
    lastHealthCheck: tunnel.lastHealthCheck,
    models: [...tunnel.models],
    baseUrl: tunnel.baseUrl,
    sessionId: tunnel.sessionId,
    sessionName: tunnel.sessionName,
    connections: tunnel.connections,
  };
}
