export { createUserService } from './user-service';
export { createSessionService, sessionMessage } from './session-service';
export { createTunnelManagerService } from './tunnel-manager-service';
export type { ManagementDeps } from './management-deps';
