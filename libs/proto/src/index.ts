// The generated contracts, re-exported under one name. Everything here comes from proto/ via
// `nx run proto:generate`; edit the .proto files, never the generated code.
export * from './gen/ts-proto/sessiontunnel/v1/tunnel';
export * from './gen/ts-proto/sessiontunnel/v1/relay';
export * from './gen/ts-proto/sessiontunnel/v1/resources';
export * from './gen/ts-proto/sessiontunnel/v1/discovery';
export * from './gen/ts-proto/sessiontunnel/v1/management';
export * from './gen/ts-proto/sessiontunnel/v1/usage';
export { descriptorSetBase64 } from './gen/descriptor-set';
