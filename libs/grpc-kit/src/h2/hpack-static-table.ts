/**
 * The HPACK static table (RFC 7541 Appendix A). Index 1 is STATIC_TABLE[1]; slot 0 is unused so that
 * wire indexes need no arithmetic. The strings are shared constants: a decoded header that comes from
 * this table allocates nothing.
 */
export const STATIC_TABLE: ReadonlyArray<readonly [name: string, value: string]> = [
  ['', ''],
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** Number of entries in the static table; dynamic table indexes start after it. */
export const STATIC_TABLE_LENGTH = STATIC_TABLE.length - 1; // 61

/** `name + '\0' + value` -> the static index of that exact field (the first one, if several). */
export const STATIC_FIELD_INDEX: ReadonlyMap<string, number> = new Map(
  STATIC_TABLE.slice(1)
    .map(([name, value], i) => [`${name}\0${value}`, i + 1] as const)
    .reverse(), // so the lowest index wins for a repeated key
);

/** `name` -> the lowest static index with that name. */
export const STATIC_NAME_INDEX: ReadonlyMap<string, number> = new Map(
  STATIC_TABLE.slice(1)
    .map(([name], i) => [name, i + 1] as const)
    .reverse(),
);
