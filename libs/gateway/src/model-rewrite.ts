import { TunnelError } from '@st/tunnel-protocol';
import { type JsonObjectScanner, MAX_MODEL_BYTES, type ModelSpan, decodeJsonString } from './json-object-scanner';

/**
 * The top-level "model" of a scanned body, decoded; undefined when there is none or it is not a
 * string; a 400 when it is given twice (parsers disagree on which one counts, so the gateway
 * could route by one and the model server read the other) or is too long to be a model name.
 */
export function modelOf(scanner: JsonObjectScanner): { name: string; span: ModelSpan } | TunnelError | undefined {
  if (scanner.modelCount > 1) {
    return new TunnelError('bad_request', 'the request body gives "model" more than once: send it once');
  }
  const span = scanner.model;
  if (!span) return undefined;
  if (!span.raw) return new TunnelError('bad_request', `the model name is longer than ${MAX_MODEL_BYTES} bytes: GET /v1/models lists the models`);
  return { name: decodeJsonString(span.raw), span };
}

/** The body with the model string at `span` replaced by `name` (JSON-encoded), the rest byte for byte. */
export function withModel(body: Buffer, span: ModelSpan, name: string): Buffer {
  return Buffer.concat([body.subarray(0, span.start), Buffer.from(JSON.stringify(name)), body.subarray(span.end)]);
}
