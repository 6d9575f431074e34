// A strict little XML parser for the bench's specs (the repository has no XML dependency, and a
// chart is only useful if every viewer can parse it): elements, attributes, text, comments and the
// five predefined entities plus numeric references. It throws on anything malformed — an unclosed
// or mismatched tag, a duplicate attribute, a bare `&` or `<` in text — which is the point.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Text directly inside this element (entities decoded). */
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string, at: number): string {
  if (raw.includes('<')) throw new Error(`a bare "<" in text or an attribute near offset ${at}`);
  return raw.replace(/&([^;\s&]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(';')) throw new Error(`a bare "&" near offset ${at}: ${whole}`);
    if (name.startsWith('#x')) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(parseInt(name.slice(1), 10));
    const c = ENTITIES[name];
    if (c === undefined) throw new Error(`unknown entity &${name}; near offset ${at}`);
    return c;
  });
}

/** Parses a whole document and returns its root element. */
export function parseXml(doc: string): XmlElement {
  const NAME = /[A-Za-z_][\w.:-]*/y;
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const skipSpace = () => {
    while (i < doc.length && /\s/.test(doc[i])) i++;
  };
  const readName = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(doc);
    if (!m) throw new Error(`a name expected at offset ${i}: ${JSON.stringify(doc.slice(i, i + 20))}`);
    i += m[0].length;
    return m[0];
  };
  if (doc.startsWith('<?xml')) i = doc.indexOf('?>') + 2;
  while (i < doc.length) {
    const lt = doc.indexOf('<', i);
    const textEnd = lt === -1 ? doc.length : lt;
    const text = doc.slice(i, textEnd);
    if (stack.length > 0) stack[stack.length - 1].text += decode(text, i);
    else if (text.trim()) throw new Error(`text outside the root element at offset ${i}`);
    if (lt === -1) break;
    i = lt;
    if (doc.startsWith('<!--', i)) {
      const end = doc.indexOf('-->', i);
      if (end === -1) throw new Error(`an unclosed comment at offset ${i}`);
      i = end + 3;
      continue;
    }
    if (doc.startsWith('</', i)) {
      i += 2;
      const name = readName();
      skipSpace();
      if (doc[i] !== '>') throw new Error(`">" expected at offset ${i}`);
      i++;
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`</${name}> closes <${open?.name ?? 'nothing'}>`);
      continue;
    }
    i++;
    const el: XmlElement = { name: readName(), attrs: {}, children: [], text: '' };
    for (;;) {
      skipSpace();
      if (doc.startsWith('/>', i) || doc[i] === '>') break;
      const attr = readName();
      skipSpace();
      if (doc[i] !== '=') throw new Error(`"=" expected after attribute ${attr} at offset ${i}`);
      i++;
      skipSpace();
      const quote = doc[i];
      if (quote !== '"' && quote !== "'") throw new Error(`a quoted value expected for ${attr} at offset ${i}`);
      const end = doc.indexOf(quote, i + 1);
      if (end === -1) throw new Error(`an unclosed attribute value at offset ${i}`);
      if (attr in el.attrs) throw new Error(`duplicate attribute ${attr} on <${el.name}>`);
      el.attrs[attr] = decode(doc.slice(i + 1, end), i);
      i = end + 1;
    }
    if (stack.length > 0) stack[stack.length - 1].children.push(el);
    else if (root) throw new Error(`a second root element <${el.name}>`);
    else root = el;
    if (doc.startsWith('/>', i)) i += 2;
    else {
      i++;
      stack.push(el);
    }
  }
  if (stack.length > 0) throw new Error(`<${stack[stack.length - 1].name}> is never closed`);
  if (!root) throw new Error('no root element');
  return root;
}

/** Every element of the tree (depth first), the root included. */
export function allElements(root: XmlElement): XmlElement[] {
  return [root, ...root.children.flatMap(allElements)];
}

/** All text inside an element, its descendants' included. */
export function textOf(el: XmlElement): string {
  return el.text + el.children.map(textOf).join('');
}
