import { describe, expect, it } from 'vitest';
import { type Turn, historyOf, restored } from './conversation';

const turn = (role: Turn['role'], content: string, status: Turn['status']): Turn => ({ id: `${role}-${content}`, role, content, status });

describe('conversation', () => {
  it('sends back every turn with text, a stopped answer’s part too, but no failed one', () => {
    const turns = [turn('user', 'hi', 'done'), turn('assistant', 'half an', 'stopped'), turn('user', 'again', 'done'), turn('assistant', '', 'error')];
    expect(historyOf(turns)).toEqual([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'half an' },
      { role: 'user', content: 'again' },
    ]);
  });

  it('restores an answer that was streaming when the tab reloaded as stopped, the others as they were', () => {
    const turns = [turn('user', 'hi', 'done'), turn('assistant', 'cut', 'streaming')];
    expect(restored(turns).map((t) => t.status)).toEqual(['done', 'stopped']);
  });
});
