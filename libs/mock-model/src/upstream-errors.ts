import type { ServerResponse } from 'node:http';
import { sendJson } from './openai-error';

/**
 * Error answers of other model servers and of what sits in front of them, which an OpenAI client
 * cannot read as they are: the gateway puts them in OpenAI's shape (libs/gateway's
 * upstream-error-shape.ts). Asked for with `x-mock-error: <shape>`.
 */
export const UPSTREAM_ERROR_SHAPES = ['tgi', 'vllm-flat', 'text-500', 'html-502'] as const;

export type UpstreamErrorShape = (typeof UPSTREAM_ERROR_SHAPES)[number];

/** nginx's page when the server behind it is down, byte for byte as nginx 1.x writes it. */
export const NGINX_502_PAGE =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

export function sendUpstreamError(res: ServerResponse, shape: UpstreamErrorShape): void {
  switch (shape) {
    case 'tgi':
      // Text Generation Inference: a flat string and its kind.
      sendJson(res, 422, '{"error":"Input validation error","error_type":"validation"}');
      return;
    case 'vllm-flat':
      // vLLM before its errors moved under "error" (0.6 and older): one flat object.
      sendJson(
        res,
        400,
        JSON.stringify({ object: 'error', message: "This model's maximum context length is 8192 tokens.", type: 'BadRequestError', param: null, code: 400 }),
      );
      return;
    case 'text-500':
      // uvicorn/Starlette's answer to an unhandled exception.
      sendText(res, 500, 'text/plain; charset=utf-8', 'Internal Server Error');
      return;
    case 'html-502':
      sendText(res, 502, 'text/html', NGINX_502_PAGE);
      return;
  }
}

function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
