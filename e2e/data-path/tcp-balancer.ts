import { type Server, type Socket, connect, createServer } from 'node:net';

/**
 * What agents outside a cluster dial (a Kubernetes Service in front of the brokers), in a few
 * lines: each connection goes to the first target that accepts it, so once a broker is gone its
 * agents' redials land on another one.
 */
export class TcpBalancer {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly targets: () => number[],
  ) {}

  /** `targets`: the brokers' ports, asked again for every connection, first choice first. */
  static async start(targets: () => number[]): Promise<TcpBalancer> {
    const server = createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
    const balancer = new TcpBalancer(server, port, targets);
    server.on('connection', (client) => balancer.accept(client));
    return balancer;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }

  private accept(client: Socket): void {
    this.track(client);
    client.pause();
    const ports = this.targets();
    const tryNext = (i: number) => {
      if (i >= ports.length || client.destroyed) return void client.destroy();
      const upstream = connect(ports[i], '127.0.0.1');
      // Before 'connect' an error means this target refused: the next one gets the connection.
      upstream.once('error', () => tryNext(i + 1));
      upstream.once('connect', () => {
        this.track(upstream);
        upstream.removeAllListeners('error');
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        upstream.once('close', () => client.destroy());
        client.once('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    tryNext(0);
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }
}
