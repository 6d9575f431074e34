import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { MessageText } from './message-text';

const html = (text: string) => renderToStaticMarkup(createElement(MessageText, { text }));

describe('MessageText', () => {
  it('renders markdown', () => {
    expect(html('**bold** and `code`\n\n- one\n- two')).toBe('<p><strong>bold</strong> and <code>code</code></p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>');
  });

  it('never renders raw HTML, script URLs or remote images', () => {
    const out = html('<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)> [x](javascript:alert(1)) ![cat](https://example.com/cat.png)');
    expect(out).not.toMatch(/<script|<img|onerror|javascript:|example\.com/);
    expect(out).toContain('[image: cat]');
    expect(out).toContain('<span class="link-removed">x</span>');
    expect(out).not.toContain('<a');
  });

  it('keeps a safe link, opened apart from the console', () => {
    expect(html('[docs](https://example.com/docs)')).toBe('<p><a href="https://example.com/docs" target="_blank" rel="noopener noreferrer nofollow">docs</a></p>');
  });
});
