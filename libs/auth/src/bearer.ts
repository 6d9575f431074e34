// One parser of bearer credentials for HTTP and gRPC alike, kept in grpc-kit (shared with the agent).
export { bearerSecret } from '@st/grpc-kit';
