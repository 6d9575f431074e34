/** stctl's exit codes: scripts branch on them, so they never change meaning. */
export const EXIT_OK = 0;
/** Anything else: the server refused the request (invalid argument, already exists, …). */
export const EXIT_ERROR = 1;
/** The command line itself is wrong: unknown command or option, bad value, unreadable file. */
export const EXIT_USAGE = 2;
/** No credentials, or the server refused them (UNAUTHENTICATED, PERMISSION_DENIED). */
export const EXIT_AUTH = 3;
/** The id does not exist, or belongs to another user (the server cannot tell them apart). */
export const EXIT_NOT_FOUND = 4;
/** The control plane cannot be reached, did not answer in time, or went away during a watch. */
export const EXIT_UNAVAILABLE = 5;

/** A wrong command line (bad flag value, unreadable file): exit code 2. */
export function usageError(message: string): CliError {
  return new CliError(EXIT_USAGE, message);
}

/** A failure with its message for stderr and its exit code. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
