// The dashboard: sign-in, the header (account, credits, debt, key count), and the hash router between pages.
// State lives in the page objects; everything from the API is rendered as text.

import { ApiError, gateway, onUnauthorized, session } from "./api.js";
import { ApiKeysPage } from "./apikeys.js";
import { ByokPage } from "./byok.js";
import { byId } from "./dom.js";
import { usd } from "./format.js";
import { LogsPage } from "./logs.js";

const VIEWS = { byok: "byok-view", logs: "logs-view", "api-keys": "api-keys-view" };
let byok;
let logs;
let apiKeys;
const loaded = new Set();

function show(view) {
  byId("signin-view").hidden = view !== "signin";
  for (const [name, id] of Object.entries(VIEWS)) byId(id).hidden = name !== view;
  const signedIn = view !== "signin";
  byId("nav").hidden = byId("account").hidden = byId("sign-out").hidden = !signedIn;
  for (const name of Object.keys(VIEWS)) {
    const link = byId(`nav-${name}`);
    if (name === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

/** Fills the header; false when the key was refused (the page is then back on sign-in). */
async function refreshAccount() {
  try {
    const account = await gateway.account();
    byId("account-name").textContent = account.name || account.account_id;
    byId("credits").textContent = usd(account.credits);
    // Debt (usage above its credit hold) is shown only while there is some: BYOK alone serves until it is paid.
    byId("debt").textContent = usd(account.debt || 0);
    byId("debt-entry").hidden = !(account.debt > 0);
    byId("key-count").textContent = `${account.keys.count} of ${account.keys.limit}`;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return false;
    for (const id of ["account-name", "credits", "debt", "key-count"]) byId(id).textContent = "—";
  }
  return true;
}

function currentPage() {
  const page = location.hash.slice(1);
  return page in VIEWS ? page : "byok";
}

// The page's own content first; the header and the chart follow, so they never delay the table.
async function route({ withAccount = false } = {}) {
  if (!session.key()) {
    show("signin");
    return;
  }
  const page = currentPage();
  show(page);
  if (!loaded.has(page)) {
    loaded.add(page);
    try {
      await { logs, byok, "api-keys": apiKeys }[page].load();
      performance.mark(`dashboard:${page}-ready`); // read by the page-load benchmark
    } catch (error) {
      loaded.delete(page);
      if (error instanceof ApiError && error.status !== 401) {
        byId(`${page}-status`).textContent = `Could not load: ${error.message}`;
      }
    }
  }
  await Promise.all([withAccount ? refreshAccount() : null, page === "logs" ? logs.loadChart() : null]);
  performance.mark(`dashboard:${page}-complete`);
}

function signOut(message) {
  session.clear();
  loaded.clear();
  byId("signin-error").textContent = message || "";
  show("signin");
  byId("api-key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const input = byId("api-key");
  const key = input.value.trim();
  const error = byId("signin-error");
  if (!key) {
    error.textContent = "Enter your gateway API key.";
    input.focus();
    return;
  }
  session.save(key);
  input.value = "";
  error.textContent = "";
  // The account call proves the key before any page shows.
  if (!(await refreshAccount())) return;
  await route();
  byId("main").focus();
}

function start() {
  byok = new ByokPage({ onChange: refreshAccount });
  logs = new LogsPage();
  apiKeys = new ApiKeysPage();
  onUnauthorized(() => signOut("The gateway API key was not accepted; sign in again."));
  byId("signin-form").addEventListener("submit", signIn);
  byId("sign-out").addEventListener("click", () => signOut("Signed out."));
  window.addEventListener("hashchange", () => {
    if (location.hash.slice(1) in VIEWS) route();
  });
  route({ withAccount: true });
}

start();
