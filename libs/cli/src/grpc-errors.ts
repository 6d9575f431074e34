import { status, type ServiceError } from '@grpc/grpc-js';
import { CliError, EXIT_AUTH, EXIT_ERROR, EXIT_NOT_FOUND, EXIT_UNAVAILABLE } from './exit-codes';

/** What a failed call was about, so its message can say what to check. */
export interface CallContext {
  /** The control plane address dialled (`host:port`). */
  address: string;
  /** The variable the credential came from. */
  credentialEnv: 'ST_API_KEY' | 'ST_ADMIN_TOKEN';
}

/** True for the errors grpc-js calls fail with (a numeric `code` plus `details`). */
export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && 'details' in err;
}

/** The exit code of a gRPC status. */
export function exitCodeForStatus(code: status): number {
  switch (code) {
    case status.NOT_FOUND:
      return EXIT_NOT_FOUND;
    case status.UNAUTHENTICATED:
    case status.PERMISSION_DENIED:
      return EXIT_AUTH;
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
      return EXIT_UNAVAILABLE;
    default:
      return EXIT_ERROR;
  }
}

const CREDENTIAL_WHAT: Record<CallContext['credentialEnv'], string> = {
  ST_API_KEY: 'your API key (st_key_…)',
  ST_ADMIN_TOKEN: 'the admin token',
};

/** The server's own words, or a fallback when it sent none. */
function detailsOf(err: ServiceError, fallback: string): string {
  const details = (err.details ?? '').trim();
  return details === '' ? fallback : details;
}

/** A gRPC failure as the message stctl prints and the code it exits with. */
export function cliErrorFromGrpc(err: ServiceError, context: CallContext): CliError {
  const code = err.code as status;
  const exitCode = exitCodeForStatus(code);
  switch (code) {
    case status.NOT_FOUND:
      return new CliError(exitCode, detailsOf(err, 'not found'));
    case status.UNAUTHENTICATED:
    case status.PERMISSION_DENIED:
      return new CliError(
        exitCode,
        `${detailsOf(err, 'not authenticated')} (this command sends ${context.credentialEnv}, ${CREDENTIAL_WHAT[context.credentialEnv]}; set ST_API_KEY / ST_ADMIN_TOKEN)`,
      );
    case status.UNAVAILABLE:
      return new CliError(exitCode, `cannot reach the control plane at ${context.address}: is st-server running? (ST_SERVER)`);
    case status.DEADLINE_EXCEEDED:
      return new CliError(exitCode, `the control plane at ${context.address} did not answer in time: is st-server running and healthy? (ST_SERVER)`);
    case status.UNIMPLEMENTED:
      return new CliError(exitCode, `the server at ${context.address} does not implement this call (${detailsOf(err, 'unimplemented')}): is ST_SERVER an st-server with the management API?`);
    default:
      return new CliError(exitCode, detailsOf(err, `request failed (${status[code] ?? code})`));
  }
}

/** Any failure of a command as a {@link CliError}; programming errors keep their message. */
export function toCliError(err: unknown, context: CallContext | undefined): CliError {
  if (err instanceof CliError) return err;
  if (isServiceError(err) && context) return cliErrorFromGrpc(err, context);
  if (err instanceof Error) return new CliError(EXIT_ERROR, err.message);
  return new CliError(EXIT_ERROR, String(err));
}

export { usageError } from './exit-codes';
