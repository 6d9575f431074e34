/**
 * True when every character of `path` is a letter, a digit, '/', '-' or '_'. Such a path decodes
 * to itself and can hold no '.' or '..' segment, no ';', '\', '%' or control character: the path
 * checks of the gateway and the agent have nothing to refuse in it and skip their decoding and
 * splitting (most requests are /v1/chat/completions or the like). Any other path takes the full
 * check.
 */
export function isPlainPath(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    // 0x2f-0x39 is '/' and the digits.
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x2f && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f) continue;
    return false;
  }
  return true;
}
