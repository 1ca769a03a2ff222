//! A signing gRPC client for dbond: every request is wrapped in a SignedRequest
//! (fresh nonce, current time, this ledger's origin). Used by the command line, the
//! load generator, the demo and the tests.

use crate::ledger::keys::KeyId;
use crate::proto as pb;
use ed25519_dalek::SigningKey;
use tonic::transport::{Channel, Endpoint};

pub use pb::command::Kind as CommandKind;

/// A connection acting as one participant.
#[derive(Clone)]
pub struct Client {
    channel: Channel,
    key: SigningKey,
    key_id: KeyId,
    origin: String,
    /// Where request times come from (the system clock unless a test or a
    /// simulation says otherwise).
    clock: std::sync::Arc<dyn crate::clock::Clock>,
}

pub use crate::ledger::request::{nonce, sign_request};

/// TLS settings of a client: the CA that signed the server's certificate, and
/// optionally the client's own certificate (for servers that require one).
#[derive(Clone, Debug, Default)]
pub struct ClientTls {
    pub ca_pem: Vec<u8>,
    pub identity_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// The name the server's certificate is for (default: the URL's host).
    pub domain: Option<String>,
}

/// Opens a plaintext channel to `url` (`http://host:port`; a bare `host:port` is accepted).
pub async fn channel(url: &str) -> anyhow::Result<Channel> {
    channel_with(url, None).await
}

/// Opens a channel, over TLS when `tls` is given (then `https://` is implied).
pub async fn channel_with(url: &str, tls: Option<&ClientTls>) -> anyhow::Result<Channel> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = if url.contains("://") {
        url.to_string()
    } else {
        format!("{scheme}://{url}")
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| anyhow::anyhow!("bad server address {url:?}: {e}"))?
        .tcp_nodelay(true)
        .connect_timeout(std::time::Duration::from_secs(10));
    if let Some(tls) = tls {
        let mut config = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&tls.ca_pem));
        if let Some((cert, key)) = &tls.identity_pem {
            config = config.identity(tonic::transport::Identity::from_pem(cert, key));
        }
        if let Some(domain) = &tls.domain {
            config = config.domain_name(domain.clone());
        }
        endpoint = endpoint
            .tls_config(config)
            .map_err(|e| anyhow::anyhow!("TLS settings for {url}: {e}"))?;
    }
    endpoint.connect().await.map_err(|e| {
        anyhow::anyhow!("cannot connect to {url}: {e} (is `dbond serve` running there?)")
    })
}

/// The ledger's public identity.
pub async fn ledger_info(channel: &Channel) -> anyhow::Result<pb::GetLedgerInfoResponse> {
    let mut ledger = pb::ledger_service_client::LedgerServiceClient::new(channel.clone());
    Ok(ledger
        .get_ledger_info(pb::GetLedgerInfoRequest {})
        .await?
        .into_inner())
}

impl Client {
    /// Connects and learns the ledger's origin.
    pub async fn connect(url: &str, key: SigningKey) -> anyhow::Result<Client> {
        Client::connect_with(url, key, None).await
    }

    /// Connects (over TLS when `tls` is given) and learns the ledger's origin.
    pub async fn connect_with(
        url: &str,
        key: SigningKey,
        tls: Option<&ClientTls>,
    ) -> anyhow::Result<Client> {
        let channel = channel_with(url, tls).await?;
        let info = ledger_info(&channel).await?;
        Ok(Client::with_channel(channel, key, info.origin))
    }

    pub fn with_channel(channel: Channel, key: SigningKey, origin: String) -> Client {
        let key_id = KeyId::of(&key.verifying_key());
        Client {
            channel,
            key,
            key_id,
            origin,
            clock: std::sync::Arc::new(crate::clock::SystemClock),
        }
    }

    /// The same client signing with times from `clock`.
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn crate::clock::Clock>) -> Client {
        self.clock = clock;
        self
    }

    /// The same connection acting with another key.
    pub fn as_key(&self, key: SigningKey) -> Client {
        Client::with_channel(self.channel.clone(), key, self.origin.clone())
            .with_clock(self.clock.clone())
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Signs `command` with a fresh nonce and the current time.
    pub fn sign(&self, command: CommandKind) -> pb::SignedRequest {
        self.sign_with(command, self.clock.now(), &nonce())
    }

    /// Signs with a given time and nonce (tests of staleness and replay).
    pub fn sign_with(
        &self,
        command: CommandKind,
        issued_at: chrono::DateTime<chrono::Utc>,
        nonce: &[u8],
    ) -> pb::SignedRequest {
        sign_request(&self.key, &self.origin, command, issued_at, nonce)
    }

    pub fn participants(
        &self,
    ) -> pb::participant_service_client::ParticipantServiceClient<Channel> {
        pb::participant_service_client::ParticipantServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    pub fn batches(&self) -> pb::batch_service_client::BatchServiceClient<Channel> {
        pb::batch_service_client::BatchServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
            .max_encoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    /// Sends signed write requests (any signer's) in one `SubmitBatch` call, its
    /// envelope signed with this client's key: one result per request, in order.
    pub async fn submit_batch(
        &self,
        requests: Vec<pb::SignedRequest>,
    ) -> Result<Vec<pb::BatchResult>, tonic::Status> {
        let request_count = u32::try_from(requests.len())
            .map_err(|_| tonic::Status::invalid_argument("too many requests for one batch"))?;
        let signed = self.sign(CommandKind::SubmitBatch(pb::SubmitBatch { request_count }));
        Ok(self
            .batches()
            .submit_batch(pb::SubmitBatchRequest {
                signed: Some(signed),
                requests,
            })
            .await?
            .into_inner()
            .results)
    }

    pub fn ledger(&self) -> pb::ledger_service_client::LedgerServiceClient<Channel> {
        pb::ledger_service_client::LedgerServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    pub async fn register(
        &self,
        participant_id: &str,
        role: pb::Role,
        public_key: &ed25519_dalek::VerifyingKey,
        display_name: &str,
    ) -> Result<pb::RegisterParticipantResponse, tonic::Status> {
        let signed = self.sign(CommandKind::RegisterParticipant(pb::RegisterParticipant {
            participant_id: participant_id.to_string(),
            role: role as i32,
            public_key: public_key.to_bytes().to_vec(),
            display_name: display_name.to_string(),
        }));
        Ok(self
            .participants()
            .register_participant(pb::RegisterParticipantRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn rotate(
        &self,
        participant_id: &str,
        new_key: &ed25519_dalek::VerifyingKey,
    ) -> Result<pb::RotateKeyResponse, tonic::Status> {
        let signed = self.sign(CommandKind::RotateKey(pb::RotateKey {
            participant_id: participant_id.to_string(),
            new_public_key: new_key.to_bytes().to_vec(),
        }));
        Ok(self
            .participants()
            .rotate_key(pb::RotateKeyRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn revoke(
        &self,
        participant_id: &str,
        reason: &str,
    ) -> Result<pb::RevokeParticipantResponse, tonic::Status> {
        let signed = self.sign(CommandKind::RevokeParticipant(pb::RevokeParticipant {
            participant_id: participant_id.to_string(),
            reason: reason.to_string(),
        }));
        Ok(self
            .participants()
            .revoke_participant(pb::RevokeParticipantRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn list_participants(&self) -> Result<Vec<pb::Participant>, tonic::Status> {
        let signed = self.sign(CommandKind::ListParticipants(pb::ListParticipants {}));
        Ok(self
            .participants()
            .list_participants(pb::ListParticipantsRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner()
            .participants)
    }

    pub async fn checkpoint(&self) -> Result<pb::GetCheckpointResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetCheckpoint(pb::GetCheckpoint {}));
        Ok(self
            .ledger()
            .get_checkpoint(pb::GetCheckpointRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn entry(&self, index: u64) -> Result<pb::GetEntryResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetEntry(pb::GetEntry { index }));
        Ok(self
            .ledger()
            .get_entry(pb::GetEntryRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<pb::GetInclusionProofResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetInclusionProof(pb::GetInclusionProof {
            index,
            tree_size,
        }));
        Ok(self
            .ledger()
            .get_inclusion_proof(pb::GetInclusionProofRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<pb::GetConsistencyProofResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetConsistencyProof(pb::GetConsistencyProof {
            old_size,
            new_size,
        }));
        Ok(self
            .ledger()
            .get_consistency_proof(pb::GetConsistencyProofRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    /// A receipt for one entry: the entry, its inclusion proof and the signed
    /// checkpoint it is proved against.
    pub async fn receipt(
        &self,
        target: pb::get_receipt::Target,
    ) -> Result<pb::EntryReceipt, tonic::Status> {
        let signed = self.sign(CommandKind::GetReceipt(pb::GetReceipt {
            target: Some(target),
        }));
        self.ledger()
            .get_receipt(pb::GetReceiptRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner()
            .receipt
            .ok_or_else(|| tonic::Status::internal("the server sent no receipt"))
    }

    /// Streams entries `start..end` (end 0 = current size), in order.
    pub async fn stream_entries(
        &self,
        start: u64,
        end: u64,
    ) -> Result<tonic::Streaming<pb::StreamEntriesResponse>, tonic::Status> {
        let signed = self.sign(CommandKind::StreamEntries(pb::StreamEntries { start, end }));
        Ok(self
            .ledger()
            .stream_entries(pb::StreamEntriesRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }
}

/// Treasury, bank and registry calls.
impl Client {
    pub fn treasury(&self) -> pb::treasury_service_client::TreasuryServiceClient<Channel> {
        pb::treasury_service_client::TreasuryServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    pub fn bank(&self) -> pb::bank_service_client::BankServiceClient<Channel> {
        pb::bank_service_client::BankServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    pub fn registry(&self) -> pb::registry_service_client::RegistryServiceClient<Channel> {
        pb::registry_service_client::RegistryServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    pub async fn create_series(
        &self,
        terms: pb::SeriesTerms,
    ) -> Result<pb::SeriesResponse, tonic::Status> {
        let signed = self.sign(CommandKind::CreateSeries(pb::CreateSeries {
            terms: Some(terms),
        }));
        Ok(self
            .treasury()
            .create_series(pb::CreateSeriesRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn amend_series(
        &self,
        terms: pb::SeriesTerms,
    ) -> Result<pb::SeriesResponse, tonic::Status> {
        let signed = self.sign(CommandKind::AmendSeries(pb::AmendSeries {
            terms: Some(terms),
        }));
        Ok(self
            .treasury()
            .amend_series(pb::AmendSeriesRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    /// Moves a series along its lifecycle: `action` is open, close, allot,
    /// release-unsettled, issue or cancel (with `reason`).
    pub async fn series_action(
        &self,
        action: SeriesAction,
        series_id: &str,
    ) -> Result<pb::SeriesResponse, tonic::Status> {
        let id = series_id.to_string();
        let mut t = self.treasury();
        let r = match action {
            SeriesAction::Open => {
                let s = self.sign(CommandKind::OpenSeries(pb::OpenSeries { series_id: id }));
                t.open_series(pb::OpenSeriesRequest { signed: Some(s) })
                    .await?
            }
            SeriesAction::Close => {
                let s = self.sign(CommandKind::CloseSeries(pb::CloseSeries { series_id: id }));
                t.close_series(pb::CloseSeriesRequest { signed: Some(s) })
                    .await?
            }
            SeriesAction::Cancel(reason) => {
                let s = self.sign(CommandKind::CancelSeries(pb::CancelSeries {
                    series_id: id,
                    reason,
                }));
                t.cancel_series(pb::CancelSeriesRequest { signed: Some(s) })
                    .await?
            }
            SeriesAction::Allot => {
                let s = self.sign(CommandKind::AllotSeries(pb::AllotSeries { series_id: id }));
                t.allot_series(pb::AllotSeriesRequest { signed: Some(s) })
                    .await?
            }
            SeriesAction::ReleaseUnsettled => {
                let s = self.sign(CommandKind::ReleaseUnsettled(pb::ReleaseUnsettled {
                    series_id: id,
                }));
                t.release_unsettled(pb::ReleaseUnsettledRequest { signed: Some(s) })
                    .await?
            }
            SeriesAction::Issue => {
                let s = self.sign(CommandKind::IssueSeries(pb::IssueSeries { series_id: id }));
                t.issue_series(pb::IssueSeriesRequest { signed: Some(s) })
                    .await?
            }
        };
        Ok(r.into_inner())
    }

    pub async fn submit(
        &self,
        c: pb::SubmitSubscription,
    ) -> Result<pb::SubscriptionResponse, tonic::Status> {
        let signed = self.sign(CommandKind::SubmitSubscription(c));
        Ok(self
            .bank()
            .submit_subscription(pb::SubmitSubscriptionRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn withdraw(
        &self,
        subscription_id: u64,
    ) -> Result<pb::SubscriptionResponse, tonic::Status> {
        let signed = self.sign(CommandKind::WithdrawSubscription(
            pb::WithdrawSubscription { subscription_id },
        ));
        Ok(self
            .bank()
            .withdraw_subscription(pb::WithdrawSubscriptionRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn settle(
        &self,
        subscription_id: u64,
    ) -> Result<pb::SubscriptionResponse, tonic::Status> {
        let signed = self.sign(CommandKind::ConfirmSettlement(pb::ConfirmSettlement {
            subscription_id,
        }));
        Ok(self
            .bank()
            .confirm_settlement(pb::ConfirmSettlementRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn get_series(&self, series_id: &str) -> Result<pb::Series, tonic::Status> {
        let signed = self.sign(CommandKind::GetSeries(pb::GetSeries {
            series_id: series_id.to_string(),
        }));
        let r = self
            .registry()
            .get_series(pb::GetSeriesRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner();
        r.series
            .ok_or_else(|| tonic::Status::internal("reply without a series"))
    }

    pub async fn list_series(&self) -> Result<Vec<pb::Series>, tonic::Status> {
        let signed = self.sign(CommandKind::ListSeries(pb::ListSeries {}));
        Ok(self
            .registry()
            .list_series(pb::ListSeriesRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner()
            .series)
    }

    pub async fn get_subscription(
        &self,
        subscription_id: u64,
    ) -> Result<pb::Subscription, tonic::Status> {
        let signed = self.sign(CommandKind::GetSubscription(pb::GetSubscription {
            subscription_id,
        }));
        let r = self
            .registry()
            .get_subscription(pb::GetSubscriptionRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner();
        r.subscription
            .ok_or_else(|| tonic::Status::internal("reply without a subscription"))
    }

    /// Every subscription the caller may see (all pages), optionally of one series.
    pub async fn all_subscriptions(
        &self,
        series_id: &str,
    ) -> Result<Vec<pb::Subscription>, tonic::Status> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let signed = self.sign(CommandKind::ListSubscriptions(pb::ListSubscriptions {
                series_id: series_id.to_string(),
                after_subscription_id: after,
                page_size: crate::limits::PAGE_SIZE_MAX,
            }));
            let r = self
                .registry()
                .list_subscriptions(pb::ListSubscriptionsRequest {
                    signed: Some(signed),
                })
                .await?
                .into_inner();
            out.extend(r.subscriptions);
            if r.next_after_subscription_id == 0 {
                return Ok(out);
            }
            after = r.next_after_subscription_id;
        }
    }

    pub async fn investor_holdings(
        &self,
        investor_ref: &str,
        bank_id: &str,
    ) -> Result<Vec<pb::Holding>, tonic::Status> {
        let signed = self.sign(CommandKind::GetInvestorHoldings(pb::GetInvestorHoldings {
            investor_ref: investor_ref.to_string(),
            bank_id: bank_id.to_string(),
        }));
        Ok(self
            .registry()
            .get_investor_holdings(pb::GetInvestorHoldingsRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner()
            .holdings)
    }

    /// Every holder of a series (all pages of `page_size`).
    pub async fn all_holders(
        &self,
        series_id: &str,
        page_size: u32,
    ) -> Result<Vec<pb::Holding>, tonic::Status> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let signed = self.sign(CommandKind::ListHolders(pb::ListHolders {
                series_id: series_id.to_string(),
                page_token: token,
                page_size,
            }));
            let r = self
                .registry()
                .list_holders(pb::ListHoldersRequest {
                    signed: Some(signed),
                })
                .await?
                .into_inner();
            out.extend(r.holdings);
            if r.next_page_token.is_empty() {
                return Ok(out);
            }
            token = r.next_page_token;
        }
    }
}

/// A treasury lifecycle action on a series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeriesAction {
    Open,
    Close,
    Cancel(String),
    Allot,
    ReleaseUnsettled,
    Issue,
}

/// Pricing calculators.
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

/// Fixings, the engine, accrual and statements.
impl Client {
    pub fn engine(&self) -> pb::engine_service_client::EngineServiceClient<Channel> {
        pb::engine_service_client::EngineServiceClient::new(self.channel.clone())
            .max_decoding_message_size(crate::limits::GRPC_MESSAGE_BYTES_MAX)
    }

    pub async fn publish_fixing(
        &self,
        reference: &str,
        date: &str,
        rate: &str,
    ) -> Result<pb::PublishFixingResponse, tonic::Status> {
        let signed = self.sign(CommandKind::PublishFixing(pb::PublishFixing {
            reference_rate: reference.into(),
            fixing_date: date.into(),
            rate: rate.into(),
        }));
        Ok(self
            .treasury()
            .publish_fixing(pb::PublishFixingRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn list_due(
        &self,
        through: &str,
    ) -> Result<pb::ListDueEventsResponse, tonic::Status> {
        let signed = self.sign(CommandKind::ListDueEvents(pb::ListDueEvents {
            through: through.into(),
        }));
        Ok(self
            .engine()
            .list_due_events(pb::ListDueEventsRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn post_accrual(
        &self,
        series_id: &str,
        event_id: &str,
    ) -> Result<pb::PostAccrualEventResponse, tonic::Status> {
        let signed = self.sign(CommandKind::PostAccrualEvent(pb::PostAccrualEvent {
            series_id: series_id.into(),
            event_id: event_id.into(),
        }));
        Ok(self
            .engine()
            .post_accrual_event(pb::PostAccrualEventRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn accrued(
        &self,
        series_id: &str,
        as_of: &str,
    ) -> Result<pb::GetAccruedResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetAccrued(pb::GetAccrued {
            series_id: series_id.into(),
            as_of: as_of.into(),
        }));
        Ok(self
            .registry()
            .get_accrued(pb::GetAccruedRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn statement(
        &self,
        investor_ref: &str,
        bank_id: &str,
        as_of: &str,
    ) -> Result<pb::GetInvestorStatementResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetInvestorStatement(
            pb::GetInvestorStatement {
                investor_ref: investor_ref.into(),
                bank_id: bank_id.into(),
                as_of: as_of.into(),
            },
        ));
        Ok(self
            .registry()
            .get_investor_statement(pb::GetInvestorStatementRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn debt_service(
        &self,
        series_id: &str,
    ) -> Result<pb::GetDebtServiceResponse, tonic::Status> {
        let signed = self.sign(CommandKind::GetDebtService(pb::GetDebtService {
            series_id: series_id.into(),
        }));
        Ok(self
            .registry()
            .get_debt_service(pb::GetDebtServiceRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner())
    }

    pub async fn fixings(
        &self,
        reference: &str,
    ) -> Result<Vec<pb::RateFixingPublished>, tonic::Status> {
        let signed = self.sign(CommandKind::ListFixings(pb::ListFixings {
            reference_rate: reference.into(),
        }));
        Ok(self
            .registry()
            .list_fixings(pb::ListFixingsRequest {
                signed: Some(signed),
            })
            .await?
            .into_inner()
            .fixings)
    }

    /// Posts everything due through `through`, in order. Returns (posted, already
    /// posted, coupons waiting for a fixing).
    pub async fn accrue(
        &self,
        through: &str,
        mut progress: impl FnMut(&pb::DueEvent, bool),
    ) -> Result<(u64, u64, Vec<pb::WaitingCoupon>), tonic::Status> {
        let due = self.list_due(through).await?;
        let (mut posted, mut already) = (0, 0);
        for d in &due.due {
            let r = self.post_accrual(&d.series_id, &d.event_id).await?;
            if r.already_posted {
                already += 1;
            } else {
                posted += 1;
            }
            progress(d, r.already_posted);
        }
        Ok((posted, already, due.waiting))
    }
}
