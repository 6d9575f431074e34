/**
 * What a request to the gateway is, for metrics: a bounded set of labels (never a tunnel id or a
 * user's path). `plain` is every request to a plain HTTP tunnel, whatever its path; it is known
 * only once the tunnel is found, the others from the path alone.
 */
export const ROUTE_KINDS = ['chat', 'completions', 'embeddings', 'models', 'plain', 'other'] as const;
export type RouteKind = (typeof ROUTE_KINDS)[number];

export const KIND_CHAT = 0;
export const KIND_COMPLETIONS = 1;
export const KIND_EMBEDDINGS = 2;
export const KIND_MODELS = 3;
export const KIND_PLAIN = 4;
export const KIND_OTHER = 5;

/**
 * The kind of `/t/<id>/v1/...` or `/v1/...` (index into ROUTE_KINDS). Compares in place
 * (startsWith at an offset): no substring per request.
 */
export function routeKindOf(url: string): number {
  let at = 0;
  if (url.startsWith('/t/')) {
    at = url.indexOf('/', 3);
    if (at === -1) return KIND_OTHER;
  }
  if (!url.startsWith('/v1/', at)) return KIND_OTHER;
  // The first letter picks the one candidate to compare (a string compare costs more than a char).
  switch (url.charCodeAt(at + 4)) {
    case 99 /* c */:
      if (url.startsWith('chat/completions', at + 4)) return endsAt(url, at + 20) ? KIND_CHAT : KIND_OTHER;
      return url.startsWith('completions', at + 4) && endsAt(url, at + 15) ? KIND_COMPLETIONS : KIND_OTHER;
    case 101 /* e */:
      return url.startsWith('embeddings', at + 4) && endsAt(url, at + 14) ? KIND_EMBEDDINGS : KIND_OTHER;
    case 109 /* m */:
      // GET /v1/models and /v1/models/{id}.
      return url.startsWith('models', at + 4) && (endsAt(url, at + 10) || url.charCodeAt(at + 10) === SLASH) ? KIND_MODELS : KIND_OTHER;
    default:
      return KIND_OTHER;
  }
}

const SLASH = 47;
const QUESTION = 63;

/** The path ends at `i`: end of the URL, a query, or a trailing slash. */
function endsAt(url: string, i: number): boolean {
  if (i === url.length) return true;
  const c = url.charCodeAt(i);
  return c === QUESTION || (c === SLASH && (i + 1 === url.length || url.charCodeAt(i + 1) === QUESTION));
}
