// The lightweight HTTP/2 server's pure codec: frames and HPACK, no sockets. Imported as './h2'
// inside grpc-kit only; not part of @st/grpc-kit's public surface.
export * from './h2-errors';
export * from './h2-frames';
export * from './h2-header-validation';
export * from './hpack-decoder';
export * from './hpack-encoder';
export { encodeInteger } from './hpack-integer';
export { huffmanDecode, huffmanDecodedMaxLength, huffmanEncode, huffmanEncodedLength, prepareHuffmanDecoder } from './hpack-huffman';
export { STATIC_TABLE, STATIC_TABLE_LENGTH } from './hpack-static-table';
