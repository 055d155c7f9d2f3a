// The logs page: the 24-hour chart, the request table with filters and Load more, and a request's Attempts.

import { ApiError, gateway } from "./api.js";
import { renderChart } from "./chart.js";
import { byId, h, replace } from "./dom.js";
import { credential, ms, usd, when } from "./format.js";

const PAGE_SIZE = 25;
// The front door a request came through (the record's `api`), as the attempts caption names it.
const API_NAMES = { chat: "Chat Completions", messages: "Messages", responses: "Responses", embeddings: "Embeddings" };

export class LogsPage {
  constructor() {
    this.filter = { credential: null, errors: false };
    this.records = [];
    this.cursor = null;
    this.selected = null;
    this.status = byId("logs-status");
    this.rows = byId("log-rows");
    // The Attempts region opens as a row right under the selected request.
    this.attempts = byId("attempts");
    this.detail = h("tr", { class: "detail" }, h("td", { colspan: 8 }, this.attempts));
    this.filterButtons = {
      byok: byId("filter-byok"),
      shared: byId("filter-shared"),
      errors: byId("filter-errors"),
    };
    this.filterButtons.byok.addEventListener("click", () => this.toggleCredential("byok"));
    this.filterButtons.shared.addEventListener("click", () => this.toggleCredential("shared"));
    this.filterButtons.errors.addEventListener("click", () => {
      this.filter.errors = !this.filter.errors;
      this.reload();
    });
    byId("load-more").addEventListener("click", () => this.more());
  }

  toggleCredential(which) {
    this.filter.credential = this.filter.credential === which ? null : which;
    this.reload();
  }

  params(cursor) {
    const params = { limit: String(PAGE_SIZE) };
    if (this.filter.credential) params.is_byok = String(this.filter.credential === "byok");
    if (this.filter.errors) params.status = "error";
    if (cursor) params.cursor = cursor;
    return params;
  }

  async load() {
    await this.reload();
  }

  async loadChart() {
    try {
      renderChart(byId("chart"), byId("chart-summary"), await gateway.usage());
    } catch (error) {
      if (error instanceof ApiError && error.status !== 401) replace(byId("chart-summary"), `Usage unavailable: ${error.message}`);
    }
  }

  async reload() {
    this.filterButtons.byok.setAttribute("aria-pressed", String(this.filter.credential === "byok"));
    this.filterButtons.shared.setAttribute("aria-pressed", String(this.filter.credential === "shared"));
    this.filterButtons.errors.setAttribute("aria-pressed", String(this.filter.errors));
    this.records = [];
    this.cursor = null;
    this.select(null);
    replace(this.rows);
    await this.fetchPage(null);
  }

  async more() {
    const firstNew = this.records.length;
    await this.fetchPage(this.cursor);
    const row = this.rows.querySelectorAll("tr[data-request-id]")[firstNew];
    if (row) row.querySelector("button").focus();
  }

  async fetchPage(cursor) {
    const generation = (this.generation = (this.generation || 0) + 1);
    this.status.textContent = "Loading…";
    try {
      const page = await gateway.logs(this.params(cursor));
      if (generation !== this.generation) return; // a newer filter won
      this.records.push(...page.data);
      this.cursor = page.next_cursor;
      this.rows.append(...page.data.map((record) => this.row(record)));
      byId("load-more").hidden = !this.cursor;
      byId("no-logs").hidden = this.records.length > 0;
      this.status.textContent = `${this.records.length} request${this.records.length === 1 ? "" : "s"} shown.`;
    } catch (error) {
      if (error instanceof ApiError && error.status !== 401) this.status.textContent = `Could not load logs: ${error.message}`;
    }
  }

  row(record) {
    const usage = record.usage || {};
    const tr = h(
      "tr",
      { "data-request-id": record.request_id, class: record.status === "error" ? "error" : "" },
      h(
        "td",
        {},
        h(
          "button",
          { type: "button", class: "link", "aria-label": `Attempts of the request at ${when(record.created_at)}`, onclick: () => this.select(record, tr) },
          when(record.created_at),
        ),
      ),
      h("td", {}, record.api || "chat"),
      h("td", {}, record.model),
      h("td", {}, record.provider || "—"),
      h("td", {}, credential(record.is_byok)),
      h("td", {}, record.status === "success" ? `OK ${record.http_status}` : `Error ${record.http_status}`),
      h("td", { class: "num" }, ms(record.latency_ms)),
      h("td", { class: "num" }, `${usage.prompt_tokens ?? 0} → ${usage.completion_tokens ?? 0}`),
      h("td", { class: "num" }, usd(record.cost)),
    );
    tr.addEventListener("click", (event) => {
      if (!(event.target instanceof HTMLButtonElement)) this.select(record, tr);
    });
    return tr;
  }

  select(record, tr) {
    for (const row of this.rows.children) row.removeAttribute("aria-current");
    this.attempts.hidden = record === null;
    if (record === null) {
      this.detail.remove();
      return;
    }
    tr.setAttribute("aria-current", "true");
    tr.after(this.detail);
    replace(
      byId("attempts-caption"),
      `${record.request_id} · ${API_NAMES[record.api] ?? record.api ?? "chat"} · ${record.model} · ${record.attempts.length} attempt${record.attempts.length === 1 ? "" : "s"}`,
    );
    replace(
      byId("attempt-rows"),
      record.attempts.map((attempt) =>
        h(
          "tr",
          { class: attempt.outcome === "success" ? "" : "error" },
          h("td", { class: "num" }, attempt.attempt),
          h("td", {}, attempt.provider),
          h("td", {}, attempt.credential === "byok" ? "BYOK" : "Shared"),
          h("td", {}, attempt.status_code === null || attempt.status_code === undefined ? attempt.outcome : `${attempt.status_code} ${attempt.outcome}`),
          h("td", { class: "num" }, ms(attempt.latency_ms)),
          h("td", {}, attempt.model || "—"),
          h("td", { class: "upstream" }, attempt.error || ""),
        ),
      ),
    );
    byId("attempts-title").focus();
  }
}
