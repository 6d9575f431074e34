// What commands print, in one module that their handlers import when they run: it pulls in the
// generated protos (and through them grpc-js), which `stctl --help` must not wait for.
export * from './json-output';
export * from './table-output';
