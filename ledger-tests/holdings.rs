//! A holding's life after issue through the server: registration forms on
//! subscriptions, a death notice passing a payable-on-death holding to its
//! beneficiaries, a move between banks that waits for the delivering bank
//! across a record date, a gift inside a bank, an early redemption priced to
//! the cent; statements that show the path; the whole ledger verified over
//! the wire, by the registry comparison and by `dbond verify` on its export;
//! and forged transfer confirmations the verifier refuses because it
//! re-decides every request.

use crate::common;

use common::programme::{Life, Terms, at, world};
use common::{Server, new_key};
use dbond::audit::export::ExportWriter;
use dbond::audit::{Verifier, online};
use dbond::client::{CommandKind, SeriesAction};
use dbond::clock::Clock;
use dbond::ledger::entry::{self, Origin};
use dbond::ledger::merkle;
use dbond::proto as pb;
use ed25519_dalek::SigningKey;
use rust_decimal::Decimal;
use std::str::FromStr;
use tonic::Code;

const SERIES: &str = "AZ-2030-LIFE";

/// Three years from 2027-01-15, 6 % semiannual 30/360 US; moves and gifts;
/// early redemption on request after six months forgoing three months of
/// coupon, and the death put.
fn life_terms() -> pb::SeriesTerms {
    Terms::new(SERIES, Life::december_2026(3))
        .fixed_rate("0.06")
        .day_count("30/360 US")
        .max_units_per_investor(500)
        .transfers(pb::Transfers::Gifts)
        .early_redemption(pb::EarlyRedemption {
            on_request: true,
            lockup_months: 6,
            penalty_months: 3,
            death_put: true,
            hardship_put: false,
            hardship_quota: String::new(),
        })
        .build()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|_| panic!("a decimal: {s:?}"))
}

fn subscription(
    investor: &str,
    units: u64,
    form: Option<pb::registration::Form>,
) -> pb::SubmitSubscription {
    pb::SubmitSubscription {
        series_id: SERIES.into(),
        investor_ref: investor.into(),
        category: pb::DiasporaCategory::CitizenAbroad as i32,
        country: "DE".into(),
        units: units.to_string(),
        idempotency_key: format!("life-{investor}"),
        registration: form.map(|f| pb::Registration { form: Some(f) }),
    }
}

fn gift(
    from_bank: &str,
    donor: &str,
    to: &str,
    units: u64,
    category: pb::DiasporaCategory,
) -> pb::RequestTransfer {
    pb::RequestTransfer {
        kind: pb::TransferKind::Gift as i32,
        series_id: SERIES.into(),
        from_bank_id: from_bank.into(),
        from_investor_ref: donor.into(),
        to_investor_ref: to.into(),
        units: units.to_string(),
        recipient_category: category as i32,
        recipient_country: "DE".into(),
        registration: None,
    }
}

fn move_of(investor: &str, units: u64) -> pb::RequestTransfer {
    pb::RequestTransfer {
        kind: pb::TransferKind::Move as i32,
        series_id: SERIES.into(),
        from_bank_id: "bank-a".into(),
        from_investor_ref: investor.into(),
        to_investor_ref: investor.into(),
        units: units.to_string(),
        recipient_category: 0,
        recipient_country: String::new(),
        registration: None,
    }
}

/// The one statement line of `investor` at `bank` in the series.
async fn line(client: &dbond::client::Client, investor: &str, bank: &str) -> pb::StatementLine {
    let st = client.statement(investor, bank, "").await.unwrap();
    st.holdings
        .into_iter()
        .find(|l| l.holding.as_ref().is_some_and(|h| h.series_id == SERIES))
        .unwrap_or_else(|| panic!("{investor} at {bank} holds {SERIES}"))
}

fn kinds(l: &pb::StatementLine) -> Vec<(String, String)> {
    l.history
        .iter()
        .map(|c| (c.kind.clone(), c.units.clone()))
        .collect()
}

fn coupons_received(l: &pb::StatementLine) -> Vec<String> {
    l.received
        .iter()
        .filter(|p| p.kind == "coupon")
        .map(|p| p.event_id.clone())
        .collect()
}

fn entries_of(ledger: &dbond::store::Store) -> Vec<Vec<u8>> {
    ledger
        .entries(0, ledger.size())
        .map(|e| e.unwrap().1)
        .collect()
}

fn verify_all(entries: &[Vec<u8>]) -> Result<u64, dbond::audit::VerifyFailure> {
    let mut v = Verifier::new();
    for e in entries {
        v.push(e)?;
    }
    v.finish().map(|v| v.size)
}

/// Seals an entry the way the server does, for a request it never accepted.
fn forge(
    ledger_key: &SigningKey,
    entries: &[Vec<u8>],
    origin: &str,
    signer: &SigningKey,
    when: chrono::DateTime<chrono::Utc>,
    command: CommandKind,
    event: pb::event::Kind,
) -> Vec<u8> {
    let signed =
        dbond::client::sign_request(signer, origin, command, when, &dbond::client::nonce());
    let prev = merkle::hash_leaf(entries.last().unwrap());
    entry::seal(
        entries.len() as u64,
        dbond::codec::timestamp_to_pb(when),
        &prev,
        pb::Event { kind: Some(event) },
        Origin::Actor(pb::Actor {
            key_id: signed.key_id,
            request: signed.payload,
            signature: signed.signature,
        }),
        ledger_key,
    )
    .bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn succession_move_gift_and_early_redemption_end_to_end_and_verified() {
    let w = world().await;
    let (a, b) = (&w.banks[0], &w.banks[1]);
    w.treasury.create_series(life_terms()).await.unwrap();
    w.treasury
        .series_action(SeriesAction::Open, SERIES)
        .await
        .unwrap();

    // Sold with registration forms, issued 2027-01-15.
    w.server.set_time(at(2026, 12, 2));
    a.submit(subscription("ali", 100, None)).await.unwrap();
    let pod = pb::registration::Form::Beneficiary(pb::BeneficiaryRegistration {
        beneficiaries: vec!["kid-1".into(), "kid-2".into(), "kid-3".into()],
    });
    a.submit(subscription("ben", 10, Some(pod))).await.unwrap();
    b.submit(subscription("cem", 50, None)).await.unwrap();
    for action in [SeriesAction::Close, SeriesAction::Allot] {
        w.treasury.series_action(action, SERIES).await.unwrap();
    }
    for s in w.auditor.all_subscriptions(SERIES).await.unwrap() {
        let bank = if s.bank_id == "bank-a" { a } else { b };
        bank.settle(s.subscription_id).await.unwrap();
    }
    w.server.set_time(at(2027, 1, 14));
    w.treasury
        .series_action(SeriesAction::Issue, SERIES)
        .await
        .unwrap();

    // Inside the lock-up: refused, nothing recorded.
    w.server.set_time(at(2027, 3, 1));
    let redeem = |investor: &str, units: u64, reason: pb::RedemptionReason| pb::RedeemEarly {
        series_id: SERIES.into(),
        investor_ref: investor.into(),
        bank_id: String::new(),
        units: units.to_string(),
        reason: reason as i32,
        document_hash: vec![],
    };
    let size = w.server.ledger.size();
    let err = a
        .redeem_early(redeem("ali", 10, pb::RedemptionReason::OnRequest))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message().contains("locked up until 2027-07-15"),
        "{err:?}"
    );
    assert_eq!(w.server.ledger.size(), size, "a refusal records nothing");

    // The July coupon is paid to ben, who died on 1 July: not reversed.
    w.server.set_time(at(2027, 8, 2));
    w.engine.accrue("2027-08-02", |_, _| {}).await.unwrap();
    let notice = a
        .file_death_notice(pb::FileDeathNotice {
            owner_ref: "ben".into(),
            date_of_death: "2027-07-01".into(),
            document_hash: vec![0xd0; 32],
            estate_ref: String::new(),
        })
        .await
        .unwrap();
    assert!(notice.receipt.is_some());
    // Another bank's client: not an owner it knows.
    let err = b
        .file_death_notice(pb::FileDeathNotice {
            owner_ref: "ali".into(),
            date_of_death: "2027-07-01".into(),
            document_hash: vec![0xd0; 32],
            estate_ref: "ali-estate".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");

    // Early redemption on request: face + accrued - penalty, to the cent.
    // Accrued 15 July to 2 August, 30/360 US: 17 days of 6 % on 1,000 =
    // 2.833333333333 (12 places, half-even); penalty 3 months = 15.
    let r = a
        .redeem_early(redeem("ali", 10, pb::RedemptionReason::OnRequest))
        .await
        .unwrap();
    let e = r.redemption.unwrap();
    assert_eq!(dec(&e.accrued_per_unit), dec("2.833333333333"));
    assert_eq!(dec(&e.penalty_per_unit), dec("15"));
    assert_eq!(dec(&e.price_per_unit), dec("987.833333333333"));
    assert_eq!(dec(&e.amount), dec("9878.33"));
    assert_eq!(r.holding.unwrap().units, "90");
    // The death put: the beneficiaries' inherited units, without penalty.
    let r = a
        .redeem_early(redeem("kid-3", 1, pb::RedemptionReason::Death))
        .await
        .unwrap();
    assert_eq!(dec(&r.redemption.unwrap().penalty_per_unit), Decimal::ZERO);
    // ... which ali did not inherit.
    let err = a
        .redeem_early(redeem("ali", 1, pb::RedemptionReason::Death))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    // bank-b may not redeem bank-a's client.
    let err = b
        .redeem_early(pb::RedeemEarly {
            bank_id: "bank-a".into(),
            ..redeem("ali", 1, pb::RedemptionReason::OnRequest)
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    // A gift inside bank-b; an ineligible recipient is refused first.
    let size = w.server.ledger.size();
    let err = b
        .request_transfer(gift(
            "bank-b",
            "cem",
            "dan",
            5,
            pb::DiasporaCategory::Affinity,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(w.server.ledger.size(), size);
    let t = b
        .request_transfer(gift(
            "bank-b",
            "cem",
            "dan",
            5,
            pb::DiasporaCategory::CitizenAbroad,
        ))
        .await
        .unwrap();
    assert_eq!(t.transfer.unwrap().status, "confirmed");
    // A unit received as a gift is not given again.
    let err = b
        .request_transfer(gift(
            "bank-b",
            "dan",
            "eve",
            1,
            pb::DiasporaCategory::CitizenAbroad,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");

    // bank-b asks for 30 of ali's units at bank-a; they stay pending at
    // bank-a through the January record date and are paid there.
    let t = b.request_transfer(move_of("ali", 30)).await.unwrap();
    let move_id = t.transfer.unwrap().transfer_id;
    let pending = a.list_transfers(SERIES, true).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, "pending");
    w.server.set_time(at(2028, 1, 20));
    w.engine.accrue("2028-01-20", |_, _| {}).await.unwrap();
    let err = b.confirm_transfer(move_id).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "only the delivering bank confirms: {err:?}"
    );
    let t = a.confirm_transfer(move_id).await.unwrap();
    assert_eq!(t.transfer.unwrap().status, "confirmed");

    // Statements show the path.
    let first = format!("{SERIES}/coupon/0");
    let second = format!("{SERIES}/coupon/1");
    let ben = line(a, "ben", "bank-a").await;
    assert_eq!(ben.holding.as_ref().unwrap().units, "0");
    assert_eq!(coupons_received(&ben), vec![first.clone()]);
    assert_eq!(
        kinds(&ben),
        vec![
            ("succession_out".into(), "4".into()),
            ("succession_out".into(), "3".into()),
            ("succession_out".into(), "3".into())
        ]
    );
    let kid = line(a, "kid-1", "bank-a").await;
    assert_eq!(kid.holding.as_ref().unwrap().units, "4");
    assert_eq!(kid.history[0].counterpart_investor_ref, "ben");
    assert_eq!(kinds(&kid), vec![("succession_in".into(), "4".into())]);
    assert_eq!(coupons_received(&kid), vec![second.clone()]);
    let ali_a = line(a, "ali", "bank-a").await;
    assert_eq!(ali_a.holding.as_ref().unwrap().units, "60");
    assert_eq!(
        kinds(&ali_a),
        vec![
            ("early_redeemed".into(), "10".into()),
            ("moved_out".into(), "30".into())
        ]
    );
    let paid = ali_a
        .received
        .iter()
        .find(|p| p.event_id == second)
        .expect("the January coupon paid at bank-a");
    // 90 units (30 of them pending) at 30 a unit.
    assert_eq!(dec(&paid.amount), dec("2700"));
    let ali_b = line(b, "ali", "bank-b").await;
    assert_eq!(ali_b.holding.as_ref().unwrap().units, "30");
    assert_eq!(kinds(&ali_b), vec![("moved_in".into(), "30".into())]);
    assert!(
        coupons_received(&ali_b).is_empty(),
        "paid where the units were on the record date"
    );
    let dan = line(b, "dan", "bank-b").await;
    assert_eq!(kinds(&dan), vec![("gift_in".into(), "5".into())]);
    assert_eq!(dan.holding.as_ref().unwrap().gift_units, "5");
    // A bank sees only its own clients.
    let err = b.statement("kid-1", "bank-a", "").await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    // The debt service shrinks: 160 issued, 11 redeemed early.
    let ds = w.treasury.debt_service(SERIES).await.unwrap();
    assert_eq!(ds.units_outstanding, "149");
    let early: Decimal = ds
        .lines
        .iter()
        .filter(|l| l.kind == "early_redemption")
        .map(|l| dec(&l.amount))
        .sum();
    assert!(early > dec("9878.33"), "{:?}", ds.lines);

    // Verified: over the wire, against the registry, and by `dbond verify`.
    common::verify_over_the_wire(&w.auditor).await;
    let v = online::verify_server(&w.auditor, &[], |_, _| {})
        .await
        .expect("the server's ledger and registry verify");
    assert_eq!(
        v.compared.holdings, 8,
        "ali at both banks, ben, three kids, cem and dan"
    );
    let size = w.server.ledger.size();
    let (note, _) = w.server.ledger.read(|p| (p.checkpoint.clone(), p.size()));
    let mut export = ExportWriter::new(Vec::new(), size).unwrap();
    for item in w.server.ledger.entries(0, size) {
        let (index, bytes) = item.unwrap();
        export.entry(index, &bytes).unwrap();
    }
    let bytes = export.finish(&note, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ledger.dbx");
    std::fs::write(&file, &bytes).unwrap();
    let (ok, out, err) = Server::dbond(&["verify", "--export", file.to_str().unwrap()]);
    assert!(ok, "{out} {err}");
    assert!(out.contains(&format!("verified {size} entries")), "{out}");

    // Forged confirmations: the verifier re-decides each request, so a
    // confirmation signed by the receiving bank, or one moving more units
    // than were asked for, is refused at its entry.
    let c_key = new_key();
    let admin = w.server.admin().await;
    admin
        .register("bank-c", pb::Role::Bank, &c_key.verifying_key(), "Bank C")
        .await
        .unwrap();
    let c = admin.as_key(c_key.clone());
    let t = c.request_transfer(move_of("ali", 5)).await.unwrap();
    let id = t.transfer.unwrap().transfer_id;
    let entries = entries_of(&w.server.ledger);
    assert_eq!(verify_all(&entries).unwrap(), entries.len() as u64);
    let origin = w.server.ledger.identity().origin.clone();
    let now = w.server.clock.now();
    let confirmed = |units: &str| {
        pb::event::Kind::TransferConfirmed(pb::TransferConfirmed {
            transfer_id: id,
            kind: pb::TransferKind::Move as i32,
            series_id: SERIES.into(),
            from_bank_id: "bank-a".into(),
            from_investor_ref: "ali".into(),
            to_bank_id: "bank-c".into(),
            to_investor_ref: "ali".into(),
            units: units.into(),
            gift_units: "0".into(),
        })
    };
    let confirm = CommandKind::ConfirmTransfer(pb::ConfirmTransfer { transfer_id: id });
    let by_receiver = forge(
        &w.server.ledger_key,
        &entries,
        &origin,
        &c_key,
        now,
        confirm,
        confirmed("5"),
    );
    let mut forged = entries.clone();
    forged.push(by_receiver);
    let err = verify_all(&forged).unwrap_err();
    assert_eq!(err.index, entries.len() as u64, "{err}");
    // bank-c withdrawing its request (a refusal it may make) recorded as a
    // confirmation: the event is not what the request decides, so refused.
    let withdraw = CommandKind::RefuseTransfer(pb::RefuseTransfer {
        transfer_id: id,
        reason: "withdrawn".into(),
    });
    let mismatched = forge(
        &w.server.ledger_key,
        &entries,
        &origin,
        &c_key,
        now,
        withdraw,
        confirmed("5"),
    );
    let mut forged = entries.clone();
    forged.push(mismatched);
    let err = verify_all(&forged).unwrap_err();
    assert_eq!(err.index, entries.len() as u64, "{err}");
    // The harness can fail: the real ledger verifies.
    assert_eq!(verify_all(&entries).unwrap(), entries.len() as u64);
}
