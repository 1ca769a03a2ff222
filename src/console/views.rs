//! What each page shows, as JSON: built from the server's answers to this
//! participant's own signed reads and from the follower's books. Money and rates
//! are the server's decimal strings, or `Decimal`s written as strings; every sum
//! and rounding done here is stated beside it.

use super::book::{PaymentRun, SeriesBook};
use super::{Ctx, TestHooks};
use crate::audit::receipt::{ReceiptFile, describe};
use crate::codec::wire::money;
use crate::ledger::entry;
use crate::money::{Currency, RoundingRule, round_to_minor};
use crate::proto as pb;
use crate::registry::{Role, SeriesId};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use prost::Message;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// Investors whose statements the bank page fetches (one signed read each); a
/// bank with more sees the first ones by reference and a note saying so.
pub const BANK_STATEMENTS_MAX: usize = 200;
/// Points of the book-over-time chart sent to a page; a longer timeline is
/// thinned evenly, its last point always kept.
pub const TIMELINE_POINTS_MAX: usize = 2_000;
/// Entries one page of the entry browser lists.
pub const ENTRIES_PAGE_MAX: u64 = 100;

/// A refusal or failure, sent to the page as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

/// The server's refusal, passed on with its own message: a permission the
/// participant lacks stays a 403, a missing record a 404.
pub fn upstream(status: tonic::Status) -> ApiError {
    let code = match status.code() {
        tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => StatusCode::FORBIDDEN,
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::InvalidArgument | tonic::Code::OutOfRange => StatusCode::BAD_REQUEST,
        _ => StatusCode::BAD_GATEWAY,
    };
    ApiError {
        status: code,
        message: format!(
            "the ledger server answered: {} ({:?})",
            status.message(),
            status.code()
        ),
    }
}

/// "SERIES_STATUS_OPEN" -> "open".
fn enum_name(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_ascii_lowercase()
}

fn series_status(v: i32) -> String {
    pb::SeriesStatus::try_from(v)
        .map(|s| enum_name(s.as_str_name(), "SERIES_STATUS_"))
        .unwrap_or_else(|_| format!("unknown ({v})"))
}

fn subscription_status(v: i32) -> String {
    pb::SubscriptionStatus::try_from(v)
        .map(|s| enum_name(s.as_str_name(), "SUBSCRIPTION_STATUS_"))
        .unwrap_or_else(|_| format!("unknown ({v})"))
}

fn category(v: i32) -> String {
    pb::DiasporaCategory::try_from(v)
        .map(|s| enum_name(s.as_str_name(), "DIASPORA_CATEGORY_"))
        .unwrap_or_else(|_| format!("unknown ({v})"))
}

fn time(t: Option<&prost_types::Timestamp>) -> Option<String> {
    let t = t?;
    DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32).map(|d| d.to_rfc3339())
}

fn dec(s: &str) -> Option<Decimal> {
    Decimal::from_str(s.trim()).ok()
}

fn units(s: &str) -> u64 {
    s.trim().parse().unwrap_or(0)
}

/// Who the console acts as and which pages it offers.
pub fn me(ctx: &Ctx) -> Value {
    let pages: Vec<&str> = if ctx.me.role == Role::Bank {
        vec!["bank"]
    } else {
        vec!["treasury", "auditor"]
    };
    json!({
        "participant_id": ctx.me.participant_id,
        "role": ctx.me.role.as_str(),
        "display_name": ctx.me.display_name,
        "key_id": ctx.me.key_id,
        "origin": ctx.ledger.origin,
        "key_name": ctx.ledger.key_name,
        "server_ledger_key": ctx.ledger.public_key_hex,
        "pinned_ledger_key": ctx.pinned_ledger_key_hex,
        "follows_entries": ctx.feed.streams,
        "pages": pages,
    })
}

/// The issuance desk: the programme, the live book of each series in its
/// window, and the debt service of each issued one.
pub async fn treasury(ctx: &Ctx) -> Result<Value, ApiError> {
    if ctx.me.role == Role::Bank {
        return Err(ApiError::forbidden(
            "the programme page shows every bank's book; a bank sees its own subscriptions on the bank page",
        ));
    }
    let all = ctx.client.list_series().await.map_err(upstream)?;
    let as_of = ctx.clock.now();
    let mut rows = Vec::with_capacity(all.len());
    for s in &all {
        let terms = s.terms.clone().unwrap_or_default();
        let figures = s.figures.clone().unwrap_or_default();
        let book = s.book.clone().unwrap_or_default();
        let status = series_status(s.status);
        let currency = Currency::from_str(&terms.currency).ok();
        let cap = units(&terms.cap_units);
        let (basis, basis_units) = match status.as_str() {
            "issued" | "matured" => ("units issued", units(&book.issued_units)),
            "allotted" => ("units allotted", units(&book.allotted_units)),
            "open" | "closed" => (
                "units in the book, up to the cap",
                units(&book.subscribed_units).min(cap),
            ),
            "draft" => ("the cap", cap),
            _ => ("nothing: the series was cancelled", 0),
        };
        let savings_per_unit = dec(&figures.issuer_savings_per_unit);
        // Rounded half even to the minor unit and written at it, as the
        // server writes money.
        let minor = |d: Decimal| match currency {
            Some(c) => money(&round_to_minor(d, c, RoundingRule::HalfEven), c),
            None => d.to_string(),
        };
        let savings_per_unit_rounded = savings_per_unit.map(minor);
        let savings_total = savings_per_unit
            .and_then(|per_unit| per_unit.checked_mul(Decimal::from(basis_units)))
            .map(minor);
        let live_book = {
            let feed = ctx.feed.read();
            SeriesId::parse("series_id", &terms.series_id)
                .ok()
                .and_then(|id| feed.books.series(&id).map(|b| live(b, as_of)))
        };
        let runs: Vec<PaymentRun> = {
            let feed = ctx.feed.read();
            SeriesId::parse("series_id", &terms.series_id)
                .ok()
                .and_then(|id| feed.books.series(&id).map(|b| b.runs().to_vec()))
                .unwrap_or_default()
        };
        let debt_service = if matches!(status.as_str(), "issued" | "matured") {
            Some(debt_service(ctx, &terms.series_id).await?)
        } else {
            None
        };
        rows.push(json!({
            "series_id": terms.series_id,
            "name": terms.name,
            "status": status,
            "currency": terms.currency,
            "face_value": terms.face_value,
            "cap_units": terms.cap_units,
            "allotment_rule": pb::AllotmentRule::try_from(terms.allotment_rule)
                .map(|r| enum_name(r.as_str_name(), "ALLOTMENT_RULE_"))
                .unwrap_or_default(),
            "window_opens_at": time(terms.window_opens_at.as_ref()),
            "window_closes_at": time(terms.window_closes_at.as_ref()),
            "issue_date": terms.issue_date,
            "maturity_date": terms.maturity_date,
            "subscriptions": book.subscriptions,
            "subscribed_units": book.subscribed_units,
            "allotted_units": book.allotted_units,
            "settled_units": book.settled_units,
            "issued_units": book.issued_units,
            "amount_raised": book.amount_raised,
            "issue_price": figures.issue_price,
            "price_per_unit": figures.price_per_unit,
            "coupon_rate": figures.coupon_rate,
            "issue_yield": figures.issue_yield,
            "reference_yield": figures.reference_yield,
            "discount_bps": figures.discount_bps,
            "issuer_savings_per_unit": figures.issuer_savings_per_unit,
            // For display: rounded to the minor unit half-even.
            "issuer_savings_per_unit_rounded": savings_per_unit_rounded,
            "issuer_savings_total": savings_total,
            "issuer_savings_basis": basis,
            "issuer_savings_units": basis_units,
            "book": if matches!(status.as_str(), "open" | "closed") { live_book } else { None },
            "runs": runs,
            "debt_service": debt_service,
        }));
    }
    Ok(json!({
        "as_of": as_of.to_rfc3339(),
        "size": ctx.feed.read().size,
        "follows_entries": ctx.feed.streams,
        "series": rows,
    }))
}

/// The live book of a series in its window (or closed, before allotment).
fn live(b: &SeriesBook, as_of: DateTime<Utc>) -> Value {
    let timeline = b.timeline();
    let step = timeline.len().div_ceil(TIMELINE_POINTS_MAX).max(1);
    let mut points: Vec<(i64, u64)> = timeline
        .iter()
        .step_by(step)
        .map(|p| (p.at.timestamp(), p.units))
        .collect();
    if let Some(last) = timeline.last()
        && points.last() != Some(&(last.at.timestamp(), last.units))
    {
        points.push((last.at.timestamp(), last.units));
    }
    let history: Vec<(i64, u64)> = b
        .per_minute_history()
        .into_iter()
        .map(|(t, n)| (t.timestamp(), n))
        .collect();
    json!({
        "subscriptions": b.subscriptions(),
        "subscribed_units": b.subscribed_units(),
        "cap_units": b.cap_units,
        "per_minute": b.per_minute(as_of),
        "oversubscription": b.oversubscription().map(|d| d.to_string()),
        "by_bank": b.by_bank(),
        "by_country": b.by_country(),
        "by_category": b.by_category(),
        "would_be_allotment": b.would_be_allotment(),
        "timeline": points,
        "per_minute_history": history,
    })
}

/// The debt service of an issued series as the server states it, with what is
/// paid and what is still owed (the server's amounts summed exactly, no rounding).
async fn debt_service(ctx: &Ctx, series_id: &str) -> Result<Value, ApiError> {
    let ds = ctx.client.debt_service(series_id).await.map_err(upstream)?;
    let (mut paid, mut owed, mut waiting) = (Decimal::ZERO, Decimal::ZERO, 0u64);
    for line in &ds.lines {
        match (line.status.as_str(), dec(&line.amount)) {
            ("paid", Some(a)) => paid += a,
            (_, Some(a)) => owed += a,
            (_, None) => waiting += 1,
        }
    }
    let lines: Vec<Value> = ds
        .lines
        .iter()
        .map(|l| {
            json!({
                "payment_date": l.payment_date,
                "kind": l.kind,
                "amount": l.amount,
                "status": l.status,
            })
        })
        .collect();
    // Paid lines are at the minor unit, so their sum is too.
    let paid = match Currency::from_str(&ds.currency) {
        Ok(c) => money(&paid, c),
        Err(_) => paid.to_string(),
    };
    Ok(json!({
        "currency": ds.currency,
        "units_outstanding": ds.units_outstanding,
        "paid": paid,
        "owed": owed.to_string(),
        "waiting_for_fixing": waiting,
        "lines": lines,
    }))
}

/// A bank's own book: its subscriptions, allotments, settlements due and its
/// clients' holdings, with what it must pay and what it will receive.
pub async fn bank(ctx: &Ctx) -> Result<Value, ApiError> {
    if ctx.me.role != Role::Bank {
        return Err(ApiError::forbidden(format!(
            "the bank page shows a bank's own subscriptions; this console acts as {} ({})",
            ctx.me.participant_id, ctx.me.role
        )));
    }
    let size = ctx.feed.read().size;
    if let Some((at, view)) = ctx
        .bank_cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        && *at == size
    {
        return Ok(view.clone());
    }
    let view = bank_view(ctx, size).await?;
    *ctx.bank_cache.lock().unwrap_or_else(|e| e.into_inner()) = Some((size, view.clone()));
    Ok(view)
}

async fn bank_view(ctx: &Ctx, size: u64) -> Result<Value, ApiError> {
    let series = ctx.client.list_series().await.map_err(upstream)?;
    let mut currency_of: BTreeMap<String, String> = BTreeMap::new();
    let mut deadline_of: BTreeMap<String, Option<String>> = BTreeMap::new();
    for s in &series {
        if let Some(t) = &s.terms {
            currency_of.insert(t.series_id.clone(), t.currency.clone());
            deadline_of.insert(t.series_id.clone(), time(t.settlement_deadline.as_ref()));
        }
    }
    let subs = ctx.client.all_subscriptions("").await.map_err(upstream)?;
    // Sums per currency, exact (amounts due are already rounded by the registry).
    let mut to_pay: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut settlements = Vec::new();
    let mut rows = Vec::with_capacity(subs.len());
    let mut holders: BTreeSet<String> = BTreeSet::new();
    for s in &subs {
        let status = subscription_status(s.status);
        let currency = currency_of.get(&s.series_id).cloned().unwrap_or_default();
        if status == "allotted" && units(&s.allotted_units) > 0 {
            if let Some(a) = dec(&s.amount_due) {
                *to_pay.entry(currency.clone()).or_default() += a;
            }
            settlements.push(json!({
                "subscription_id": s.subscription_id,
                "series_id": s.series_id,
                "investor_ref": s.investor_ref,
                "allotted_units": s.allotted_units,
                "amount_due": s.amount_due,
                "currency": currency,
                "deadline": deadline_of.get(&s.series_id).cloned().flatten(),
            }));
        }
        if status == "issued" {
            holders.insert(s.investor_ref.clone());
        }
        rows.push(json!({
            "subscription_id": s.subscription_id,
            "series_id": s.series_id,
            "investor_ref": s.investor_ref,
            "category": category(s.category),
            "country": s.country,
            "units": s.units,
            "status": status,
            "allotted_units": s.allotted_units,
            "refunded_units": s.refunded_units,
            "amount_due": s.amount_due,
            "currency": currency,
            "submitted_at": time(s.submitted_at.as_ref()),
        }));
    }
    let as_of = ctx.clock.now().date_naive().to_string();
    let mut holdings = Vec::new();
    // Upcoming payments to the bank's clients by (date, kind, currency): the
    // server's unrounded estimates summed exactly.
    let mut to_receive: BTreeMap<(String, String, String), (Decimal, u64)> = BTreeMap::new();
    let mut waiting = 0u64;
    for investor in holders.iter().take(BANK_STATEMENTS_MAX) {
        let st = ctx
            .client
            .statement(investor, "", &as_of)
            .await
            .map_err(upstream)?;
        for line in &st.holdings {
            let Some(h) = &line.holding else { continue };
            holdings.push(json!({
                "series_id": h.series_id,
                "investor_ref": h.investor_ref,
                "units": h.units,
                "redeemed_units": h.redeemed_units,
                "currency": line.currency,
                "accrued": line.accrued,
            }));
            for p in &line.upcoming {
                match dec(&p.amount) {
                    Some(a) => {
                        let e = to_receive
                            .entry((
                                p.payment_date.clone(),
                                p.kind.clone(),
                                line.currency.clone(),
                            ))
                            .or_default();
                        e.0 += a;
                        e.1 += 1;
                    }
                    None => waiting += 1,
                }
            }
        }
    }
    let receive: Vec<Value> = to_receive
        .into_iter()
        .map(|((date, kind, currency), (amount, holdings))| {
            json!({"payment_date": date, "kind": kind, "currency": currency,
                   "amount": amount.to_string(), "holdings": holdings})
        })
        .collect();
    Ok(json!({
        "size": size,
        "as_of": as_of,
        "subscriptions": rows,
        "settlements_due": settlements,
        "to_pay": to_pay.into_iter().map(|(c, a)| json!({"currency": c, "amount": a.to_string()})).collect::<Vec<_>>(),
        "holdings": holdings,
        "holders": holders.len(),
        "holders_shown": holders.len().min(BANK_STATEMENTS_MAX),
        "to_receive": receive,
        "payments_waiting_for_fixing": waiting,
    }))
}

/// The auditor's overview: size and the signed checkpoints seen, newest first.
pub fn ledger(ctx: &Ctx) -> Value {
    let feed = ctx.feed.read();
    let checkpoints: Vec<&super::feed::SeenCheckpoint> = feed.checkpoints.iter().rev().collect();
    json!({
        "size": feed.size,
        "follows_entries": ctx.feed.streams,
        "origin": ctx.ledger.origin,
        "key_name": ctx.ledger.key_name,
        "checkpoints": checkpoints,
    })
}

/// One line per entry of `[before - count, before)`, newest first.
pub async fn entries(
    ctx: &Ctx,
    before: Option<u64>,
    count: Option<u64>,
) -> Result<Value, ApiError> {
    if !ctx.feed.streams {
        return Err(ApiError::forbidden(
            "a bank may not read the whole ledger; its own entries' proofs are on the bank page",
        ));
    }
    let (size, owners) = {
        let feed = ctx.feed.read();
        (feed.size, feed.key_owners.clone())
    };
    let end = before.unwrap_or(size).min(size);
    let start = end.saturating_sub(count.unwrap_or(50).clamp(1, ENTRIES_PAGE_MAX));
    let mut lines = Vec::new();
    if end > start {
        let mut stream = ctx
            .client
            .stream_entries(start, end)
            .await
            .map_err(upstream)?;
        while let Some(m) = stream.message().await.map_err(upstream)? {
            let line = match entry::open(&m.entry) {
                Ok(o) => {
                    let (actor, key_id) = match &o.body.actor {
                        Some(a) => (owners.get(&a.key_id).cloned(), Some(a.key_id.clone())),
                        None => (None, None),
                    };
                    json!({
                        "index": m.index,
                        "kind": event_kind(&o.body),
                        "description": describe(&o.body),
                        "recorded_at": time(o.body.recorded_at.as_ref()),
                        "actor": actor,
                        "key_id": key_id,
                        "cause_index": o.body.actor.is_none().then_some(o.body.cause_index),
                    })
                }
                Err(e) => {
                    json!({"index": m.index, "kind": "undecodable", "description": e.to_string()})
                }
            };
            lines.push(line);
        }
    }
    lines.reverse();
    Ok(json!({ "size": size, "start": start, "end": end, "entries": lines }))
}

fn event_kind(body: &pb::EntryBody) -> String {
    body.event
        .as_ref()
        .and_then(|e| e.kind.as_ref())
        .and_then(codec_kind)
        .unwrap_or_else(|| "unknown".into())
}

/// The domain name of an event ("subscription_submitted"), through the codec.
fn codec_kind(kind: &pb::event::Kind) -> Option<String> {
    crate::codec::event_from_pb(&pb::Event {
        kind: Some(kind.clone()),
    })
    .ok()
    .map(|e| e.kind().to_string())
}

/// One entry in full: the decoded event and request, the signatures and the
/// hash links, and the stored bytes (which the page hashes itself).
pub async fn entry(ctx: &Ctx, index: u64) -> Result<Value, ApiError> {
    let r = ctx.client.entry(index).await.map_err(upstream)?;
    let o = entry::open(&r.entry).map_err(|e| ApiError {
        status: StatusCode::BAD_GATEWAY,
        message: format!("the server's entry {index} does not decode: {e}"),
    })?;
    let owners = ctx.feed.read().key_owners.clone();
    let actor = o.body.actor.as_ref().map(|a| {
        let request = pb::RequestPayload::decode(a.request.as_slice()).ok();
        json!({
            "key_id": a.key_id,
            "participant_id": owners.get(&a.key_id),
            "signature": hex::encode(&a.signature),
            "issued_at": request.as_ref().and_then(|p| time(p.issued_at.as_ref())),
            "nonce": request.as_ref().map(|p| hex::encode(&p.nonce)),
            "ledger_origin": request.as_ref().map(|p| p.ledger_origin.clone()),
            "command": request
                .as_ref()
                .and_then(|p| p.command.as_ref())
                .and_then(|c| c.kind.as_ref())
                .map(|k| format!("{k:#?}")),
        })
    });
    let event = o
        .body
        .event
        .as_ref()
        .and_then(|e| e.kind.as_ref())
        .map(|k| format!("{k:#?}"));
    Ok(json!({
        "index": o.index(),
        "recorded_at": time(o.body.recorded_at.as_ref()),
        "kind": event_kind(&o.body),
        "description": describe(&o.body),
        "event": event,
        "actor": actor,
        "cause_index": o.body.actor.is_none().then_some(o.body.cause_index),
        "prev_hash": hex::encode(o.prev_hash()),
        "entry_hash": hex::encode(o.hash),
        "ledger_signature": hex::encode(&o.ledger_signature),
        "entry": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &r.entry),
    }))
}

/// Which entry a proof is asked for.
#[derive(Clone, Copy, Debug)]
pub enum ProofTarget {
    Index(u64),
    Subscription(u64),
}

/// A receipt (entry, inclusion proof, signed checkpoint) in the `dbond receipt`
/// JSON form, for the page to check with its own pinned key.
pub async fn proof(ctx: &Ctx, target: ProofTarget) -> Result<Value, ApiError> {
    let t = match target {
        ProofTarget::Index(i) => pb::get_receipt::Target::Index(i),
        ProofTarget::Subscription(i) => pb::get_receipt::Target::SubscriptionId(i),
    };
    let r = ctx.client.receipt(t).await.map_err(upstream)?;
    let mut file = ReceiptFile::from(&r);
    alter(&ctx.hooks, &mut file);
    serde_json::to_value(&file).map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("cannot write the receipt as JSON: {e}"),
    })
}

/// The test double of a dishonest console: flips a bit of the first proof hash
/// (or of the entry, when the tree has one leaf and the proof is empty).
fn alter(hooks: &TestHooks, file: &mut ReceiptFile) {
    if !hooks.alter_proofs {
        return;
    }
    if let Some(first) = file.inclusion_proof.first_mut()
        && let Ok(mut bytes) = hex::decode(&*first)
        && let Some(b) = bytes.first_mut()
    {
        *b ^= 1;
        *first = hex::encode(bytes);
        return;
    }
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    if let Ok(mut bytes) = engine.decode(&file.entry)
        && let Some(b) = bytes.last_mut()
    {
        *b ^= 1;
        file.entry = engine.encode(bytes);
    }
}
