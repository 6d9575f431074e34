import { describe, expect, it } from 'vitest';
import { HpackDecoder } from './hpack-decoder';
import { huffmanDecode, huffmanDecodedMaxLength, huffmanEncode } from './hpack-huffman';

// RFC 7541 Appendix C, byte for byte: each request or response is decoded by one decoder in turn,
// so the dynamic table carried between them (and its evictions in C.5/C.6) is checked too.
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

interface Step {
  block: string;
  headers: Array<[string, string]>;
  /** Dynamic table after the step, newest first, and its RFC size. */
  table: Array<[string, string]>;
  size: number;
}

const REQUESTS: Array<Omit<Step, 'block'>> = [
  {
    headers: [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
    table: [[':authority', 'www.example.com']],
    size: 57,
  },
  {
    headers: [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
    table: [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
    size: 110,
  },
  {
    headers: [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
    table: [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
    size: 164,
  },
];

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOCATION = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSES: Array<Omit<Step, 'block'>> = [
  {
    headers: [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', LOCATION]],
    table: [['location', LOCATION], ['date', DATE1], ['cache-control', 'private'], [':status', '302']],
    size: 222,
  },
  {
    headers: [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', LOCATION]],
    table: [[':status', '307'], ['location', LOCATION], ['date', DATE1], ['cache-control', 'private']],
    size: 222,
  },
  {
    headers: [[':status', '200'], ['cache-control', 'private'], ['date', DATE2], ['location', LOCATION], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]],
    table: [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]],
    size: 215,
  },
];

function run(steps: Step[], maxTableSize?: number): void {
  const decoder = new HpackDecoder({ maxTableSize });
  if (maxTableSize !== undefined && maxTableSize < 4096) {
    // C.5 and C.6 assume a 256-octet table from the start: as if our SETTINGS had been ACKed
    // and the encoder had said so.
    decoder.settingsAcknowledged();
    decoder.decode(Buffer.from([0x3f, 0xe1, 0x01]));
  }
  for (const step of steps) {
    expect(decoder.decode(hex(step.block))).toEqual({ headers: step.headers, oversize: false });
    expect(decoder.dynamicTableEntries()).toEqual(step.table);
    expect(decoder.dynamicTableSize).toBe(step.size);
  }
}

describe('HpackDecoder on RFC 7541 Appendix C', () => {
  it('C.2: one literal or indexed field per block', () => {
    const cases: Array<[string, [string, string], Array<[string, string]>]> = [
      ['400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572', ['custom-key', 'custom-header'], [['custom-key', 'custom-header']]],
      ['040c 2f73 616d 706c 652f 7061 7468', [':path', '/sample/path'], []],
      ['1008 7061 7373 776f 7264 0673 6563 7265 74', ['password', 'secret'], []],
      ['82', [':method', 'GET'], []],
    ];
    for (const [block, field, table] of cases) {
      const decoder = new HpackDecoder();
      expect(decoder.decode(hex(block))).toEqual({ headers: [field], oversize: false });
      expect(decoder.dynamicTableEntries()).toEqual(table);
    }
  });

  it('C.3: requests without Huffman share one dynamic table', () => {
    const blocks = [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ];
    run(REQUESTS.map((step, i) => ({ ...step, block: blocks[i] })));
  });

  it('C.4: requests with Huffman share one dynamic table', () => {
    const blocks = [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ];
    run(REQUESTS.map((step, i) => ({ ...step, block: blocks[i] })));
  });

  it('C.5: responses without Huffman evict from a 256-octet table', () => {
    const blocks = [
      '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '4803 3330 37c1 c0bf',
      '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
    ];
    // The peer announces the smaller table with a size update, as C.5 assumes a 256-octet table.
    const withUpdate = blocks.map((b, i) => (i === 0 ? `3fe101 ${b}` : b));
    run(RESPONSES.map((step, i) => ({ ...step, block: blocks[i] })), 256);
    run(RESPONSES.map((step, i) => ({ ...step, block: withUpdate[i] })), 4096);
  });

  it('C.6: responses with Huffman evict from a 256-octet table', () => {
    const blocks = [
      '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
      '4883 640e ffc1 c0bf',
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    ];
    run(RESPONSES.map((step, i) => ({ ...step, block: blocks[i] })), 256);
  });
});

describe('Huffman code on RFC 7541 Appendix C strings', () => {
  const strings: Array<[string, string]> = [
    ['f1e3c2e5f23a6ba0ab90f4ff', 'www.example.com'],
    ['a8eb10649cbf', 'no-cache'],
    ['25a849e95ba97d7f', 'custom-key'],
    ['25a849e95bb8e8b4bf', 'custom-value'],
    ['6402', '302'],
    ['aec3771a4b', 'private'],
    ['d07abe941054d444a8200595040b8166e082a62d1bff', DATE1],
    ['9d29ad171863c78f0b97c8e9ae82ae43d3', LOCATION],
    ['94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007', COOKIE],
  ];
  it.each(strings)('%s <-> %s', (code, text) => {
    const src = hex(code);
    const dst = Buffer.alloc(huffmanDecodedMaxLength(src.length));
    const n = huffmanDecode(src, 0, src.length, dst);
    expect(dst.toString('latin1', 0, n)).toBe(text);
    expect(huffmanEncode(Buffer.from(text, 'latin1')).toString('hex')).toBe(code);
  });
});
