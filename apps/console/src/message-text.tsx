import Markdown, { type Components } from 'react-markdown';

/**
 * Markdown without raw HTML (`skipHtml`: tags in an answer are dropped, never parsed) and with
 * react-markdown's URL filter (no javascript: links). Images are shown as their text: loading
 * one would be a request to wherever the model pointed (the CSP would refuse it anyway).
 */
const COMPONENTS: Components = {
  a: ({ node: _node, ...props }) => <a {...props} target="_blank" rel="noopener noreferrer nofollow" />,
  img: ({ alt }) => <span className="image-alt">[image{alt ? `: ${alt}` : ''}]</span>,
};

export function MessageText({ text }: { text: string }) {
  return (
    <Markdown skipHtml components={COMPONENTS}>
      {text}
    </Markdown>
  );
}
