// How numbers, times and outcomes read on the page.

const dateTime = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});
const hourOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

export function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso ?? "") : dateTime.format(date);
}

export function hour(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : hourOnly.format(date);
}

export function usd(value) {
  const amount = Number(value) || 0;
  if (amount === 0) return "$0";
  if (Math.abs(amount) < 0.01) return `$${amount.toPrecision(2)}`;
  return `$${amount.toFixed(2)}`;
}

export function ms(value) {
  if (value === null || value === undefined) return "—";
  const n = Number(value);
  return n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${Math.round(n)} ms`;
}

export function credential(isByok) {
  return isByok ? "BYOK" : "Shared";
}

export function testSummary(test) {
  if (!test) return "Never tested";
  const at = test.tested_at ? ` · ${when(test.tested_at)}` : "";
  if (test.ok) return `Passed (${ms(test.latency_ms)})${at}`;
  const error = test.error || {};
  const status = error.status_code ? ` ${error.status_code}` : "";
  return `Failed${status}: ${error.message || "no answer"}${at}`;
}
