/** Why the JSON body check refused a body (json-object-scanner.ts); the gateway maps the kind to its answer. */
export type JsonScanErrorKind = 'empty' | 'not_object' | 'syntax' | 'too_deep';

export interface JsonScanError {
  kind: JsonScanErrorKind;
  /** Byte offset in the body where the problem was seen. */
  offset: number;
  /** What was expected there, in words ("a value", "',' or '}'"); no input is quoted. */
  expected: string;
}
