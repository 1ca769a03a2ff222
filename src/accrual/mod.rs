//! The coupon-accrual engine: pure, deterministic functions from terms, holdings,
//! fixings and a date to accrual figures and due record-date, coupon and
//! redemption events.
//!
//! Invariant: no gRPC, storage or clock inside. Every answer is a function of its
//! arguments alone: the same terms, holdings, fixings, "already posted?" predicate
//! and date give the same events, in the same order, with the same amounts. Money
//! is `Decimal` only, rounded once per payment by the series' stated rule, and no
//! input makes it panic: bad input, and amounts too large for a decimal, are an
//! [`AccrualError`].
//!
//! The host that posts the events (signed with the engine's key) keeps the set of
//! posted [`EventId`]s and asks again; an event it has posted is never returned
//! again, and a call after downtime returns every missed event once, in posting
//! order. `docs/ACCRUAL.md` states the conventions (event ids, ordering, rounding
//! and residue sign, waiting coupons, accumulating and zero coupon redemptions).

mod engine;

pub use engine::*;

#[cfg(test)]
mod tests;
