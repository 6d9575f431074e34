import type * as grpc from '@grpc/grpc-js';
import { CLIENT_FLOW_CONTROL_OPTIONS, CLIENT_KEEPALIVE_OPTIONS, MESSAGE_SIZE_OPTIONS } from '@st/grpc-kit';
import type { Logger } from '@st/logging';
import { type BrokerTarget, brokerTarget } from './broker-credentials';
import type { explainDialFailure } from './http1-probe';
import { type ProxyDecision, channelProxyOptions, normaliseProxyEnv, resolveProxy } from './proxy-env';

/** One broker URL, ready to dial: target, TLS, proxy and channel options, decided once. */
export interface BrokerEndpoint {
  url: string;
  broker: BrokerTarget;
  channelOptions: grpc.ChannelOptions;
  /** Dialled through an HTTP proxy (grpc-js does the CONNECT; the light client does not). */
  proxied: boolean;
  /** What explainDialFailure needs to say why a dial failed. */
  dialContext: Parameters<typeof explainDialFailure>[1];
}

/**
 * Prepares a broker URL for dialling; throws BrokerTargetError for a URL or CA file that cannot
 * be used. Logs, once per URL, how it is reached (directly or through which proxy).
 */
export function prepareEndpoint(url: string, options: { caFile?: string; env?: NodeJS.ProcessEnv; logger: Logger }): BrokerEndpoint {
  const { logger, caFile } = options;
  const broker = brokerTarget(url, { caFile });
  if (caFile && !broker.tls) {
    logger.warn({ caFile, brokerUrl: url }, 'ST_BROKER_CA_FILE is set but the broker URL is http:// (plaintext): the CA file is not used; use https:// for TLS');
  }
  const proxy = decideProxy(broker, options.env ?? process.env, logger);
  const proxied = proxy.proxy !== undefined && proxy.bypassedBy === undefined;
  return {
    url,
    broker,
    proxied,
    dialContext: {
      ...broker,
      caFile,
      proxy: proxied ? { url: proxy.proxy!, variable: proxy.variable ?? 'https_proxy' } : undefined,
    },
    channelOptions: {
      ...CLIENT_KEEPALIVE_OPTIONS,
      ...MESSAGE_SIZE_OPTIONS,
      // Request bodies towards the agent over a long link: Node's 64 KiB would be one per round trip.
      ...CLIENT_FLOW_CONTROL_OPTIONS,
      ...channelProxyOptions(proxy),
      // One attempt per channel (see AgentSupervisor); the pacing between attempts is ours.
      'grpc.initial_reconnect_backoff_ms': 1000,
      'grpc.max_reconnect_backoff_ms': 1000,
    },
  };
}

/** Normalises the proxy variables (grpc-js reads process.env) and logs how the broker is reached. */
function decideProxy(broker: BrokerTarget, env: NodeJS.ProcessEnv, logger: Logger): ProxyDecision {
  const { copied, origin } = normaliseProxyEnv(env);
  const decision = resolveProxy(broker.host, env, origin);
  if (decision.problem) {
    logger.warn({ variable: decision.variable }, decision.problem);
  } else if (decision.bypassedBy !== undefined) {
    const noProxy = origin.no_grpc_proxy && env.no_grpc_proxy ? origin.no_grpc_proxy : (origin.no_proxy ?? 'no_proxy');
    logger.info(
      { proxy: decision.proxy, proxyVariable: decision.variable, noProxyEntry: decision.bypassedBy, broker: broker.address },
      `the broker is dialled directly: ${noProxy} matches ${broker.host}`,
    );
  } else if (decision.proxy) {
    logger.info(
      { proxy: decision.proxy, proxyVariable: decision.variable, proxyCredentials: decision.withCredentials, broker: broker.address, normalised: copied },
      `the broker is dialled through the HTTP proxy ${decision.proxy} (${decision.variable})`,
    );
  }
  return decision;
}
