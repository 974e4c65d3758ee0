// The management API, typed from Purser's own OpenAPI document (`npm run schema`).
// Signed in through the session cookie: no token is ever readable by scripts except the
// CSRF token, which Purser sets in a readable cookie for exactly this purpose.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

/** A problem document (RFC 9457) as Purser sends it, or one made up for a network failure. */
export interface Problem {
  status: number;
  code: string;
  detail: string;
  requestId?: string;
  errors?: { field: string; message: string }[];
}

export class ApiError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail);
    this.problem = problem;
  }
  get status() {
    return this.problem.status;
  }
  get code() {
    return this.problem.code;
  }
  /** The message for one field, as the API named it (`email`, `limits.rpm`). */
  field(name: string): string | undefined {
    return this.problem.errors?.find((e) => e.field === name)?.message;
  }
}

export function csrfToken(): string | undefined {
  return document.cookie
    .split("; ")
    .find((c) => c.startsWith("purser_csrf="))
    ?.slice("purser_csrf=".length);
}

const sendCsrf: Middleware = {
  onRequest({ request }) {
    if (request.method !== "GET" && request.method !== "HEAD") {
      const token = csrfToken();
      if (token) request.headers.set("x-csrf-token", token);
    }
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: "/", credentials: "same-origin" });
api.use(sendCsrf);

/** Resolves to the answer's data, or throws an {@link ApiError} with the problem. */
export async function call<T>(
  request: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch {
    throw new ApiError({ status: 0, code: "network", detail: "" });
  }
  const { data, error, response } = result;
  if (!response.ok) {
    const body = (error ?? {}) as Partial<Problem>;
    throw new ApiError({
      status: response.status,
      code: body.code ?? `http_${response.status}`,
      detail: body.detail ?? response.statusText,
      requestId: body.requestId,
      errors: body.errors,
    });
  }
  return data as T;
}
