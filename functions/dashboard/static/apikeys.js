// The API keys page: the account's gateway keys with their limits and spend, create (the key shown once, with a
// copy button) and revoke (after a confirmation). Management keys only: another key sees why it cannot.

import { ApiError, gateway } from "./api.js";
import { byId, h, replace } from "./dom.js";
import { usd, when } from "./format.js";

function spendBar(key) {
  if (!key.limit) return "No budget";
  const share = Math.min(1, key.spent / key.limit.usd);
  return h(
    "div",
    { class: "spend" },
    h("progress", { max: "1", value: String(share), "aria-label": `Spent of the ${key.limit.period} budget` }),
    ` ${usd(key.spent)} of ${usd(key.limit.usd)} per ${key.limit.period}`,
  );
}

export class ApiKeysPage {
  constructor() {
    this.rows = byId("api-key-rows");
    this.status = byId("api-keys-status");
    this.confirm = byId("revoke-dialog");
    byId("api-key-form").addEventListener("submit", (event) => this.create(event));
    byId("copy-key").addEventListener("click", () => this.copy());
  }

  async load() {
    try {
      const { data } = await gateway.apiKeys();
      this.render(data);
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) {
        this.status.textContent = "This key cannot manage API keys: sign in with a management key.";
        return;
      }
      throw error;
    }
  }

  render(keys) {
    byId("api-key-table").hidden = keys.length === 0;
    replace(
      this.rows,
      keys.map((key) =>
        h(
          "tr",
          {},
          h("td", {}, key.name || "—"),
          h("td", {}, key.hint || "—"),
          h("td", {}, key.management ? "Management" : "Ordinary"),
          h("td", {}, spendBar(key)),
          h("td", {}, key.rate_limit_rpm ? `${key.rate_limit_rpm} / min` : "—"),
          h("td", {}, key.allowed_models ? key.allowed_models.join(", ") : "All models"),
          h("td", {}, key.last_used_at ? when(key.last_used_at) : "Never"),
          h("td", {}, h("button", { type: "button", onclick: () => this.revoke(key) }, "Revoke")),
        ),
      ),
    );
  }

  body(form) {
    const value = (name) => form.elements[name].value.trim();
    const body = { name: value("name"), management: form.elements.management.checked };
    if (value("usd")) body.limit = { usd: Number(value("usd")), period: value("period") };
    if (value("rpm")) body.rate_limit_rpm = Number(value("rpm"));
    if (value("models")) body.allowed_models = value("models").split(",").map((m) => m.trim()).filter(Boolean);
    return body;
  }

  async create(event) {
    event.preventDefault();
    const form = event.target;
    const error = byId("api-key-error");
    error.textContent = "";
    try {
      const created = await gateway.createApiKey(this.body(form));
      form.reset();
      byId("new-key").value = created.key; // shown this once: the gateway keeps only its hash
      byId("new-key-panel").hidden = false;
      byId("copy-status").textContent = "";
      byId("new-key").focus();
      await this.load();
    } catch (caught) {
      if (!(caught instanceof ApiError)) throw caught;
      error.textContent = caught.message;
    }
  }

  async copy() {
    const field = byId("new-key");
    try {
      await navigator.clipboard.writeText(field.value);
      byId("copy-status").textContent = "Copied.";
    } catch {
      field.select();
      byId("copy-status").textContent = "Select the key and copy it.";
    }
  }

  revoke(key) {
    byId("revoke-text").textContent = `Revoke “${key.name || key.hint}”? Requests with it fail at once.`;
    const yes = byId("revoke-yes");
    const no = byId("revoke-no");
    const close = () => {
      yes.onclick = no.onclick = null;
      this.confirm.close();
    };
    no.onclick = close;
    yes.onclick = async () => {
      close();
      await gateway.deleteApiKey(key.id);
      this.status.textContent = `Revoked ${key.name || key.hint}.`;
      await this.load();
    };
    this.confirm.showModal();
    no.focus();
  }
}
