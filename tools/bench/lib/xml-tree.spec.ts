import { describe, expect, it } from 'vitest';
import { parseXml, textOf } from './xml-tree.js';

// The chart specs lean on this parser to say "well-formed": it must refuse what a viewer refuses.
describe('the specs\' XML parser', () => {
  it('reads elements, attributes and decoded text', () => {
    const root = parseXml('<?xml version="1.0"?><svg a="1 &amp; 2"><!-- c --><text x=\'3\'>a &lt; b &#x2264; c</text><g/></svg>');
    expect(root.name).toBe('svg');
    expect(root.attrs.a).toBe('1 & 2');
    expect(root.children.map((c) => c.name)).toEqual(['text', 'g']);
    expect(textOf(root.children[0])).toBe('a < b ≤ c');
  });

  it.each([
    ['a mismatched tag', '<svg><g></svg>'],
    ['an unclosed element', '<svg><g>'],
    ['a bare ampersand', '<svg>a & b</svg>'],
    ['a bare < in an attribute', '<svg a="<"/>'],
    ['an unknown entity', '<svg>&nbsp;</svg>'],
    ['a duplicate attribute', '<svg a="1" a="2"/>'],
    ['two roots', '<svg/><svg/>'],
  ])('refuses %s', (_what, doc) => {
    expect(() => parseXml(doc)).toThrow();
  });
});
