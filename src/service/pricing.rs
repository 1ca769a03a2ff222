//! PricingService: the bond-math calculators over gRPC, with the same terms JSON
//! and the same results as `dbond schedule` and `dbond price`.

use super::Services;
use crate::codec::bonds::{date, decimal, flow_to_pb};
use crate::codec::wire::{Form, opt_rate, rate};
use crate::pricing::{Bond, BondTerms, diaspora_yield, issuer_savings, par_coupon};
use crate::proto as pb;
use crate::registry::{RegistryError, ScheduledFlow};
use tonic::{Request, Response, Status};

/// Largest terms JSON a calculator reads.
const TERMS_JSON_BYTES_MAX: usize = 64 * 1024;

fn bond(terms_json: &str) -> Result<Bond, RegistryError> {
    if terms_json.len() > TERMS_JSON_BYTES_MAX {
        return Err(RegistryError::invalid(
            "terms_json",
            "terms JSON is larger than 64 KiB",
        ));
    }
    let (terms, fixings) = BondTerms::from_json(terms_json)
        .map_err(|e| RegistryError::invalid("terms_json", e.to_string()))?;
    Bond::new(&terms, &fixings).map_err(|e| RegistryError::invalid("terms_json", e.to_string()))
}

#[tonic::async_trait]
impl pb::pricing_service_server::PricingService for Services {
    async fn schedule(
        &self,
        r: Request<pb::PriceScheduleRequest>,
    ) -> Result<Response<pb::PriceScheduleResponse>, Status> {
        let c = self
            .auth
            .check::<pb::PriceSchedule>(r.into_inner().signed)?
            .command;
        let bond = bond(&c.terms_json)?;
        let cashflows = bond
            .cashflows()
            .iter()
            .map(|f| {
                flow_to_pb(
                    &ScheduledFlow {
                        kind: f.kind,
                        accrual_start: f.accrual_start,
                        accrual_end: f.accrual_end,
                        payment_date: f.payment_date,
                        record_date: f.record_date.unwrap_or(f.payment_date),
                        rate: f.rate,
                        amount_per_unit: f.amount,
                    },
                    Form::Response,
                )
            })
            .collect();
        Ok(Response::new(pb::PriceScheduleResponse { cashflows }))
    }

    async fn price_from_yield(
        &self,
        r: Request<pb::PriceFromYieldRequest>,
    ) -> Result<Response<pb::PriceFromYieldResponse>, Status> {
        let c = self
            .auth
            .check::<pb::PriceFromYield>(r.into_inner().signed)?
            .command;
        let bond = bond(&c.terms_json)?;
        let p = bond.price(date("settle", &c.settle)?, decimal("yield", &c.r#yield)?)?;
        Ok(Response::new(pb::PriceFromYieldResponse {
            clean: p.clean.to_string(),
            dirty: p.dirty.to_string(),
            accrued: p.accrued.to_string(),
        }))
    }

    async fn yield_from_price(
        &self,
        r: Request<pb::YieldFromPriceRequest>,
    ) -> Result<Response<pb::YieldFromPriceResponse>, Status> {
        let c = self
            .auth
            .check::<pb::YieldFromPrice>(r.into_inner().signed)?
            .command;
        let bond = bond(&c.terms_json)?;
        let y = bond.yield_from_clean_price(
            date("settle", &c.settle)?,
            decimal("clean_price", &c.clean_price)?,
        )?;
        Ok(Response::new(pb::YieldFromPriceResponse {
            r#yield: rate(&y),
        }))
    }

    async fn patriotic_pricing(
        &self,
        r: Request<pb::PatrioticPricingRequest>,
    ) -> Result<Response<pb::PatrioticPricingResponse>, Status> {
        let c = self
            .auth
            .check::<pb::PatrioticPricing>(r.into_inner().signed)?
            .command;
        let bond = bond(&c.terms_json)?;
        let settle = date("settle", &c.settle)?;
        let reference = decimal("reference_yield", &c.reference_yield)?;
        let discount = decimal("discount_bps", &c.discount_bps)?;
        let y = diaspora_yield(reference, discount);
        let p = bond.price(settle, y)?;
        let terms = bond.terms();
        let savings = issuer_savings(terms, reference, discount)?;
        let par = if terms.frequency().per_year().is_some() {
            Some(par_coupon(terms, y)?)
        } else {
            None
        };
        Ok(Response::new(pb::PatrioticPricingResponse {
            diaspora_yield: rate(&y),
            clean: p.clean.to_string(),
            dirty: p.dirty.to_string(),
            accrued: p.accrued.to_string(),
            par_coupon: opt_rate(&par),
            market_par_coupon: opt_rate(&savings.market_coupon),
            issuer_savings: savings.savings.to_string(),
        }))
    }
}
