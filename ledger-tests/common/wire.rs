//! Every RPC of `proto/diaspora/bonds/v1/services.proto` by name, and a caller that
//! sends any bytes to any of them: the hostile and authorization suites address
//! RPCs through one table instead of one generated client method each.
#![allow(dead_code)]

use dbond::proto as pb;
use prost::Message;
use prost::bytes::{Buf, BufMut};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

/// (service, rpc) for every RPC, in services.proto order. `GetLedgerInfo` is the
/// one that takes no signature; `StreamEntries` is the one server stream.
pub const RPCS: [(&str, &str); 59] = [
    ("ParticipantService", "RegisterParticipant"),
    ("ParticipantService", "RotateKey"),
    ("ParticipantService", "RevokeParticipant"),
    ("ParticipantService", "ListParticipants"),
    ("ParticipantService", "RotateLedgerKey"),
    ("ParticipantService", "SetRecoveryQuorum"),
    ("ParticipantService", "EmergencyRotateLedgerKey"),
    ("LedgerService", "GetLedgerInfo"),
    ("LedgerService", "GetEntry"),
    ("LedgerService", "StreamEntries"),
    ("LedgerService", "GetCheckpoint"),
    ("LedgerService", "GetInclusionProof"),
    ("LedgerService", "GetConsistencyProof"),
    ("LedgerService", "GetReceipt"),
    ("BatchService", "SubmitBatch"),
    ("ClockService", "AdvanceClock"),
    ("TreasuryService", "CreateSeries"),
    ("TreasuryService", "AmendSeries"),
    ("TreasuryService", "OpenSeries"),
    ("TreasuryService", "CloseSeries"),
    ("TreasuryService", "CancelSeries"),
    ("TreasuryService", "AllotSeries"),
    ("TreasuryService", "ReleaseUnsettled"),
    ("TreasuryService", "IssueSeries"),
    ("TreasuryService", "PublishFixing"),
    ("EngineService", "ListDueEvents"),
    ("EngineService", "PostAccrualEvent"),
    ("BankService", "SubmitSubscription"),
    ("BankService", "WithdrawSubscription"),
    ("BankService", "ConfirmSettlement"),
    ("RegistryService", "GetSeries"),
    ("RegistryService", "ListSeries"),
    ("RegistryService", "GetSubscription"),
    ("RegistryService", "ListSubscriptions"),
    ("RegistryService", "GetInvestorHoldings"),
    ("RegistryService", "ListHolders"),
    ("RegistryService", "GetAccrued"),
    ("RegistryService", "GetInvestorStatement"),
    ("RegistryService", "GetDebtService"),
    ("RegistryService", "ListFixings"),
    ("PricingService", "Schedule"),
    ("PricingService", "PriceFromYield"),
    ("PricingService", "YieldFromPrice"),
    ("PricingService", "PatrioticPricing"),
    ("ServicingService", "SetWithholdingTable"),
    ("ServicingService", "RecordResidence"),
    ("ServicingService", "ReportUndeliverable"),
    ("ServicingService", "RecordClaim"),
    ("ServicingService", "ReopenSeries"),
    ("ServicingService", "GetTaxReport"),
    ("ServicingService", "ListUnclaimed"),
    ("ServicingService", "GetWithholdingTables"),
    ("HoldingsService", "ChangeRegistration"),
    ("HoldingsService", "RequestTransfer"),
    ("HoldingsService", "ConfirmTransfer"),
    ("HoldingsService", "RefuseTransfer"),
    ("HoldingsService", "FileDeathNotice"),
    ("HoldingsService", "RedeemEarly"),
    ("HoldingsService", "ListTransfers"),
];

/// The RPC that needs no signature.
pub const UNSIGNED_RPC: &str = "GetLedgerInfo";

/// The service an RPC belongs to.
pub fn service_of(rpc: &str) -> &'static str {
    RPCS.iter()
        .find(|(_, r)| *r == rpc)
        .map(|(s, _)| *s)
        .unwrap_or_else(|| panic!("unknown rpc {rpc}"))
}

/// Every `rpc Name(` line of services.proto, read at test time so that a new RPC
/// cannot be missed by the suites.
pub fn rpcs_in_proto() -> Vec<String> {
    let proto = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/proto/diaspora/bonds/v1/services.proto"
    ))
    .expect("read services.proto");
    proto
        .lines()
        .filter_map(|l| l.trim().strip_prefix("rpc "))
        .map(|l| l.split('(').next().unwrap_or("").trim().to_string())
        .collect()
}

/// Passes message bytes through untouched, both ways.
#[derive(Clone, Copy, Default)]
pub struct RawCodec;

pub struct RawCoder;

impl Encoder for RawCoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCoder;
    type Decoder = RawCoder;
    fn encoder(&mut self) -> RawCoder {
        RawCoder
    }
    fn decoder(&mut self) -> RawCoder {
        RawCoder
    }
}

/// Sends `body` as the request message of `rpc` and returns the reply messages'
/// bytes (one for unary RPCs, every streamed one for `StreamEntries`).
pub async fn call_raw(channel: &Channel, rpc: &str, body: Vec<u8>) -> Result<Vec<Vec<u8>>, Status> {
    let path = format!("/diaspora.bonds.v1.{}/{rpc}", service_of(rpc));
    let path = http::uri::PathAndQuery::try_from(path).expect("path");
    let mut grpc = tonic::client::Grpc::new(channel.clone())
        .max_decoding_message_size(dbond::limits::GRPC_MESSAGE_BYTES_MAX);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("channel not ready: {e}")))?;
    let request = tonic::Request::new(body);
    if rpc == "StreamEntries" {
        let mut stream = grpc
            .server_streaming(request, path, RawCodec)
            .await?
            .into_inner();
        let mut out = Vec::new();
        while let Some(m) = stream.message().await? {
            out.push(m);
        }
        Ok(out)
    } else {
        Ok(vec![
            grpc.unary(request, path, RawCodec).await?.into_inner(),
        ])
    }
}

/// Sends `signed` to `rpc` (every request message is `{ SignedRequest signed = 1 }`;
/// `GetLedgerInfo`'s is empty and ignores it as an unknown field).
pub async fn call(
    channel: &Channel,
    rpc: &str,
    signed: Option<pb::SignedRequest>,
) -> Result<Vec<Vec<u8>>, Status> {
    let body = pb::GetEntryRequest { signed }.encode_to_vec();
    call_raw(channel, rpc, body).await
}

/// The one reply of a unary call, decoded.
pub fn one<M: Message + Default>(replies: &[Vec<u8>]) -> M {
    assert_eq!(replies.len(), 1, "a unary reply");
    M::decode(replies[0].as_slice()).expect("decode reply")
}
