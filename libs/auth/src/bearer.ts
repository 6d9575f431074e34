/** The secret from an `Authorization: Bearer <secret>` value, or undefined. */
export function bearerSecret(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match ? match[1] : undefined;
}
