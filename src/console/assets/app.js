// The console's pages. Plain ES module, no build step. Every value from the
// console is put on the page as text (never as HTML). Money is shown exactly as
// the console sends it (decimal strings); charts use numbers for coordinates only.

import { verifyReceipt, openNote, hexToBytes, keyId } from "./verify.js";

const uPlot = window.uPlot;
const $ = (sel) => document.querySelector(sel);

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const show = (v) => (v === null || v === undefined || v === "" ? "-" : String(v));
const cell = (field, value, cls) => h("td", { "data-field": field, class: cls }, show(value));
const num = (field, value) => cell(field, value, "num");

async function api(path) {
  const r = await fetch(path, { headers: { accept: "application/json" }, credentials: "same-origin" });
  let body;
  try { body = await r.json(); } catch { body = { error: `${r.status} ${r.statusText}` }; }
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}

function setProblem(text) {
  const p = $("#problem");
  p.hidden = !text;
  p.textContent = text || "";
}

// ---- state

let me = null;
let page = null;
const charts = new Map();

function pinnedKey() {
  return localStorage.getItem("dbond.ledgerKey." + me.origin) || me.pinned_ledger_key || "";
}

// ---- charts (uPlot)

function chart(key, container, opts, data) {
  const old = charts.get(key);
  if (old) old.destroy();
  const width = Math.max(280, Math.min(560, container.clientWidth || 480));
  const u = new uPlot({ width, height: 200, ...opts }, data, container);
  charts.set(key, u);
}

function barsChart(key, container, title, labels, values, label) {
  const xs = labels.map((_, i) => i);
  // At most about six labels under the bars, so they never overlap.
  const every = Math.max(1, Math.ceil(labels.length / 6));
  chart(key, container, {
    title,
    scales: { x: { time: false, range: [-0.5, Math.max(0.5, labels.length - 0.5)] }, y: { range: (_, _min, max) => [0, Math.max(1, max) * 1.1] } },
    axes: [{ values: (_, ticks) => ticks.map((t) => labels[t] ?? ""), splits: () => xs.filter((i) => i % every === 0) }, { size: 70 }],
    series: [{}, { label, fill: "rgba(30,100,170,0.5)", stroke: "rgb(30,100,170)", paths: uPlot.paths.bars({ size: [0.6, 60] }), points: { show: false } }],
    legend: { show: false },
  }, [xs, values]);
}

function lineChart(key, container, title, xs, ys, label) {
  // At least a minute wide, so a burst within one second still reads as time.
  const lo = xs[0], hi = Math.max(xs[xs.length - 1], lo + 60);
  chart(key, container, {
    title,
    scales: { x: { time: true, range: [lo, hi] } },
    axes: [{}, { size: 60 }],
    series: [{}, { label, stroke: "rgb(30,100,170)", width: 2, paths: uPlot.paths.stepped({ align: 1 }) }],
    legend: { show: false },
  }, [xs, ys]);
}

// ---- treasury

function bucketTable(cls, title, rows, extra) {
  return h("div", { class: "panel" },
    h("h4", {}, title),
    h("table", { class: "grid " + cls },
      h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", { class: "num" }, "Subscriptions"), h("th", { class: "num" }, "Units"))),
      h("tbody", {}, rows.map((b) => h("tr", { "data-key": b.key }, cell("key", b.key), num("subscriptions", b.subscriptions), num("units", b.units))))),
    extra || null);
}

function renderBook(s, container) {
  const b = s.book;
  const w = b.would_be_allotment;
  const id = s.series_id;
  const byCountryChart = h("div", { class: "chart" });
  const timelineChart = h("div", { class: "chart" });
  const rateChart = h("div", { class: "chart" });
  const card = h("div", { class: "book", id: "book-" + id },
    h("h3", {}, `Book of ${id} (${s.status})`),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "label" }, "Subscriptions"), h("div", { class: "figure", "data-field": "subscriptions" }, b.subscriptions)),
      h("div", { class: "card" }, h("div", { class: "label" }, "Units subscribed"), h("div", { class: "figure", "data-field": "subscribed_units" }, b.subscribed_units)),
      h("div", { class: "card" }, h("div", { class: "label" }, "Cap"), h("div", { class: "figure" }, b.cap_units)),
      h("div", { class: "card" }, h("div", { class: "label" }, "Oversubscription (book / cap, 2 dp)"), h("div", { class: "figure", "data-field": "oversubscription" }, show(b.oversubscription))),
      h("div", { class: "card" }, h("div", { class: "label" }, "Subscriptions in the last minute"), h("div", { class: "figure", "data-field": "per_minute" }, b.per_minute))),
    h("div", { class: "row" }, timelineChart, byCountryChart, rateChart),
    h("div", { class: "row" },
      bucketTable("by-bank", "By bank", b.by_bank),
      bucketTable("by-country", "By residence country", b.by_country),
      bucketTable("by-category", "By diaspora category", b.by_category)),
    h("div", { class: "panel wide" },
      h("h4", {}, `If the book closed now: ${w.rule.replaceAll("_", " ")} allotment of ${w.cap_units} units`),
      h("p", { class: "note" }, `The registry's own allotment function over the live book in ledger order: ${w.allotted_units} units allotted, ${w.refunded_units} refunded. Amounts due are each subscription's units times the price per unit, rounded to the minor unit half-even, then summed.`),
      h("table", { class: "grid would-be" },
        h("thead", {}, h("tr", {}, h("th", {}, "Bank"), h("th", { class: "num" }, "Subscribed"), h("th", { class: "num" }, "Allotted"), h("th", { class: "num" }, "Refunded"), h("th", { class: "num" }, `Due (${s.currency})`))),
        h("tbody", {}, w.by_bank.map((a) => h("tr", { "data-key": a.bank_id },
          cell("bank_id", a.bank_id), num("subscribed_units", a.subscribed_units), num("allotted_units", a.allotted_units),
          num("refunded_units", a.refunded_units), num("amount_due", a.amount_due)))))));
  container.append(card);
  const t = b.timeline;
  // The book was empty before its first subscription.
  if (t.length > 0) lineChart("timeline-" + id, timelineChart, "Units in the book over time", [t[0][0] - 1, ...t.map((p) => p[0])], [0, ...t.map((p) => p[1])], "units");
  if (b.by_country.length > 0) barsChart("country-" + id, byCountryChart, "Units by residence country", b.by_country.map((x) => x.key), b.by_country.map((x) => x.units), "units");
  const r = b.per_minute_history;
  if (r.length > 0) barsChart("rate-" + id, rateChart, "Subscriptions per minute", r.map((p) => new Date(p[0] * 1000).toISOString().slice(11, 16)), r.map((p) => p[1]), "subscriptions");
}

function renderDebt(s, container) {
  const d = s.debt_service;
  const profile = h("div", { class: "chart" });
  container.append(h("div", { class: "book", id: "debt-" + s.series_id },
    h("h3", {}, `Debt service of ${s.series_id} (${s.status})`),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "label" }, "Units outstanding"), h("div", { class: "figure" }, d.units_outstanding)),
      h("div", { class: "card" }, h("div", { class: "label" }, `Paid (${d.currency})`), h("div", { class: "figure", "data-field": "paid" }, d.paid)),
      h("div", { class: "card" }, h("div", { class: "label" }, `Still owed (${d.currency})`), h("div", { class: "figure", "data-field": "owed" }, d.owed)),
      h("div", { class: "card" }, h("div", { class: "label" }, "Waiting for a fixing"), h("div", { class: "figure" }, d.waiting_for_fixing))),
    h("p", { class: "note" }, "Paid lines are the ledger's totals (rounded per holding); the others are units times the amount per unit, unrounded. Sums are exact."),
    h("div", { class: "row" }, profile,
      h("div", { class: "panel" }, h("h4", {}, "Coupon runs"),
        h("table", { class: "grid runs" }, h("thead", {}, h("tr", {}, h("th", {}, "Event"), h("th", {}, "Paid on"), h("th", { class: "num" }, "Per unit"), h("th", { class: "num" }, "Holdings"), h("th", { class: "num" }, "Total"))),
          h("tbody", {}, s.runs.map((r) => h("tr", {}, cell("event_id", r.event_id), cell("payment_date", r.payment_date), num("amount_per_unit", r.amount_per_unit), num("holdings", r.holdings), num("total", `${r.total} ${r.currency}`))))),
        s.runs.length === 0 ? h("p", { class: "note" }, "No coupon or redemption paid yet.") : null)),
    h("div", { class: "scroll" }, h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, h("th", {}, "Payment date"), h("th", {}, "Kind"), h("th", { class: "num" }, "Amount"), h("th", {}, "Status"))),
      h("tbody", {}, d.lines.map((l) => h("tr", {}, cell("payment_date", l.payment_date), cell("kind", l.kind), num("amount", l.amount), cell("status", l.status))))))));
  const dated = d.lines.filter((l) => l.amount !== "");
  if (dated.length > 0) barsChart("debt-" + s.series_id, profile, `Debt-service profile (${d.currency})`, dated.map((l) => l.payment_date), dated.map((l) => Number(l.amount)), d.currency);
}

async function renderTreasury() {
  const v = await api("/api/treasury");
  const body = $("#programme tbody");
  body.replaceChildren(...v.series.map((s) => h("tr", { id: "series-" + s.series_id, "data-status": s.status },
    cell("series_id", s.series_id), cell("status", s.status), num("cap_units", s.cap_units),
    num("subscribed_units", s.subscribed_units), num("allotted_units", s.allotted_units),
    num("amount_raised", s.amount_raised ? `${s.amount_raised} ${s.currency}` : ""),
    num("price_per_unit", `${s.price_per_unit} ${s.currency}`), num("coupon_rate", s.coupon_rate),
    num("discount_bps", s.discount_bps),
    h("td", { class: "num", "data-field": "issuer_savings_per_unit", title: s.issuer_savings_per_unit ? `${s.issuer_savings_per_unit} unrounded` : "" },
      s.issuer_savings_per_unit_rounded ? `${s.issuer_savings_per_unit_rounded} ${s.currency}` : "-"),
    h("td", { class: "num", "data-field": "issuer_savings_total", title: s.issuer_savings_total ? `on ${s.issuer_savings_units} units: ${s.issuer_savings_basis}; rounded to the minor unit half-even` : "" },
      s.issuer_savings_total ? `${s.issuer_savings_total} ${s.currency}` : "-"))));
  const books = $("#books");
  const debt = $("#debt");
  for (const [k, c] of charts) { if (k.startsWith("timeline-") || k.startsWith("country-") || k.startsWith("rate-") || k.startsWith("debt-")) { c.destroy(); charts.delete(k); } }
  books.replaceChildren();
  debt.replaceChildren();
  if (!v.follows_entries) books.append(h("p", { class: "note" }, "This participant may not stream the ledger, so no live book is shown."));
  for (const s of v.series) {
    if (s.book) renderBook(s, books);
    if (s.debt_service) renderDebt(s, debt);
  }
}

// ---- bank

// Proof checks already made, by the element id that shows them, so a page
// redrawn by a live update keeps them.
const proofResults = new Map();

function paintProof(id) {
  const out = document.getElementById(id);
  const r = proofResults.get(id);
  if (!out || !r) return;
  out.dataset.verdict = r.verdict;
  out.textContent = r.text;
  out.title = r.title || "";
}

async function checkProof(query, id, brief, stillShown = () => true) {
  proofResults.set(id, { verdict: "checking", text: "checking…" });
  paintProof(id);
  let result;
  try {
    const receipt = await api("/api/proof?" + query);
    const r = await verifyReceipt(receipt, pinnedKey());
    const details = r.ok ? r.steps.join("; ") : r.reason;
    result = {
      verdict: r.ok ? "verified" : "failed",
      text: r.ok ? (brief ? "verified" : "verified: " + details) : "does not verify: " + details,
      title: brief ? details : "",
    };
  } catch (e) {
    result = { verdict: "failed", text: "does not verify: " + e.message };
  }
  if (!stillShown()) return;
  proofResults.set(id, result);
  paintProof(id);
}

async function renderBank() {
  const v = await api("/api/bank");
  $("#bank-summary").replaceChildren(
    h("div", { class: "card" }, h("div", { class: "label" }, "Subscriptions"), h("div", { class: "figure", "data-field": "subscriptions" }, v.subscriptions.length)),
    ...v.to_pay.map((p) => h("div", { class: "card" }, h("div", { class: "label" }, `To pay for allotments (${p.currency})`), h("div", { class: "figure", "data-field": "to_pay" }, p.amount))),
    h("div", { class: "card" }, h("div", { class: "label" }, "Clients holding bonds"), h("div", { class: "figure" }, v.holders)));
  $("#bank-settlements tbody").replaceChildren(...v.settlements_due.map((s) => h("tr", {},
    num("subscription_id", s.subscription_id), cell("series_id", s.series_id), cell("investor_ref", s.investor_ref),
    num("allotted_units", s.allotted_units), num("amount_due", `${s.amount_due} ${s.currency}`), cell("deadline", s.deadline))));
  $("#bank-receive tbody").replaceChildren(...v.to_receive.map((p) => h("tr", {},
    cell("payment_date", p.payment_date), cell("kind", p.kind), num("holdings", p.holdings), num("amount", `${p.amount} ${p.currency}`))));
  $("#bank-subscriptions tbody").replaceChildren(...v.subscriptions.map((s) => {
    const verdictId = "proof-subscription-" + s.subscription_id;
    const out = h("span", { class: "verdict", id: verdictId });
    return h("tr", { id: "subscription-" + s.subscription_id },
      num("subscription_id", s.subscription_id), cell("series_id", s.series_id), cell("investor_ref", s.investor_ref),
      cell("category", s.category), cell("country", s.country), num("units", s.units), cell("status", s.status),
      num("allotted_units", s.allotted_units), num("refunded_units", s.refunded_units),
      num("amount_due", s.amount_due ? `${s.amount_due} ${s.currency}` : ""),
      h("td", {}, h("button", { type: "button", onclick: () => checkProof("subscription=" + s.subscription_id, verdictId, true) }, "Check"), " ", out));
  }));
  for (const id of proofResults.keys()) paintProof(id);
  $("#bank-holdings-note").textContent = v.holders > v.holders_shown ? `Showing ${v.holders_shown} of ${v.holders} clients.` : "";
  $("#bank-holdings tbody").replaceChildren(...v.holdings.map((x) => h("tr", {},
    cell("series_id", x.series_id), cell("investor_ref", x.investor_ref), num("units", x.units), num("redeemed_units", x.redeemed_units), num("accrued", `${x.accrued} ${x.currency}`))));
}

// ---- auditor

let entriesBefore = null;

async function renderKeyNote() {
  const note = $("#key-note");
  const pinned = pinnedKey();
  $("#ledger-key").value = pinned;
  if (!pinned) { note.textContent = "No key pinned: proofs cannot be checked until you pin the ledger key you trust."; return; }
  try {
    const raw = hexToBytes(pinned);
    if (raw.length !== 32) throw new Error("a ledger key is 32 bytes (64 hex digits)");
    const id = await keyId(raw);
    const same = pinned.toLowerCase() === me.server_ledger_key;
    note.textContent = `Pinned key id ${id}` + (same ? " (the server reports the same key)." : ". The server reports another key: its proofs will not verify.");
  } catch (e) {
    note.textContent = "The pinned key is not usable: " + e.message;
  }
}

async function renderAuditor() {
  const v = await api("/api/ledger");
  $("#ledger-size").textContent = v.size;
  const key = pinnedKey();
  const rows = [];
  for (const c of v.checkpoints) {
    const sig = h("td", { "data-field": "signature" }, "-");
    const root = (c.note.split("\n")[2] || "");
    rows.push(h("tr", {}, num("size", c.size), h("td", { class: "mono" }, root), cell("fetched_at", c.fetched_at.slice(0, 19).replace("T", " ")), sig));
    if (key) {
      openNote(c.note, v.key_name, hexToBytes(key)).then(
        () => { sig.textContent = "signed by the pinned key"; sig.dataset.verdict = "verified"; },
        (e) => { sig.textContent = "does not verify: " + e.message; sig.dataset.verdict = "failed"; });
    }
  }
  $("#checkpoints tbody").replaceChildren(...rows);
  if (v.follows_entries) await renderEntries();
}

async function renderEntries() {
  const q = entriesBefore === null ? "" : `?before=${entriesBefore}`;
  const v = await api("/api/entries" + q);
  $("#entries tbody").replaceChildren(...v.entries.map((e) => h("tr", { id: "entry-" + e.index },
    h("td", { class: "num" }, h("a", { href: "#auditor/" + e.index }, e.index)),
    cell("recorded_at", (e.recorded_at || "").slice(0, 19).replace("T", " ")), cell("kind", e.kind),
    cell("actor", e.actor || (e.cause_index !== null && e.cause_index !== undefined ? `(from entry ${e.cause_index})` : e.key_id)),
    cell("description", e.description))));
  $("#older").onclick = () => { entriesBefore = v.start; renderEntries().catch((e) => setProblem(e.message)); };
}

let entryShown = null;

async function openEntryDetail(index) {
  entryShown = Number(index);
  const box = $("#entry");
  box.hidden = false;
  box.replaceChildren(h("p", {}, `Loading entry ${index}…`));
  let e;
  try { e = await api("/api/entry/" + index); } catch (err) { box.replaceChildren(h("p", { class: "problem" }, err.message)); return; }
  proofResults.delete("proof-result");
  const verdict = h("div", { id: "proof-result", class: "verdict", "data-verdict": "none" }, "not checked yet");
  const dl = (pairs) => h("dl", {}, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { class: "mono" }, show(v))]));
  box.replaceChildren(
    h("h3", {}, `Entry ${e.index}: ${e.kind}`),
    h("p", {}, e.description),
    dl([["Recorded at", e.recorded_at], ["Entry hash (leaf)", e.entry_hash], ["Previous entry's hash", e.prev_hash],
      ["Ledger signature", e.ledger_signature],
      ...(e.actor ? [["Actor", `${show(e.actor.participant_id)} (key ${e.actor.key_id})`], ["Request issued at", e.actor.issued_at],
        ["Request nonce", e.actor.nonce], ["Request signature", e.actor.signature]] : [["Caused by entry", e.cause_index]])]),
    h("h4", {}, "Event"), h("pre", {}, show(e.event)),
    e.actor ? h("div", {}, h("h4", {}, "Signed request"), h("pre", {}, show(e.actor.command))) : null,
    h("div", { class: "toolbar" }, h("button", { id: "check-proof", type: "button", onclick: () => checkProof("index=" + e.index, "proof-result", false, () => entryShown === e.index) }, "Check inclusion proof in this browser")),
    verdict);
}

// ---- navigation and live updates

const renderers = { treasury: renderTreasury, bank: renderBank, auditor: renderAuditor };
let rendering = false, again = false;

async function refresh() {
  if (!page) return;
  if (rendering) { again = true; return; }
  rendering = true;
  try {
    do {
      again = false;
      await renderers[page]();
      document.body.dataset.rendered = String(Number(document.body.dataset.rendered || 0) + 1);
    } while (again);
    setProblem(null);
  } catch (e) {
    setProblem(e.message);
  } finally {
    rendering = false;
  }
}

function route() {
  const [name, arg] = location.hash.replace(/^#/, "").split("/");
  const wanted = me.pages.includes(name) ? name : me.pages[0];
  for (const p of ["treasury", "bank", "auditor"]) $("#page-" + p).hidden = p !== wanted;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === wanted);
  const changed = page !== wanted;
  page = wanted;
  if (wanted === "auditor") renderKeyNote();
  if (changed) refresh();
  if (wanted === "auditor" && arg !== undefined && /^[0-9]+$/.test(arg)) openEntryDetail(arg);
}

async function main() {
  try { me = await api("/api/me"); } catch (e) { setProblem(e.message); return; }
  const labels = { treasury: "Issuance desk", bank: "Bank", auditor: "Auditor" };
  $("#nav").replaceChildren(...me.pages.map((p) => h("a", { href: "#" + p, "data-page": p }, labels[p])));
  $("#who").textContent = `${me.participant_id} (${me.role}) on ${me.origin}`;
  $("#save-key").addEventListener("click", () => {
    const v = $("#ledger-key").value.trim().toLowerCase();
    localStorage.setItem("dbond.ledgerKey." + me.origin, v);
    renderKeyNote();
    if (page === "auditor") refresh();
  });
  $("#newer").addEventListener("click", () => { entriesBefore = null; refresh(); });
  $("#goto").addEventListener("click", () => {
    const v = $("#goto-entry").value.trim();
    if (/^[0-9]+$/.test(v)) location.hash = "#auditor/" + v;
  });
  window.addEventListener("hashchange", route);
  route();
  const events = new EventSource("/api/events");
  const pulse = $("#pulse");
  events.addEventListener("pulse", (m) => {
    const p = JSON.parse(m.data);
    pulse.dataset.state = p.problem ? "problem" : "live";
    pulse.dataset.size = p.size;
    pulse.textContent = p.problem ? "problem" : `live: ${p.size} entries`;
    setProblem(p.problem);
    if (!p.problem) refresh();
  });
  events.onerror = () => { pulse.dataset.state = "reconnecting"; pulse.textContent = "reconnecting"; };
}

main();
