// stctl, the command line of Session Tunnels: runCli is the whole program; apps/cli only wires it.
export { runCli, buildProgram } from './cli-program';
export type { CliIo, CliWritable } from './command-context';
export { ControlPlaneClient, DEFAULT_SERVER, DEFAULT_DEADLINE_MS, resolveAddress, resolveCredential } from './control-plane-client';
export type { ControlPlaneClientOptions, Role } from './control-plane-client';
export { CliError, EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_UNAVAILABLE } from './exit-codes';
export { CLI_VERSION } from './version';
