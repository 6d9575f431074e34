import { describe, expect, it } from 'vitest';
import { checkHost, checkName, checkPort } from './validation';

describe('tunnel settings', () => {
  it('takes host names, IPv4 and IPv6 literals, but not a port typed into the host', () => {
    for (const h of ['localhost', '127.0.0.1', 'gpu-node-7.cluster', '::1', 'fe80::1']) expect(checkHost(h)).toBe(h);
    for (const h of ['10.0.0.5:8000', 'a b', '', 'http://x']) expect(() => checkHost(h), h).toThrow(/not valid/);
  });

  it('checks ports and names', () => {
    expect(checkPort(8000)).toBe(8000);
    expect(() => checkPort(0)).toThrow(/1 to 65535/);
    expect(() => checkPort(70000)).toThrow(/1 to 65535/);
    expect(checkName('tunnel', 'vllm-1')).toBe('vllm-1');
    expect(() => checkName('tunnel', 'a/b')).toThrow(/not valid/);
    expect(() => checkName('tunnel', '-x')).toThrow(/not valid/);
  });
});
