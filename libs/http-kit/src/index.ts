export { HttpServerLifecycle, portInUse, type LastWords, type ListenOptions } from './http-server-lifecycle';
