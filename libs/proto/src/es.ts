// protobuf-es types and service descriptors (protoc-gen-es), for the Connect faces.
export * from './gen/es/sessiontunnel/v1/resources_pb';
export * from './gen/es/sessiontunnel/v1/discovery_pb';
export * from './gen/es/sessiontunnel/v1/management_pb';
export * from './gen/es/sessiontunnel/v1/usage_pb';
