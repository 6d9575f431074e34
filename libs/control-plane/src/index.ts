export { ControlPlane } from './control-plane';
export { loadServerConfig, SERVER_SETTINGS, ROLES } from './server-config';
export type { ServerConfig, Role } from './server-config';
export { prepareDemo } from './demo-bootstrap';
export type { DemoCredentials } from './demo-bootstrap';
export { loadOrCreateServiceToken } from './service-token';
export { runServer } from './run-server';
