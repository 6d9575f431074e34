import Markdown, { type Components } from 'react-markdown';

/**
 * Markdown without raw HTML (`skipHtml`: tags in an answer are dropped, never parsed) and with
 * react-markdown's URL filter (no javascript: links). Images are shown as their text: loading
 * one would be a request to wherever the model pointed (the CSP would refuse it anyway).
 */
const COMPONENTS: Components = {
  // A link whose URL the filter emptied (javascript:, data:…) is shown as its text: an empty href
  // would still be a link, to this very page.
  a: ({ node: _node, href, children }) =>
    href ? (
      <a href={href} target="_blank" rel="noopener noreferrer nofollow">
        {children}
      </a>
    ) : (
      <span className="link-removed">{children}</span>
    ),
  img: ({ alt }) => <span className="image-alt">[image{alt ? `: ${alt}` : ''}]</span>,
};

export function MessageText({ text }: { text: string }) {
  return (
    <Markdown skipHtml components={COMPONENTS}>
      {text}
    </Markdown>
  );
}
