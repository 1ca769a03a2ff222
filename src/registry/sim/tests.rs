//! Random command sequences against the state machine: no panic, every
//! conservation law after every command (through transfers, gifts,
//! successions and early redemptions, a series' holdings hold the units issued
//! less those redeemed early), every decided event applies and reads back from
//! its ledger form, and the replay gives the same state.
//!
//! A failing input is printed (proptest shrinks it first) and saved in
//! `proptest-regressions/registry/sim/tests.txt`, which later runs try first.
//! `DBOND_SIM_CASES=N` runs N cases instead of the default.

use super::{Options, Report, run};
use crate::registry::Event;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn cases() -> u32 {
    std::env::var("DBOND_SIM_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(512)
}

/// Each event reads back from its ledger form as itself. (The codec sits above
/// the registry; only this test reaches up to it.)
fn reads_back(event: &Event) -> Result<(), String> {
    let wire = crate::codec::event_to_pb(event);
    match crate::codec::event_from_pb(&wire) {
        Ok(back) if &back == event => Ok(()),
        Ok(back) => Err(format!("{} reads back as {back:?}", event.kind())),
        Err(e) => Err(format!("{} does not read back: {e}", event.kind())),
    }
}

fn checked() -> Options<'static> {
    Options {
        on_event: Some(&reads_back),
        drop_last_event: false,
    }
}

fn inputs() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..2000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_command_sequences_keep_every_law(input in inputs()) {
        if let Err(failure) = run(&input, &checked()) {
            prop_assert!(false, "{failure}");
        }
    }
}

/// The runs of `count` inputs drawn from a fixed seed, merged.
fn seeded_runs(count: usize, options: &Options) -> Result<Report, String> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let mut all = Report::default();
    for case in 0..count {
        let input = inputs()
            .new_tree(&mut runner)
            .map_err(|e| e.to_string())?
            .current();
        let report = run(&input, options).map_err(|f| format!("case {case}: {f}"))?;
        all.commands += report.commands;
        all.appended += report.appended;
        all.refused += report.refused;
        all.repeated += report.repeated;
        all.kinds.extend(report.kinds);
    }
    Ok(all)
}

#[test]
fn random_runs_reach_every_stage_of_a_series_life() {
    let report = seeded_runs(64, &checked()).expect("the laws hold");
    let every_kind = [
        "genesis",
        "participant_registered",
        "key_rotated",
        "participant_revoked",
        "series_created",
        "series_amended",
        "series_opened",
        "series_closed",
        "series_cancelled",
        "subscriptions_refunded",
        "allotment_decided",
        "subscriptions_allotted",
        "unsettled_released",
        "series_issued",
        "holdings_created",
        "subscription_submitted",
        "subscription_withdrawn",
        "settlement_confirmed",
        "rate_fixing_published",
        "record_date_fixed",
        "coupon_paid",
        "coupon_payments",
        "redeemed",
        "redemption_payments",
        "series_matured",
        "withholding_table_set",
        "residence_recorded",
        "payment_undeliverable",
        "unclaimed_payment_claimed",
        "series_reopened",
        "tranche_closed",
        "tranche_allotted",
        "tranche_issued",
        "tranche_holdings",
        "registration_changed",
        "transfer_requested",
        "transfer_confirmed",
        "transfer_refused",
        "death_notice_filed",
        "holding_passed",
        "early_redeemed",
    ];
    let missing: Vec<&str> = every_kind
        .into_iter()
        .filter(|k| !report.kinds.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "never reached: {missing:?} ({report:?})"
    );
    assert!(
        report.refused > 0 && report.repeated > 0,
        "refusals and repeats too: {report:?}"
    );
}

/// A writer that drops the last event of each decision breaks the laws, and
/// the property says so: the harness can fail.
#[test]
fn a_broken_writer_is_caught() {
    let broken = Options {
        on_event: None,
        drop_last_event: true,
    };
    let err = seeded_runs(64, &broken).expect_err("a broken writer is caught");
    assert!(err.contains("step"), "{err}");
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 64,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let result = runner.run(&inputs(), |input| {
        run(&input, &broken)
            .map(|_| ())
            .map_err(|f| TestCaseError::fail(f.to_string()))
    });
    assert!(result.is_err(), "the property must fail on a broken writer");
}
