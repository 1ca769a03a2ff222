//! The pricing calculators.

use super::{Client, CommandKind};
use crate::proto as pb;
use tonic::transport::Channel;

impl Client {
    pub fn pricing(&self) -> pb::pricing_service_client::PricingServiceClient<Channel> {
        pb::pricing_service_client::PricingServiceClient::new(self.channel.clone())
    }

    pub async fn price_schedule(
        &self,
        terms_json: &str,
    ) -> Result<Vec<pb::ScheduledFlow>, tonic::Status> {
        let signed = self.sign(CommandKind::PriceSchedule(pb::PriceSchedule {
            terms_json: terms_json.into(),
        }));
        Ok(self
            .pricing()
            .schedule(pb::PriceScheduleRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner()
            .cashflows)
    }

    pub async fn price_from_yield(
        &self,
        terms_json: &str,
        settle: &str,
        y: &str,
    ) -> Result<pb::PriceFromYieldResponse, tonic::Status> {
        let signed = self.sign(CommandKind::PriceFromYield(pb::PriceFromYield {
            terms_json: terms_json.into(),
            settle: settle.into(),
            r#yield: y.into(),
        }));
        Ok(self
            .pricing()
            .price_from_yield(pb::PriceFromYieldRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn yield_from_price(
        &self,
        terms_json: &str,
        settle: &str,
        clean: &str,
    ) -> Result<String, tonic::Status> {
        let signed = self.sign(CommandKind::YieldFromPrice(pb::YieldFromPrice {
            terms_json: terms_json.into(),
            settle: settle.into(),
            clean_price: clean.into(),
        }));
        Ok(self
            .pricing()
            .yield_from_price(pb::YieldFromPriceRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner()
            .r#yield)
    }

    pub async fn patriotic_pricing(
        &self,
        terms_json: &str,
        settle: &str,
        reference_yield: &str,
        discount_bps: &str,
    ) -> Result<pb::PatrioticPricingResponse, tonic::Status> {
        let signed = self.sign(CommandKind::PatrioticPricing(pb::PatrioticPricing {
            terms_json: terms_json.into(),
            settle: settle.into(),
            reference_yield: reference_yield.into(),
            discount_bps: discount_bps.into(),
        }));
        Ok(self
            .pricing()
            .patriotic_pricing(pb::PatrioticPricingRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }
}
