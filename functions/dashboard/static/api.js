// The public API, called from this origin with the gateway key kept in sessionStorage only.
// Every path is relative, so the page works under a stage path (/Prod/dashboard) as well as at /dashboard.

const STORAGE_KEY = "byok-gateway.api-key";

export const session = {
  key: () => sessionStorage.getItem(STORAGE_KEY),
  save: (key) => sessionStorage.setItem(STORAGE_KEY, key),
  clear: () => sessionStorage.removeItem(STORAGE_KEY),
};

export class ApiError extends Error {
  constructor(status, body) {
    const error = body && typeof body === "object" && body.error && typeof body.error === "object" ? body.error : {};
    super(typeof error.message === "string" ? error.message : `The gateway answered HTTP ${status}`);
    this.status = status;
    this.error = error;
  }
}

let unauthorized = () => {};

/** Called once when any call answers 401: the key is gone from the session and the page returns to sign-in. */
export function onUnauthorized(callback) {
  unauthorized = callback;
}

export async function call(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${session.key() || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
  });
  if (response.status === 401) {
    session.clear();
    unauthorized();
    throw new ApiError(401, null);
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

const id = (value) => encodeURIComponent(value);

export const gateway = {
  account: () => call("v1/account"),
  providers: () => call("v1/byok/providers"),
  keys: () => call("v1/byok/keys"),
  createKey: (body) => call("v1/byok/keys", { method: "POST", body }),
  updateKey: (keyId, body) => call(`v1/byok/keys/${id(keyId)}`, { method: "PATCH", body }),
  deleteKey: (keyId) => call(`v1/byok/keys/${id(keyId)}`, { method: "DELETE" }),
  testKey: (keyId) => call(`v1/byok/keys/${id(keyId)}/test`, { method: "POST" }),
  logs: (params) => call(`v1/logs?${new URLSearchParams(params)}`),
  log: (requestId) => call(`v1/logs/${id(requestId)}`),
  usage: () => call("v1/usage"),
  apiKeys: () => call("v1/api-keys"),
  createApiKey: (body) => call("v1/api-keys", { method: "POST", body }),
  deleteApiKey: (keyId) => call(`v1/api-keys/${id(keyId)}`, { method: "DELETE" }),
};
