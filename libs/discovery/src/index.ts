export { ProviderDirectory } from './provider-directory';
export type { ProviderDirectoryOptions, ProviderEvent, ProviderWatch } from './provider-directory';
export { createDiscoveryGrpcService } from './discovery-grpc-service';
export { createDiscoveryConnectHandler, DISCOVERY_CONNECT_PREFIX } from './discovery-connect-routes';
export type { DiscoveryConnectOptions } from './discovery-connect-routes';
export { describeProvider, describeTunnel, sessionOf, tunnelBaseUrl, tunnelStatus } from './tunnel-view';
export { DiscoveryHttpServer } from './discovery-http-server';
export type { DiscoveryHttpServerOptions } from './discovery-http-server';
