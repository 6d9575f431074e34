import { describe, expect, it, vi } from 'vitest';
import { assertReachable, dockerEngineAvailable, LOCAL_TEST_DATABASE_URL, startTestDatabase } from './test-database';

describe('test database selection', () => {
  const noSocket = () => false;

  it('detects a Docker engine by DOCKER_HOST or its socket', () => {
    expect(dockerEngineAvailable({}, noSocket)).toBe(false);
    expect(dockerEngineAvailable({ DOCKER_HOST: 'tcp://docker:2375' }, noSocket)).toBe(true);
    expect(dockerEngineAvailable({}, () => true)).toBe(true);
  });

  it('uses the local service without Docker, never starting a container', async () => {
    const startContainer = vi.fn();
    const database = await startTestDatabase({ env: {}, socketExists: noSocket, startContainer });
    expect(database).toMatchObject({ url: LOCAL_TEST_DATABASE_URL, source: 'local service' });
    expect(startContainer).not.toHaveBeenCalled();
  });

  it('prefers ST_TEST_DATABASE_URL, even when Docker is there', async () => {
    const startContainer = vi.fn();
    const env = { ST_TEST_DATABASE_URL: LOCAL_TEST_DATABASE_URL, DOCKER_HOST: 'tcp://docker:2375' };
    const database = await startTestDatabase({ env, startContainer });
    expect(database.source).toBe('ST_TEST_DATABASE_URL');
    expect(startContainer).not.toHaveBeenCalled();
  });

  it('starts a container when Docker is there, and stops it when it does not answer', async () => {
    const stop = vi.fn(async () => undefined);
    const startContainer = vi.fn(async () => ({
      url: 'postgresql://postgres@127.0.0.1:1/test',
      source: 'testcontainers' as const,
      stop,
    }));
    await expect(startTestDatabase({ env: {}, socketExists: () => true, startContainer })).rejects.toThrow(
      /not reachable .*from testcontainers/,
    );
    expect(startContainer).toHaveBeenCalledOnce();
    expect(stop).toHaveBeenCalledOnce();
  });

  it('fails with a message saying what to do when PostgreSQL does not answer', async () => {
    const err = (await assertReachable({
      url: 'postgresql://postgres:hunter2@127.0.0.1:1/test',
      source: 'ST_TEST_DATABASE_URL',
    }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/^PostgreSQL is not reachable at postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/test/);
    expect(err.message).toContain('ST_TEST_DATABASE_URL');
    expect(err.message).not.toContain('hunter2');
  });
});
