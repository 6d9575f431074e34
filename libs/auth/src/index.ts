export { bearerSecret } from './bearer';
export { AdminToken, ADMIN_TOKEN_PREFIX } from './admin-token';
export { authenticateCaller, CallerAuthError } from './caller';
export type { Caller, AuthDeps } from './caller';
export { GrpcStatusError, requireAdmin, requireUser } from './grpc-caller';
