import { describe, expect, it } from 'vitest';
import { channelProxyOptions, normaliseProxyEnv, resolveProxy } from './proxy-env';

function decide(env: NodeJS.ProcessEnv, host = 'broker.example.com') {
  const { origin } = normaliseProxyEnv(env);
  return resolveProxy(host, env, origin);
}

describe('normaliseProxyEnv', () => {
  it('copies the upper-case spellings grpc-js ignores into the lower-case ones it reads', () => {
    const env: NodeJS.ProcessEnv = { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: 'localhost' };
    const { copied, origin } = normaliseProxyEnv(env);
    expect(env.https_proxy).toBe('http://proxy:3128');
    expect(env.no_proxy).toBe('localhost');
    expect(copied.sort()).toEqual(['https_proxy', 'no_proxy']);
    expect(origin).toMatchObject({ https_proxy: 'HTTPS_PROXY', no_proxy: 'NO_PROXY' });
  });

  it('leaves a lower-case variable that is set alone (it wins, as with curl), even when empty', () => {
    const env: NodeJS.ProcessEnv = { HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:2', NO_PROXY: 'a', no_proxy: '' };
    normaliseProxyEnv(env);
    expect(env.https_proxy).toBe('http://lower:2');
    expect(env.no_proxy).toBe('');
  });

  it('gives a proxy without a scheme http:// and tidies no_proxy into what grpc-js matches', () => {
    const env: NodeJS.ProcessEnv = { HTTP_PROXY: 'proxy.corp:8080', NO_PROXY: ' localhost ,, *.corp.example ,10.0.0.0/8, 127.0.0.1:50051, [::1]:80,' };
    normaliseProxyEnv(env);
    expect(env.http_proxy).toBe('http://proxy.corp:8080');
    // An empty entry would match every host in grpc-js (endsWith("")) and silently disable the proxy.
    expect(env.no_proxy).toBe('localhost,.corp.example,10.0.0.0/8,127.0.0.1,::1');
  });
});

describe('resolveProxy', () => {
  it('names the proxy and the variable it came from, never the credentials', () => {
    const d = decide({ HTTPS_PROXY: 'http://user:secret@proxy:3128' });
    expect(d).toEqual({ proxy: 'http://proxy:3128', variable: 'HTTPS_PROXY', withCredentials: true });
    expect(JSON.stringify(d)).not.toContain('secret');
    expect(channelProxyOptions(d)).toEqual({});
  });

  it('prefers grpc_proxy, then https_proxy, then http_proxy (grpc-js order); port 80 by default', () => {
    expect(decide({ HTTP_PROXY: 'http://h:1', HTTPS_PROXY: 'http://s:2' }).proxy).toBe('http://s:2');
    expect(decide({ GRPC_PROXY: 'http://g', HTTPS_PROXY: 'http://s:2' }).proxy).toBe('http://g:80');
  });

  it('dials directly when no_proxy matches by suffix or IPv4 CIDR, or is *', () => {
    expect(decide({ HTTPS_PROXY: 'http://p:1', NO_PROXY: '.example.com' }).bypassedBy).toBe('.example.com');
    expect(decide({ HTTPS_PROXY: 'http://p:1', NO_PROXY: '10.0.0.0/8' }, '10.1.2.3').bypassedBy).toBe('10.0.0.0/8');
    expect(decide({ HTTPS_PROXY: 'http://p:1', NO_PROXY: '10.0.0.0/8' }, '11.1.2.3').bypassedBy).toBeUndefined();
    const star = decide({ HTTPS_PROXY: 'http://p:1', NO_PROXY: '*' });
    expect(star.bypassedBy).toBe('*');
    // grpc-js does not know "*": the channel is told not to use the proxy.
    expect(channelProxyOptions(star)).toEqual({ 'grpc.enable_http_proxy': 0 });
    expect(decide({ HTTPS_PROXY: 'http://p:1', NO_GRPC_PROXY: 'broker.example.com', NO_PROXY: 'other' }).bypassedBy).toBe('broker.example.com');
  });

  it('reports a proxy gRPC cannot use (https://) instead of pretending to use it', () => {
    const d = decide({ HTTPS_PROXY: 'https://proxy:443' });
    expect(d.proxy).toBeUndefined();
    expect(d.problem).toMatch(/HTTPS_PROXY uses https:\/\/.*only http:\/\/ proxies/);
    expect(channelProxyOptions(d)).toEqual({ 'grpc.enable_http_proxy': 0 });
  });

  it('says nothing when no proxy is configured', () => {
    expect(decide({})).toEqual({});
  });
});
