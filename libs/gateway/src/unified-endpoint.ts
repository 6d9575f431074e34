import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Tunnel, User } from '@st/store';
import { TunnelError } from '@st/tunnel-protocol';
import type { GatewayRuntime, GatewayStore } from './caller-auth';
import type { ForwardRequest, JsonBody } from './forward-request';
import type { MeteredRequest } from './gateway-meter';
import { hasControlChars } from './gateway-server';
import { modelOf, withModel } from './model-rewrite';

export interface UnifiedEndpointOptions {
  store: GatewayStore;
  runtime: GatewayRuntime;
  /** Reads and validates a JSON body; answers the error itself and returns undefined on failure. */
  readJson(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<JsonBody | undefined>;
  forward(req: IncomingMessage, res: ServerResponse, forward: ForwardRequest): Promise<void>;
  reject(res: ServerResponse, requestId: string, error: TunnelError): void;
  stoppedError(tunnel: Tunnel): Promise<TunnelError | undefined>;
}

/**
 * `<public URL>/v1`: every running provider of the caller behind one OpenAI base URL. Models are
 * listed as `<provider name>/<model>`; a request naming such a model goes to that provider with
 * the model name unprefixed. One client configuration reaches every tunnel.
 */
export class UnifiedEndpoint {
  constructor(private readonly options: UnifiedEndpointOptions) {}

  async handle(req: IncomingMessage, res: ServerResponse, user: User, requestId: string, metered?: MeteredRequest): Promise<void> {
    const url = req.url ?? '/v1';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);
    if (req.method === 'GET' && (path === '/v1/models' || path === '/v1/models/')) return this.listModels(res, user, requestId);
    if (req.method !== 'POST') {
      return this.options.reject(
        res,
        requestId,
        new TunnelError('not_found', `${req.method} ${path} is not served on the unified endpoint: use the provider's own base URL /t/<tunnel id>/v1`),
      );
    }
    const json = await this.options.readJson(req, res, requestId);
    if (!json) return;
    // The model is found and replaced in the bytes: the body is never parsed whole or re-serialised.
    const found = modelOf(json.scanner);
    if (found instanceof TunnelError) return this.options.reject(res, requestId, found);
    const model = found?.name ?? '';
    const slash = model.indexOf('/');
    if (slash <= 0 || slash === model.length - 1) {
      return this.options.reject(
        res,
        requestId,
        new TunnelError('bad_request', `the model must be "<provider name>/<model>" on the unified endpoint, not ${JSON.stringify(model)}: GET /v1/models lists them`),
      );
    }
    const providerName = model.slice(0, slash);
    const tunnel = hasControlChars(providerName) ? null : await this.options.store.getTunnelByName(user.id, providerName);
    if (!tunnel || !tunnel.openai) {
      return this.options.reject(res, requestId, new TunnelError('not_found', `no provider named ${JSON.stringify(providerName)}: GET /v1/models lists yours`));
    }
    const stopped = await this.options.stoppedError(tunnel);
    if (stopped) return this.options.reject(res, requestId, stopped);
    await this.options.forward(req, res, {
      tunnel,
      user,
      requestId,
      path,
      query,
      body: withModel(json.body, found!.span, model.slice(slash + 1)),
      metered,
    });
  }

  private async listModels(res: ServerResponse, user: User, requestId: string): Promise<void> {
    const { runtime, store } = this.options;
    const data: { id: string; object: 'model'; created: number; owned_by: string }[] = [];
    for (const tunnel of await store.listTunnels(user.id)) {
      if (!tunnel.openai) continue;
      const live = await runtime.viewOf(tunnel.id);
      if (!live.connected || (await this.options.stoppedError(tunnel))) continue;
      const created = Math.floor(Date.parse(tunnel.createdAt) / 1000);
      for (const model of live.health?.models ?? []) {
        data.push({ id: `${tunnel.name}/${model}`, object: 'model', created, owned_by: tunnel.name });
      }
    }
    const text = JSON.stringify({ object: 'list', data });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-request-id': requestId });
    res.end(text);
  }
}
