import type { Exchange, ExchangeOpener, ExchangeRequestHead, ExchangeSink, ExchangeTarget } from '@st/broker';
import type { Logger } from '@st/logging';
import type { Tunnel } from '@st/store';
import { MeteredExchange } from './metered-exchange';
import type { UsageRecorder } from './usage-recorder';
import { type CheckedModel, isMeteredRoute, usageRequestOf } from './usage-request';

/**
 * Opens a request's exchange, metered when usage accounting is on and the request is an OpenAI
 * tunnel's (or /v1's) chat completion, completion or embedding with its JSON body read whole;
 * everything else opens exactly as before, at no cost. `body` is that read body, if any, and
 * `checked` the model its check found (when the body is the checked one, not a rewrite).
 */
export function openExchange(
  opener: ExchangeOpener,
  usage: UsageRecorder | undefined,
  logger: Logger,
  tunnel: Tunnel,
  body: Buffer | undefined,
  target: ExchangeTarget,
  head: ExchangeRequestHead,
  sink: ExchangeSink,
  checked?: CheckedModel,
): Exchange {
  if (!usage || !tunnel.openai || body === undefined || !isMeteredRoute(head.method, head.path)) return opener.open(target, head, sink);
  return MeteredExchange.open(opener, target, head, sink, {
    recorder: usage,
    logger,
    userId: target.userId,
    tunnelId: tunnel.id,
    tunnelName: tunnel.name,
    request: usageRequestOf(head.path, body, checked),
  });
}
