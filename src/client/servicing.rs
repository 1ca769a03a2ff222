//! Withholding tables and residences, unclaimed payments, reopenings and the
//! tax report.

use super::{Client, CommandKind};
use crate::proto as pb;
use tonic::transport::Channel;

/// A reopening as the treasury asks for it.
#[derive(Clone, Debug, Default)]
pub struct Reopening {
    pub series_id: String,
    pub window_opens_at: chrono::DateTime<chrono::Utc>,
    pub window_closes_at: chrono::DateTime<chrono::Utc>,
    pub settlement_date: String,
    pub settlement_deadline: chrono::DateTime<chrono::Utc>,
    pub reference_yield: String,
    pub discount_bps: String,
    pub cap_units: String,
}

impl Client {
    pub fn servicing(&self) -> pb::servicing_service_client::ServicingServiceClient<Channel> {
        pb::servicing_service_client::ServicingServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    /// Sets a withholding table (`series_id` empty: the programme's).
    pub async fn set_withholding_table(
        &self,
        series_id: &str,
        effective_from: &str,
        default_rate: &str,
        treaty_rates: &[(String, String)],
    ) -> Result<pb::ServicingWriteResponse, tonic::Status> {
        let signed = self.sign(CommandKind::SetWithholdingTable(pb::SetWithholdingTable {
            series_id: series_id.into(),
            effective_from: effective_from.into(),
            default_rate: default_rate.into(),
            treaty_rates: treaty_rates
                .iter()
                .map(|(country, rate)| pb::TreatyRateEntry {
                    country: country.clone(),
                    rate: rate.clone(),
                })
                .collect(),
        }));
        Ok(self
            .servicing()
            .set_withholding_table(pb::SetWithholdingTableRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn record_residence(
        &self,
        investor_ref: &str,
        country: &str,
        effective_from: &str,
    ) -> Result<pb::ServicingWriteResponse, tonic::Status> {
        let signed = self.sign(CommandKind::RecordResidence(pb::RecordResidence {
            investor_ref: investor_ref.into(),
            country: country.into(),
            effective_from: effective_from.into(),
        }));
        Ok(self
            .servicing()
            .record_residence(pb::RecordResidenceRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn report_undeliverable(
        &self,
        event_id: &str,
        investor_ref: &str,
    ) -> Result<pb::ServicingWriteResponse, tonic::Status> {
        let signed = self.sign(CommandKind::ReportUndeliverable(pb::ReportUndeliverable {
            event_id: event_id.into(),
            investor_ref: investor_ref.into(),
        }));
        Ok(self
            .servicing()
            .report_undeliverable(pb::ReportUndeliverableRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn record_claim(
        &self,
        event_id: &str,
        investor_ref: &str,
        reference: &str,
    ) -> Result<pb::ServicingWriteResponse, tonic::Status> {
        let signed = self.sign(CommandKind::RecordClaim(pb::RecordClaim {
            event_id: event_id.into(),
            investor_ref: investor_ref.into(),
            reference: reference.into(),
        }));
        Ok(self
            .servicing()
            .record_claim(pb::RecordClaimRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn reopen_series(&self, r: &Reopening) -> Result<pb::SeriesResponse, tonic::Status> {
        let ts = |t| Some(crate::codec::timestamp_to_pb(t));
        let signed = self.sign(CommandKind::ReopenSeries(pb::ReopenSeries {
            series_id: r.series_id.clone(),
            window_opens_at: ts(r.window_opens_at),
            window_closes_at: ts(r.window_closes_at),
            settlement_date: r.settlement_date.clone(),
            settlement_deadline: ts(r.settlement_deadline),
            reference_yield: r.reference_yield.clone(),
            discount_bps: r.discount_bps.clone(),
            cap_units: r.cap_units.clone(),
        }));
        Ok(self
            .servicing()
            .reopen_series(pb::ReopenSeriesRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn tax_report(
        &self,
        series_id: &str,
        year: i32,
    ) -> Result<pb::GetTaxReportResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetTaxReport(pb::GetTaxReport {
            series_id: series_id.into(),
            year,
        }));
        Ok(self
            .servicing()
            .get_tax_report(pb::GetTaxReportRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn list_unclaimed(
        &self,
        series_id: &str,
        as_of: &str,
    ) -> Result<pb::ListUnclaimedResponse, tonic::Status> {
        let signed = self.sign(CommandKind::ListUnclaimed(pb::ListUnclaimed {
            series_id: series_id.into(),
            as_of: as_of.into(),
        }));
        Ok(self
            .servicing()
            .list_unclaimed(pb::ListUnclaimedRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn withholding_tables(
        &self,
        series_id: &str,
    ) -> Result<pb::GetWithholdingTablesResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetWithholdingTables(
            pb::GetWithholdingTables {
                series_id: series_id.into(),
            },
        ));
        Ok(self
            .servicing()
            .get_withholding_tables(pb::GetWithholdingTablesRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }
}
