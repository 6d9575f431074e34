// Apart from json-output.ts, which loads the generated protos: command-context needs only this.
/** One JSON object on one line: what every `--json` command prints (and `watch` once per event). */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}
