import { describe, expect, it } from 'vitest';
import { DEFAULT_SERVER, resolveAddress, resolveCredential } from './control-plane-client';
import { CliError } from './exit-codes';

describe('control plane address and credentials', () => {
  it('takes --server over ST_SERVER over the default', () => {
    expect(resolveAddress(undefined, {})).toBe(DEFAULT_SERVER);
    expect(resolveAddress(undefined, { ST_SERVER: '' })).toBe(DEFAULT_SERVER);
    expect(resolveAddress(undefined, { ST_SERVER: 'cp.internal:7000' })).toBe('cp.internal:7000');
    expect(resolveAddress('10.0.0.1:9', { ST_SERVER: 'cp.internal:7000' })).toBe('10.0.0.1:9');
  });

  it('accepts http:// URLs, bare hosts and IPv6, and refuses TLS and junk', () => {
    expect(resolveAddress('http://127.0.0.1:50052/', {})).toBe('127.0.0.1:50052');
    expect(resolveAddress('cp', {})).toBe('cp:50051');
    expect(resolveAddress('[::1]:50051', {})).toBe('[::1]:50051');
    expect(() => resolveAddress('https://cp:443', {})).toThrow(/plaintext/);
    expect(() => resolveAddress(undefined, { ST_SERVER: 'cp:1/path' })).toThrow(/ST_SERVER=cp:1\/path is not a gRPC address/);
    let thrown: unknown;
    try {
      resolveAddress('a b', {});
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(CliError);
    expect((thrown as CliError).exitCode).toBe(2);
  });

  it('sends the API key for user commands and the admin token for admin ones', () => {
    expect(resolveCredential('user', { ST_API_KEY: ' st_key_x\n', ST_ADMIN_TOKEN: 'adm' })).toEqual({ secret: 'st_key_x', context: 'ST_API_KEY' });
    expect(resolveCredential('admin', { ST_API_KEY: 'st_key_x', ST_ADMIN_TOKEN: 'adm' })).toEqual({ secret: 'adm', context: 'ST_ADMIN_TOKEN' });
    expect(() => resolveCredential('user', { ST_ADMIN_TOKEN: 'adm' })).toThrow(/set ST_API_KEY/);
    expect(() => resolveCredential('admin', { ST_API_KEY: 'k' })).toThrow(/set ST_ADMIN_TOKEN/);
  });
});
