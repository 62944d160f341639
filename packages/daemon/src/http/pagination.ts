import type { FastifyReply, FastifyRequest } from "fastify";

/**
 * Sends one page as a bare JSON array and announces the next one, if any, in
 * `Link: <absolute-url>; rel="next"` (the URL keeps the request's query, with the new cursor).
 */
export function sendPage<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  page: { items: T[]; nextCursor: string | null },
): T[] {
  if (page.nextCursor !== null) {
    const url = new URL(request.url, `${request.protocol}://${request.host}`);
    url.searchParams.set("cursor", page.nextCursor);
    reply.header("link", `<${url.href}>; rel="next"`);
  }
  return page.items;
}
