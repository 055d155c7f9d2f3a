// The BYOK page: every provider with its "Add <name> key" button, the add / rotate dialog and the key list.

import { ApiError, gateway } from "./api.js";
import { byId, h, replace, uid } from "./dom.js";
import { testSummary } from "./format.js";

// What a person needs to find each provider's credentials (plain text; the page links nowhere else).
const WHERE_TO_FIND = {
  openai: "Create a secret key at platform.openai.com → API keys (it starts with sk-) and paste it here.",
  anthropic: "Create a key in the Claude Console (console.anthropic.com → API keys; it starts with sk-ant-).",
  deepseek: "Create a key at platform.deepseek.com → API keys (it starts with sk-).",
  "google-ai-studio": "Create a key in Google AI Studio (aistudio.google.com → Get API key; it starts with AIza).",
  "amazon-bedrock":
    "Paste either a Bedrock API key (Amazon Bedrock console → API keys), or AWS credentials JSON for an IAM " +
    'identity allowed to call bedrock:Converse: {"accessKeyId": "AKIA…", "secretAccessKey": "…", ' +
    '"region": "us-east-1"} ("sessionToken" too for temporary credentials).',
  "google-vertex":
    "Paste a service-account JSON key: Google Cloud console → IAM & Admin → Service accounts → an account " +
    "with the Vertex AI User role (roles/aiplatform.user) → Keys → Add key → Create new key → JSON. Paste the whole file.",
};

const FORMAT_LABELS = {
  api_key: "an API key",
  aws_credentials: "AWS credentials JSON",
  service_account: "a service-account JSON key",
};

export class ByokPage {
  constructor({ onChange }) {
    this.onChange = onChange;
    this.providers = [];
    this.keys = [];
    this.dialog = byId("key-dialog");
    this.confirm = byId("confirm-dialog");
    this.status = byId("byok-status");
  }

  providerName(slug) {
    const provider = this.providers.find((p) => p.slug === slug);
    return provider ? provider.name : slug;
  }

  async load() {
    const [providers, keys] = await Promise.all([gateway.providers(), gateway.keys()]);
    this.providers = providers.data;
    this.keys = keys.data;
    this.renderProviders();
    this.renderKeys();
  }

  async reloadKeys() {
    this.keys = (await gateway.keys()).data;
    this.renderKeys();
    this.onChange();
  }

  say(text) {
    this.status.textContent = text;
  }

  renderProviders() {
    replace(
      byId("provider-list"),
      this.providers.map((provider) =>
        h(
          "li",
          { class: "provider" },
          h("span", { class: "provider-name" }, provider.name),
          h(
            "span",
            { class: "provider-formats" },
            provider.formats.map((f) => FORMAT_LABELS[f.type] || f.type).join(" or "),
          ),
          h("button", { type: "button", onclick: () => this.openAdd(provider) }, `Add ${provider.name} key`),
        ),
      ),
    );
  }

  renderKeys() {
    const body = byId("key-rows");
    byId("no-keys").hidden = this.keys.length > 0;
    byId("key-table").hidden = this.keys.length === 0;
    replace(
      body,
      this.keys.map((key) => {
        const nameId = uid("key-name");
        const label = key.name || "(unnamed)";
        return h(
          "tr",
          { "data-key-id": key.id },
          h("td", {}, this.providerName(key.provider)),
          h("td", { id: nameId }, label),
          h("td", { class: "mono" }, key.hint),
          h("td", { class: key.last_test ? (key.last_test.ok ? "ok" : "bad") : "" }, testSummary(key.last_test)),
          h(
            "td",
            {},
            h("input", {
              type: "checkbox",
              role: "switch",
              "aria-label": "Enabled",
              "aria-describedby": nameId,
              checked: key.enabled,
              onchange: (event) => this.setEnabled(key, event.target),
            }),
          ),
          h(
            "td",
            { class: "actions" },
            h("button", { type: "button", "aria-describedby": nameId, onclick: (e) => this.test(key, e.target) }, "Test"),
            h("button", { type: "button", "aria-describedby": nameId, onclick: () => this.openRotate(key) }, "Rotate"),
            h(
              "button",
              { type: "button", class: "danger", "aria-describedby": nameId, onclick: () => this.askDelete(key) },
              "Delete",
            ),
          ),
        );
      }),
    );
  }

  async setEnabled(key, input) {
    const wanted = input.checked;
    input.disabled = true;
    try {
      const updated = await gateway.updateKey(key.id, { enabled: wanted });
      Object.assign(key, updated);
      this.say(`${key.name || "Key"} ${wanted ? "enabled" : "disabled"}.`);
    } catch (error) {
      input.checked = !wanted;
      if (error instanceof ApiError && error.status !== 401) this.say(`Could not change the key: ${error.message}`);
    } finally {
      input.disabled = false;
    }
  }

  async test(key, button) {
    button.disabled = true;
    this.say(`Testing ${key.name || "key"}…`);
    try {
      const result = await gateway.testKey(key.id);
      this.say(`${key.name || "Key"}: ${testSummary(result)}`);
      await this.reloadKeys();
      this.focusRow(key.id, "Test"); // the list was redrawn: keep a keyboard user where they were
    } catch (error) {
      if (error instanceof ApiError && error.status !== 401) this.say(`Test failed to run: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  focusRow(keyId, buttonText) {
    const row = [...byId("key-rows").children].find((tr) => tr.dataset.keyId === keyId);
    const button = row && [...row.querySelectorAll("button")].find((b) => b.textContent === buttonText);
    if (button) button.focus();
  }

  askDelete(key) {
    const label = key.name || `${this.providerName(key.provider)} key ${key.hint}`;
    replace(byId("confirm-text"), `Delete “${label}”? Requests stop using it at once; this cannot be undone.`);
    const yes = byId("confirm-yes");
    const no = byId("confirm-no");
    const close = () => this.confirm.close();
    yes.onclick = async () => {
      yes.disabled = true;
      try {
        await gateway.deleteKey(key.id);
        close();
        this.say(`Deleted ${label}.`);
        await this.reloadKeys();
        byId("keys-title").focus();
      } catch (error) {
        close();
        if (error instanceof ApiError && error.status !== 401) this.say(`Could not delete: ${error.message}`);
      } finally {
        yes.disabled = false;
      }
    };
    no.onclick = close;
    this.confirm.showModal();
    no.focus();
  }

  openAdd(provider) {
    this.openDialog({ provider, key: null });
  }

  openRotate(key) {
    const provider = this.providers.find((p) => p.slug === key.provider);
    if (provider) this.openDialog({ provider, key });
  }

  // One dialog for both: adding a key (every field) and rotating one (new credentials only).
  openDialog({ provider, key }) {
    const rotating = key !== null;
    const field = (id, label, control, help) =>
      h(
        "div",
        { class: "field" },
        h("label", { for: id }, label),
        control,
        help ? h("p", { class: "help", id: `${id}-help` }, help) : null,
      );
    const formats = provider.formats.map((f) => FORMAT_LABELS[f.type] || f.type).join(" or ");
    const credentials = h("textarea", {
      id: "kd-credentials",
      rows: provider.formats.some((f) => f.type !== "api_key") ? 8 : 3,
      required: true,
      spellcheck: "false",
      autocomplete: "off",
      "aria-describedby": "kd-credentials-help",
    });
    const parts = [
      field("kd-credentials", "Credentials", credentials, WHERE_TO_FIND[provider.slug] || `Paste ${formats}.`),
    ];
    let name;
    let region;
    let enabled;
    let always;
    let priority;
    let models;
    let throughput;
    if (!rotating) {
      name = h("input", { id: "kd-name", type: "text", maxlength: 100, autocomplete: "off" });
      parts.push(field("kd-name", "Name", name, "Optional; shown in this list and in nothing sent upstream."));
      if (provider.region && provider.region.accepted) {
        region = h("input", {
          id: "kd-region",
          type: "text",
          autocomplete: "off",
          placeholder: provider.region.default,
          pattern: provider.region.pattern,
          "aria-describedby": "kd-region-help",
        });
        parts.push(
          field(
            "kd-region",
            "Region",
            region,
            `Where requests go, e.g. ${provider.region.example}. Empty uses the credentials' region or ${provider.region.default}.`,
          ),
        );
      }
      enabled = h("input", { id: "kd-enabled", type: "checkbox", role: "switch", checked: true });
      always = h("input", { id: "kd-always", type: "checkbox", "aria-describedby": "kd-always-help" });
      parts.push(
        h("div", { class: "check" }, enabled, h("label", { for: "kd-enabled" }, "Enabled")),
        h(
          "div",
          { class: "check" },
          always,
          h("label", { for: "kd-always" }, "Always use this key"),
          h("p", { class: "help", id: "kd-always-help" }, "Never use the gateway's shared capacity for this provider: when your keys for it fail, there is no shared fallback."),
        ),
      );
      priority = h(
        "select",
        { id: "kd-priority", "aria-describedby": "kd-priority-help" },
        h("option", { value: "first" }, "First, before shared capacity"),
        h("option", { value: "after_shared" }, "After shared capacity fails"),
      );
      parts.push(
        field("kd-priority", "Priority", priority, "When this key is tried: before all shared capacity, or only once it has failed."),
      );
      models = h("input", { id: "kd-models", type: "text", autocomplete: "off", "aria-describedby": "kd-models-help" });
      parts.push(field("kd-models", "Allowed models", models, "Comma-separated catalog ids; empty for every model."));
      if (provider.provisioned_throughput) {
        throughput = h("input", { id: "kd-throughput", type: "checkbox", "aria-describedby": "kd-throughput-help" });
        parts.push(
          h(
            "div",
            { class: "check" },
            throughput,
            h("label", { for: "kd-throughput" }, "Provisioned throughput"),
            h(
              "p",
              { class: "help", id: "kd-throughput-help" },
              "Send requests as dedicated traffic: past your purchased capacity they fail fast with 429 and move on to shared capacity.",
            ),
          ),
        );
      }
    }
    const error = h("div", { class: "dialog-error", role: "alert", id: "kd-error" });
    const submit = h("button", { type: "submit", class: "primary" }, "Test Connection");
    const cancel = h("button", { type: "button", onclick: () => this.dialog.close() }, "Cancel");
    const title = rotating ? `Rotate ${key.name || provider.name + " key"}` : `Add ${provider.name} key`;
    const intro = rotating
      ? "Paste the new credentials. They are tested first; only if the test passes do they replace the stored ones."
      : "Test Connection sends one small request to the provider with these credentials; the key is added only if it passes.";
    const form = h(
      "form",
      {
        novalidate: true,
        onsubmit: async (event) => {
          event.preventDefault();
          error.replaceChildren();
          submit.disabled = true;
          submit.textContent = "Testing…";
          try {
            const done = rotating
              ? await this.rotate(key, provider, credentials.value)
              : await this.add(provider, {
                  credentials: credentials.value,
                  name,
                  region,
                  enabled,
                  always,
                  priority,
                  models,
                  throughput,
                });
            if (done) {
              this.dialog.close();
              if (typeof done === "function") done();
            }
          } catch (failure) {
            if (!(failure instanceof ApiError && failure.status === 401)) error.append(describe(failure));
          } finally {
            submit.disabled = false;
            submit.textContent = "Test Connection";
          }
        },
      },
      h("h2", { id: "key-dialog-title" }, title),
      h("p", { class: "help" }, intro),
      parts,
      error,
      h("div", { class: "buttons" }, submit, cancel),
    );
    replace(this.dialog, form);
    this.dialog.showModal();
    credentials.focus();
  }

  async add(provider, fields) {
    const body = {
      provider: provider.slug,
      credentials: parseCredentials(fields.credentials),
      enabled: fields.enabled.checked,
      always_use: fields.always.checked,
      priority: fields.priority.value,
      test: true,
    };
    const models = fields.models.value.split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length) body.allowed_models = models;
    const name = fields.name.value.trim();
    if (name) body.name = name;
    if (fields.region && fields.region.value.trim()) body.region = fields.region.value.trim();
    if (fields.throughput) body.provisioned_throughput = fields.throughput.checked;
    const key = await gateway.createKey(body);
    this.say(`Added ${key.name || provider.name + " key"}: the connection test passed.`);
    await this.reloadKeys();
    return true;
  }

  // A rotation must not replace working credentials with broken ones: the new credentials are first tested
  // as a throw-away disabled key, which is deleted again whatever the outcome.
  async rotate(key, provider, raw) {
    const credentials = parseCredentials(raw);
    const probe = { provider: provider.slug, credentials, enabled: false, test: true, name: "rotation test" };
    if (key.region) probe.region = key.region;
    if (key.provisioned_throughput) probe.provisioned_throughput = true;
    const tested = await gateway.createKey(probe);
    await gateway.deleteKey(tested.id);
    await gateway.updateKey(key.id, { credentials });
    this.say(`Rotated ${key.name || provider.name + " key"}: the new credentials passed the test and replace the old ones.`);
    await this.reloadKeys();
    return () => this.focusRow(key.id, "Rotate"); // after the dialog closes: its opener was redrawn
  }
}

class InputError extends Error {}

function parseCredentials(raw) {
  const text = raw.trim();
  if (!text) throw new InputError("Paste the credentials first.");
  if (!text.startsWith("{")) return text;
  try {
    return JSON.parse(text);
  } catch {
    throw new InputError("The credentials look like JSON but do not parse; paste the whole file or object.");
  }
}

function describe(failure) {
  if (failure instanceof InputError) return h("p", {}, failure.message);
  if (!(failure instanceof ApiError)) return h("p", {}, "The gateway could not be reached; try again.");
  const test = failure.error.test;
  if (test && !test.ok) {
    const upstream = test.error || {};
    return h(
      "div",
      {},
      h("p", {}, "Connection test failed; nothing was stored."),
      h("p", { class: "upstream" }, `${upstream.status_code ? upstream.status_code + ": " : ""}${upstream.message || "no answer"}`),
    );
  }
  return h("p", {}, failure.message);
}
