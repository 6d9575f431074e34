export { Gateway } from './gateway-server';
export type { GatewayOptions } from './gateway-server';
export type { GatewayStore } from './caller-auth';
export { GatewayStoreCache } from './gateway-store-cache';
export { httpErrorFor } from './http-error-table';
export { openAIErrorBody } from './openai-error';
export type { OpenAIErrorBody } from './openai-error';
export { parseTunnelRoute } from './tunnel-route';
