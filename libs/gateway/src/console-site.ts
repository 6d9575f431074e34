import { createHash } from 'node:crypto';
import { type Dirent, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Logger } from '@st/logging';
import { openAIErrorBody, sendOpenAIError } from './openai-error';

/**
 * The web console's Content-Security-Policy: scripts, styles and calls only from this origin, no
 * inline code, no framing, no forms posting elsewhere. The Vite build emits no inline script or
 * style, so nothing needs a hash or 'unsafe-inline'.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The console is a handful of files; anything far bigger is not the console (a wrong ST_CONSOLE_DIR). */
const MAX_FILES = 256;
const MAX_TOTAL_BYTES = 16 * 1024 * 1024;
const MAX_DEPTH = 4;

/** Served types, by extension; other files in the directory are not served. */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.txt']);

/** Vite names what it emits under assets/ by content hash: such a URL never changes meaning. */
const HASHED_CACHE = 'public, max-age=31536000, immutable';
/** index.html (and unhashed files) are revalidated each time, so a new build shows at once. */
const REVALIDATE = 'no-cache';

interface Asset {
  body: Buffer;
  gzip: Buffer | undefined;
  contentType: string;
  cacheControl: string;
  etag: string;
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
};

/**
 * The built web console (apps/console/dist), served by the gateway at `/` and its assets' paths.
 * Every file is read into memory at start: a request is a lookup of its exact path in a map, so
 * no request touches the file system and no path can reach outside the build (no traversal to
 * guard against). Paths not in the map are not the console's: the gateway answers them as before.
 */
export class ConsoleSite {
  private constructor(private readonly assets: ReadonlyMap<string, Asset>) {}

  /**
   * Loads the build in `dir`, or returns undefined (with a warning) when there is none: a gateway
   * run from sources without `npm run build` still serves the API.
   */
  static load(dir: string, logger: Logger): ConsoleSite | undefined {
    if (!existsSync(join(dir, 'index.html'))) {
      logger.warn({ dir }, 'the web console is not built (no index.html): / is not served. Run `npm run build`, or set ST_CONSOLE_DIR');
      return undefined;
    }
    const assets = new Map<string, Asset>();
    let total = 0;
    for (const [urlPath, file] of listFiles(dir, '', 0)) {
      const type = CONTENT_TYPES[extname(file)];
      if (!type) continue;
      const body = readFileSync(file);
      total += body.length;
      if (assets.size >= MAX_FILES || total > MAX_TOTAL_BYTES) {
        throw new Error(`${dir} holds more than ${MAX_FILES} files or ${MAX_TOTAL_BYTES} bytes: it is not the web console's build; check ST_CONSOLE_DIR`);
      }
      const gzip = COMPRESSIBLE.has(extname(file)) ? gzipSync(body, { level: 9 }) : undefined;
      const index = urlPath === '/index.html';
      assets.set(index ? '/' : urlPath, {
        body,
        gzip: gzip && gzip.length < body.length ? gzip : undefined,
        contentType: type,
        cacheControl: urlPath.startsWith('/assets/') ? HASHED_CACHE : REVALIDATE,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      });
    }
    logger.info({ dir, files: assets.size, bytes: total }, 'web console loaded');
    return new ConsoleSite(assets);
  }

  /** The URL paths served (for tests and the start-up log). */
  paths(): string[] {
    return [...this.assets.keys()];
  }

  /** Answers `req` when its path is one of the console's and returns true; else returns false. */
  serve(req: IncomingMessage, res: ServerResponse, requestId: string): boolean {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const asset = this.assets.get(q === -1 ? url : url.slice(0, q));
    if (!asset) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendOpenAIError(res, 405, openAIErrorBody(`${req.method} is not allowed on the web console's files: use GET`, 'invalid_request_error', 'method_not_allowed'), requestId, {
        allow: 'GET, HEAD',
      });
      return true;
    }
    const headers: Record<string, string | number> = {
      ...SECURITY_HEADERS,
      'content-type': asset.contentType,
      'cache-control': asset.cacheControl,
      etag: asset.etag,
      'x-request-id': requestId,
    };
    if (asset.gzip) headers.vary = 'accept-encoding';
    const gzip = asset.gzip !== undefined && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    // Each encoding is its own representation, with its own validator.
    if (gzip) headers.etag = `${asset.etag.slice(0, -1)}-gz"`;
    if (matches(req.headers['if-none-match'], String(headers.etag))) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    const body = gzip ? asset.gzip! : asset.body;
    if (gzip) headers['content-encoding'] = 'gzip';
    headers['content-length'] = body.length;
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
}

/** If-None-Match: a list of tags, maybe weak (W/), or `*`. */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

/** [URL path, file] of every regular file under `dir` (symbolic links are not followed). */
function listFiles(dir: string, prefix: string, depth: number): [string, string][] {
  if (depth > MAX_DEPTH) return [];
  const found: [string, string][] = [];
  const entries: Dirent[] = readdirSync(dir, { withFileTypes: true });
  for (const entry of entries) {
    const file = join(dir, entry.name);
    const urlPath = `${prefix}/${entry.name}`;
    if (entry.isDirectory()) found.push(...listFiles(file, urlPath, depth + 1));
    else if (entry.isFile() && statSync(file).size <= MAX_TOTAL_BYTES) found.push([urlPath, file]);
  }
  return found;
}
