import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CliError } from './exit-codes';
import { cliErrorFromGrpc, exitCodeForStatus, isServiceError, toCliError, type CallContext } from './grpc-errors';

function serviceError(code: status, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata: new Metadata() });
}

const user: CallContext = { address: '127.0.0.1:50051', credentialEnv: 'ST_API_KEY' };
const admin: CallContext = { address: 'cp:7000', credentialEnv: 'ST_ADMIN_TOKEN' };

describe('gRPC errors', () => {
  it('maps statuses to exit codes', () => {
    expect(exitCodeForStatus(status.NOT_FOUND)).toBe(4);
    expect(exitCodeForStatus(status.UNAUTHENTICATED)).toBe(3);
    expect(exitCodeForStatus(status.PERMISSION_DENIED)).toBe(3);
    expect(exitCodeForStatus(status.UNAVAILABLE)).toBe(5);
    expect(exitCodeForStatus(status.DEADLINE_EXCEEDED)).toBe(5);
    for (const other of [status.INVALID_ARGUMENT, status.ALREADY_EXISTS, status.FAILED_PRECONDITION, status.INTERNAL, status.UNIMPLEMENTED, status.CANCELLED]) {
      expect(exitCodeForStatus(other)).toBe(1);
    }
  });

  it("passes NOT_FOUND and other refusals on with the server's message", () => {
    expect(cliErrorFromGrpc(serviceError(status.NOT_FOUND, 'tunnel t-9 not found'), user)).toMatchObject({ exitCode: 4, message: 'tunnel t-9 not found' });
    expect(cliErrorFromGrpc(serviceError(status.NOT_FOUND, ''), user).message).toBe('not found');
    expect(cliErrorFromGrpc(serviceError(status.ALREADY_EXISTS, 'user "a" already exists'), admin)).toMatchObject({ exitCode: 1, message: 'user "a" already exists' });
    expect(cliErrorFromGrpc(serviceError(status.INTERNAL, ''), user).message).toBe('request failed (INTERNAL)');
  });

  it('says which variable to set when credentials are refused', () => {
    const refused = cliErrorFromGrpc(serviceError(status.UNAUTHENTICATED, 'invalid API key'), user);
    expect(refused.exitCode).toBe(3);
    expect(refused.message).toBe('invalid API key (this command sends ST_API_KEY, your API key (st_key_…); set ST_API_KEY / ST_ADMIN_TOKEN)');
    expect(cliErrorFromGrpc(serviceError(status.PERMISSION_DENIED, 'admin only'), admin).message).toContain('this command sends ST_ADMIN_TOKEN');
  });

  it('names the address and ST_SERVER when the control plane cannot be reached', () => {
    const down = cliErrorFromGrpc(serviceError(status.UNAVAILABLE, 'No connection established'), user);
    expect(down).toMatchObject({ exitCode: 5, message: 'cannot reach the control plane at 127.0.0.1:50051: is st-server running? (ST_SERVER)' });
    const slow = cliErrorFromGrpc(serviceError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), admin);
    expect(slow.exitCode).toBe(5);
    expect(slow.message).toContain('cp:7000');
  });

  it('turns anything thrown into a CliError', () => {
    const own = new CliError(2, 'bad flag');
    expect(toCliError(own, user)).toBe(own);
    expect(toCliError(serviceError(status.NOT_FOUND, 'x'), user).exitCode).toBe(4);
    expect(toCliError(new Error('boom'), undefined)).toMatchObject({ exitCode: 1, message: 'boom' });
    expect(toCliError('text', undefined)).toMatchObject({ exitCode: 1, message: 'text' });
    expect(isServiceError(new Error('plain'))).toBe(false);
  });
});
