import { discoverToken, resolveEndpoint } from "./config.ts";
import { ApiError, NetworkError } from "./errors.ts";
import { parseNextCursor } from "./link-header.ts";

export interface TransportOptions {
  endpoint?: string | undefined;
  token?: string | undefined;
  fetch?: typeof fetch | undefined;
}

/** Query parameters; an array repeats the parameter (`label=a=1&label=b=2`). */
export type Query = Record<string, string | number | boolean | string[] | undefined>;

export interface RequestOptions {
  query?: Query | undefined;
  /** A JSON body. */
  body?: unknown;
  /** Whether to send the token (default true); only `/v1/health` does without. */
  auth?: boolean;
  signal?: AbortSignal | undefined;
}

export interface RawResponse {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or `undefined` for an empty one (204). */
  data: unknown;
}

const USER_AGENT = "strata-sdk/0.1.0";

/** Encodes an id, slug or name as one path segment. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}

/** Sends requests to `<endpoint>/v1`, adds the token, and turns failures into SDK errors. */
export class Transport {
  readonly endpoint: string;
  readonly #fetch: typeof fetch;
  readonly #explicitToken: string | undefined;
  #token: Promise<string> | undefined;

  constructor(options: TransportOptions) {
    this.endpoint = resolveEndpoint(options.endpoint);
    this.#explicitToken = options.token;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Sends a request and returns the status, headers and parsed JSON body of a 2xx answer. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<RawResponse> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = {
      accept: "application/json",
      "user-agent": USER_AGENT,
    };
    if (options.auth !== false) headers.authorization = `Bearer ${await this.#resolveToken()}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }

    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(url, { method, headers, body, signal: options.signal ?? null });
      text = await res.text();
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw new NetworkError(this.endpoint, err);
    }
    const requestId = res.headers.get("x-request-id") ?? undefined;
    if (!res.ok) {
      throw ApiError.fromResponse({
        status: res.status,
        body: text,
        url: `${method} ${url}`,
        requestId,
      });
    }
    if (text === "") return { status: res.status, headers: res.headers, data: undefined };
    try {
      return { status: res.status, headers: res.headers, data: JSON.parse(text) };
    } catch (err) {
      throw new ApiError({
        status: res.status,
        code: "invalid_response",
        message: `${method} ${url} answered ${res.status} with a body that is not JSON`,
        requestId,
        cause: err,
      });
    }
  }

  /**
   * Sends a request with a raw body (bytes, a Blob or a stream) and returns the 2xx
   * `Response` unread, so its body can be streamed. Errors are thrown as for `request()`.
   */
  async stream(
    method: string,
    path: string,
    options: {
      query?: Query | undefined;
      body?: BodyInit | undefined;
      contentType?: string;
      signal?: AbortSignal | undefined;
    } = {},
  ): Promise<Response> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = {
      "user-agent": USER_AGENT,
      authorization: `Bearer ${await this.#resolveToken()}`,
    };
    if (options.body !== undefined) {
      headers["content-type"] = options.contentType ?? "application/octet-stream";
    }
    const init: RequestInit & { duplex?: "half" } = {
      method,
      headers,
      body: options.body ?? null,
      signal: options.signal ?? null,
    };
    // fetch() refuses a stream body unless it is told the request is sent before the answer.
    if (options.body instanceof ReadableStream) init.duplex = "half";
    let res: Response;
    try {
      res = await this.#fetch(url, init);
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw new NetworkError(this.endpoint, err);
    }
    if (!res.ok) {
      let text = "";
      try {
        text = await res.text();
      } catch {}
      throw ApiError.fromResponse({
        status: res.status,
        body: text,
        url: `${method} ${url}`,
        requestId: res.headers.get("x-request-id") ?? undefined,
      });
    }
    return res;
  }

  /** The headers that authenticate a request, for connections `fetch` does not make. */
  async authHeaders(): Promise<Record<string, string>> {
    return { authorization: `Bearer ${await this.#resolveToken()}`, "user-agent": USER_AGENT };
  }

  /** The `ws:`/`wss:` URL of an API path. */
  wsUrl(path: string): string {
    return this.url(path).replace(/^http/, "ws");
  }

  /** Sends a request and returns its JSON body. */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.request(method, path, options)).data as T;
  }

  /**
   * GETs a resource; `null` on a 404 about the resource. A 404 `not_found` (no such route)
   * still throws: it means a wrong endpoint, not a missing resource.
   */
  async getOrNull<T>(path: string, signal?: AbortSignal): Promise<T | null> {
    try {
      return await this.json<T>("GET", path, { signal });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && err.code !== "not_found") return null;
      throw err;
    }
  }

  /**
   * GETs one page of a list: a bare JSON array, with the next page's cursor in
   * `Link: <absolute-url>; rel="next"`.
   */
  async page<T>(
    path: string,
    query: Query,
    signal?: AbortSignal,
  ): Promise<{ items: T[]; nextCursor: string | null }> {
    const res = await this.request("GET", path, { query, signal });
    if (!Array.isArray(res.data)) {
      throw new ApiError({
        status: res.status,
        code: "invalid_response",
        message: `GET ${this.url(path, query)} answered with a body that is not a JSON array`,
        requestId: res.headers.get("x-request-id") ?? undefined,
      });
    }
    const nextCursor = parseNextCursor(res.headers.get("link"), this.endpoint);
    return { items: res.data as T[], nextCursor };
  }

  /** The absolute URL of an API path such as `/volumes`. */
  url(path: string, query?: Query): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (Array.isArray(value)) for (const v of value) params.append(key, v);
      else if (value !== undefined) params.set(key, String(value));
    }
    const qs = params.toString();
    // Concatenated, not `new URL(path, endpoint)`, to keep a path prefix of the endpoint.
    return `${this.endpoint}/v1${path}${qs ? `?${qs}` : ""}`;
  }

  #resolveToken(): Promise<string> {
    if (this.#explicitToken) return Promise.resolve(this.#explicitToken);
    if (!this.#token) {
      this.#token = discoverToken();
      // A missing token may appear later (the daemon writes it on first start): retry then.
      this.#token.catch(() => {
        this.#token = undefined;
      });
    }
    return this.#token;
  }
}
