import { describe, expect, it } from 'vitest';
import { newId } from './ids';

describe('newId', () => {
  it('prefixes the kind to 12 lowercase base32 characters', () => {
    expect(newId('u')).toMatch(/^u-[a-z2-7]{12}$/);
    expect(newId('s')).toMatch(/^s-[a-z2-7]{12}$/);
    expect(newId('t')).toMatch(/^t-[a-z2-7]{12}$/);
    expect(newId('k')).toMatch(/^k-[a-z2-7]{12}$/);
  });

  it('is random: no repeats, every character of the alphabet in use', () => {
    const ids = new Set(Array.from({ length: 5000 }, () => newId('t')));
    expect(ids.size).toBe(5000);
    const chars = new Set([...ids].flatMap((id) => [...id.slice(2)]));
    expect(chars.size).toBe(32);
  });
});
