//! Bond terms JSON and pricing. The input is text: five lines (settlement date,
//! yield, clean price, reference yield, discount in basis points, as the pricing
//! service takes them) and then the terms JSON. The terms are parsed with
//! `BondTerms::from_json`, and the schedule, accrued interest, prices, yields and
//! patriotic-discount figures are computed as the pricing service computes them.
//! Nothing may panic, and terms written back to JSON read back the same.
#![no_main]

use dbond::codec::bonds::{date, decimal};
use dbond::pricing::{self, Bond, BondTerms};
use libfuzzer_sys::fuzz_target;

/// The pricing service refuses larger terms JSON.
const TERMS_JSON_BYTES_MAX: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(6, '\n');
    let mut line = || lines.next().unwrap_or("");
    let (settle, y, clean, reference, discount) = (line(), line(), line(), line(), line());
    let json = line();
    if json.len() > TERMS_JSON_BYTES_MAX {
        return;
    }
    let Ok((terms, fixings)) = BondTerms::from_json(json) else {
        return;
    };
    let written = serde_json::to_string(&terms).expect("terms serialize");
    let (again, _) = BondTerms::from_json(&written)
        .unwrap_or_else(|e| panic!("terms written as JSON do not read back: {e}\n{written}"));
    assert_eq!(again, terms, "terms changed through JSON: {written}");

    let Ok(bond) = Bond::new(&terms, &fixings) else {
        return;
    };
    let _ = bond.cashflows();
    let settle = date("settle", settle).unwrap_or(terms.issue_date());
    let _ = bond.accrued(settle);
    let _ = bond.accreted_value(settle, None);
    if let Ok(y) = decimal("yield", y) {
        let _ = bond.price(settle, y);
        let _ = bond.accreted_value(settle, Some(y));
        if terms.frequency().per_year().is_some() {
            let _ = pricing::par_coupon(&terms, y);
        }
    }
    let solved = decimal("clean_price", clean)
        .ok()
        .and_then(|clean| bond.yield_from_clean_price(settle, clean).ok());
    if let (Ok(reference), Ok(discount)) = (
        decimal("reference_yield", reference),
        decimal("discount_bps", discount),
    ) {
        let y = pricing::diaspora_yield(reference, discount);
        let _ = bond.price(settle, y);
        let _ = pricing::issuer_savings(&terms, reference, discount);
        if let Some(solved) = solved {
            let _ = pricing::discount_bps_between(reference, solved);
        }
    }
});
