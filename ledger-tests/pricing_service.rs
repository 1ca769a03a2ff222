//! The pricing gRPC service gives the QuantLib reference figures, like the
//! command-line calculators, and refuses bad terms precisely.

use crate::common;

use common::Server;
use rust_decimal::Decimal;
use serde_json::Value;
use std::str::FromStr;
use tonic::Code;

fn d(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().expect("decimal string")).expect("decimal")
}

fn close(a: &str, b: Decimal, tol: &str) -> bool {
    (Decimal::from_str(a).unwrap() - b).abs() <= Decimal::from_str(tol).unwrap()
}

#[tokio::test]
async fn every_sample_case_through_the_pricing_service() {
    let server = Server::start();
    let client = server.admin().await;
    let cases: Vec<Value> =
        serde_json::from_str(include_str!("vectors/pricing-sample.json")).unwrap();
    for case in &cases {
        let id = case["id"].as_str().unwrap();
        let terms = case["terms"].to_string();
        let face = d(&case["terms"]["face"]);
        let tol_amount = (face * Decimal::from_str("1e-9").unwrap()).to_string();
        let flows = client.price_schedule(&terms).await.unwrap();
        let expected = case["schedule"].as_array().unwrap();
        assert_eq!(flows.len(), expected.len(), "{id}");
        for (f, e) in flows.iter().zip(expected) {
            assert_eq!(f.payment_date, e["payment_date"].as_str().unwrap(), "{id}");
            assert!(
                close(&f.amount_per_unit, d(&e["amount"]), &tol_amount),
                "{id}: {} vs {}",
                f.amount_per_unit,
                e["amount"]
            );
        }
        for p in case["price_from_yield"].as_array().unwrap() {
            let r = client
                .price_from_yield(
                    &terms,
                    p["settle"].as_str().unwrap(),
                    p["yield"].as_str().unwrap(),
                )
                .await
                .unwrap();
            assert!(
                close(&r.clean, d(&p["clean"]), "1e-8"),
                "{id}: clean {} vs {}",
                r.clean,
                p["clean"]
            );
            assert!(close(&r.dirty, d(&p["dirty"]), "1e-8"), "{id}");
        }
        for p in case["yield_from_price"].as_array().unwrap() {
            let y = client
                .yield_from_price(
                    &terms,
                    p["settle"].as_str().unwrap(),
                    p["clean_price"].as_str().unwrap(),
                )
                .await
                .unwrap();
            assert!(
                close(&y, d(&p["yield"]), "1e-9"),
                "{id}: yield {y} vs {}",
                p["yield"]
            );
        }
        if let (Some(r), Some(bps)) = (
            case.get("reference_yield"),
            case.get("patriotic_discount_bps"),
        ) {
            let settle = case["price_from_yield"][0]["settle"].as_str().unwrap();
            let p = client
                .patriotic_pricing(
                    &terms,
                    settle,
                    r.as_str().unwrap(),
                    bps.to_string().trim_matches('"'),
                )
                .await
                .unwrap();
            let want = d(r)
                - Decimal::from_str(bps.to_string().trim_matches('"')).unwrap()
                    / Decimal::from(10_000);
            assert_eq!(Decimal::from_str(&p.diaspora_yield).unwrap(), want, "{id}");
        }
    }
    let err = client
        .price_schedule("{\"face\": \"1000\"}")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let terms = cases[0]["terms"].to_string();
    assert_eq!(
        client
            .price_from_yield(&terms, "2027-13-01", "0.05")
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        client
            .price_from_yield(&terms, "2027-12-01", "5%")
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
}
