//! Bank verbs for a holding's life after issue: `dbond registration` (change a
//! holding's form), `dbond succession` (file a death notice), `dbond transfer`
//! (request, confirm, refuse, list moves between banks and gifts) and `dbond
//! redeem` (early redemption). Readable lines by default, JSON with `--json`.
//! Documents never leave the bank: a verb takes their SHA-256, given in hex or
//! computed here from a file.

use super::{ClientArgs, say, status_error};
use crate::proto as pb;
use serde_json::{Value, json};
use sha2::Digest;
use std::path::PathBuf;

/// A registration form on the command line (default: sole).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegistrationArgs {
    /// sole (default), joint, minor or beneficiary.
    #[arg(long, default_value = "sole")]
    pub form: String,
    /// joint: the owners' references, comma separated (two to eight).
    #[arg(long, value_delimiter = ',')]
    pub owners: Vec<String>,
    /// minor: the custodian's reference.
    #[arg(long)]
    pub custodian: Option<String>,
    /// minor: the day custody ends (YYYY-MM-DD).
    #[arg(long)]
    pub custody_ends: Option<String>,
    /// beneficiary: the beneficiaries' references, in order, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub beneficiaries: Vec<String>,
}

impl RegistrationArgs {
    /// The form's wire form (`None` for sole).
    pub fn to_pb(&self) -> anyhow::Result<Option<pb::Registration>> {
        use pb::registration::Form;
        let form = match self.form.as_str() {
            "sole" => return Ok(None),
            "joint" => Form::Joint(pb::JointRegistration {
                owners: self.owners.clone(),
            }),
            "minor" => Form::Minor(pb::MinorRegistration {
                custodian_ref: self.custodian.clone().unwrap_or_default(),
                custody_ends: self.custody_ends.clone().unwrap_or_default(),
            }),
            "beneficiary" => Form::Beneficiary(pb::BeneficiaryRegistration {
                beneficiaries: self.beneficiaries.clone(),
            }),
            other => anyhow::bail!(
                "unknown registration form {other:?}; expected sole, joint, minor or beneficiary"
            ),
        };
        Ok(Some(pb::Registration { form: Some(form) }))
    }
}

/// A registration form as JSON: `{"form": "sole"}`, `{"form": "joint", "owners": [...]}`, ...
pub fn registration_json(r: Option<&pb::Registration>) -> Value {
    use pb::registration::Form;
    match r.and_then(|r| r.form.as_ref()) {
        None => json!({"form": "sole"}),
        Some(Form::Joint(j)) => json!({"form": "joint", "owners": j.owners}),
        Some(Form::Minor(m)) => {
            json!({"form": "minor", "custodian_ref": m.custodian_ref, "custody_ends": m.custody_ends})
        }
        Some(Form::Beneficiary(b)) => {
            json!({"form": "beneficiary", "beneficiaries": b.beneficiaries})
        }
    }
}

/// A registration form in words.
pub fn registration_text(r: Option<&pb::Registration>) -> String {
    use pb::registration::Form;
    match r.and_then(|r| r.form.as_ref()) {
        None => "sole".into(),
        Some(Form::Joint(j)) => format!("joint ({})", j.owners.join(", ")),
        Some(Form::Minor(m)) => format!(
            "minor (custodian {} until {})",
            m.custodian_ref, m.custody_ends
        ),
        Some(Form::Beneficiary(b)) => {
            format!("payable on death to {}", b.beneficiaries.join(", "))
        }
    }
}

pub fn change_json(c: &pb::HoldingChange) -> Value {
    json!({"index": c.index, "kind": c.kind, "units": c.units,
        "counterpart_investor_ref": c.counterpart_investor_ref, "counterpart_bank_id": c.counterpart_bank_id,
        "reference": c.reference,
        "recorded_at": c.recorded_at.as_ref().and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0)).map(|t| t.to_rfc3339())})
}

/// One change of a holding, as a statement line.
pub fn change_line(c: &pb::HoldingChange) -> String {
    let when = c
        .recorded_at
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.date_naive().to_string())
        .unwrap_or_default();
    let other = format!(
        "{} at {}",
        c.counterpart_investor_ref, c.counterpart_bank_id
    );
    let what = match c.kind.as_str() {
        "moved_in" => format!(
            "+{} moved in from {other} (transfer {})",
            c.units, c.reference
        ),
        "moved_out" => format!(
            "-{} moved out to {other} (transfer {})",
            c.units, c.reference
        ),
        "gift_in" => format!(
            "+{} received as a gift from {other} (transfer {})",
            c.units, c.reference
        ),
        "gift_out" => format!("-{} given to {other} (transfer {})", c.units, c.reference),
        "succession_in" => format!(
            "+{} inherited from {other} (death notice {})",
            c.units, c.reference
        ),
        "succession_out" => format!(
            "-{} passed to {other} (death notice {})",
            c.units, c.reference
        ),
        "early_redeemed" => format!("-{} redeemed early (entry {})", c.units, c.reference),
        "registration" => format!("registration changed (entry {})", c.reference),
        other => format!("{other} {}", c.units),
    };
    format!("{when} entry {:>6}  {what}", c.index)
}

/// A document's SHA-256: given in hex, or computed from a file that stays here.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DocumentArgs {
    /// SHA-256 of the supporting document, 64 hex digits.
    #[arg(long, conflicts_with = "document")]
    pub document_hash: Option<String>,
    /// The supporting document: only its SHA-256 is sent.
    #[arg(long)]
    pub document: Option<PathBuf>,
}

impl DocumentArgs {
    /// The digest, or empty when neither was given.
    pub fn hash(&self) -> anyhow::Result<Vec<u8>> {
        if let Some(path) = &self.document {
            let bytes = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            return Ok(sha2::Sha256::digest(&bytes).to_vec());
        }
        match &self.document_hash {
            None => Ok(Vec::new()),
            Some(h) => {
                let bytes = hex::decode(h)
                    .map_err(|e| anyhow::anyhow!("--document-hash is not hex: {e}"))?;
                anyhow::ensure!(
                    bytes.len() == 32,
                    "--document-hash must be 32 bytes (64 hex digits), found {}",
                    bytes.len()
                );
                Ok(bytes)
            }
        }
    }
}

fn receipt_json(r: Option<&pb::Receipt>) -> Value {
    r.map(|r| json!({"index": r.index, "entry_hash": hex::encode(&r.entry_hash), "tree_size": r.tree_size}))
        .unwrap_or(Value::Null)
}

fn receipt_line(r: Option<&pb::Receipt>) -> anyhow::Result<()> {
    if let Some(r) = r {
        say!(
            "recorded as entry {} (entry hash {}), ledger size {}",
            r.index,
            hex::encode(&r.entry_hash),
            r.tree_size
        )?;
    }
    Ok(())
}

fn holding_line(h: &pb::Holding) -> String {
    let mut extra = Vec::new();
    if h.pending_units != "0" && !h.pending_units.is_empty() {
        extra.push(format!("{} pending", h.pending_units));
    }
    if h.early_redeemed_units != "0" && !h.early_redeemed_units.is_empty() {
        extra.push(format!("{} redeemed early", h.early_redeemed_units));
    }
    if h.gift_units != "0" && !h.gift_units.is_empty() {
        extra.push(format!("{} received as a gift", h.gift_units));
    }
    format!(
        "{} {} at {}: {} units, {}{}",
        h.series_id,
        h.investor_ref,
        h.bank_id,
        h.units,
        registration_text(h.registration.as_ref()),
        if extra.is_empty() {
            String::new()
        } else {
            format!(" ({})", extra.join(", "))
        }
    )
}

fn transfer_json(t: &pb::Transfer) -> Value {
    let kind = pb::TransferKind::try_from(t.kind)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("TRANSFER_KIND_")
                .to_lowercase()
        })
        .unwrap_or_default();
    json!({"transfer_id": t.transfer_id, "kind": kind, "series_id": t.series_id,
        "from_bank_id": t.from_bank_id, "from_investor_ref": t.from_investor_ref,
        "to_bank_id": t.to_bank_id, "to_investor_ref": t.to_investor_ref, "units": t.units,
        "status": t.status, "closed_at_index": t.closed_at_index, "reason": t.reason})
}

fn transfer_line(t: &pb::Transfer) -> String {
    let v = transfer_json(t);
    format!(
        "transfer {} ({}): {} units of {} from {} at {} to {} at {}: {}{}",
        t.transfer_id,
        v["kind"].as_str().unwrap_or(""),
        t.units,
        t.series_id,
        t.from_investor_ref,
        t.from_bank_id,
        t.to_investor_ref,
        t.to_bank_id,
        t.status,
        if t.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", t.reason)
        }
    )
}

#[derive(Debug, clap::Args)]
pub struct RegistrationVerb {
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long)]
    pub series: String,
    /// The holding's investor reference.
    #[arg(long)]
    pub investor: String,
    /// The custodian bank (default: the caller's own).
    #[arg(long, default_value = "")]
    pub bank: String,
    #[command(flatten)]
    pub registration: RegistrationArgs,
}

pub async fn run_registration(a: &RegistrationVerb) -> anyhow::Result<()> {
    let c = a.client.connect().await?;
    let r = c
        .change_registration(pb::ChangeRegistration {
            series_id: a.series.clone(),
            investor_ref: a.investor.clone(),
            bank_id: a.bank.clone(),
            registration: a.registration.to_pb()?,
        })
        .await
        .map_err(status_error)?;
    let h = r.holding.unwrap_or_default();
    if a.client.json {
        let v = json!({"holding": super::bonds::holding_json(&h), "receipt": receipt_json(r.receipt.as_ref())});
        return say!("{}", serde_json::to_string_pretty(&v)?);
    }
    say!("{}", holding_line(&h))?;
    receipt_line(r.receipt.as_ref())
}

#[derive(Debug, clap::Args)]
pub struct SuccessionVerb {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The deceased owner's reference.
    #[arg(long)]
    pub owner: String,
    /// YYYY-MM-DD.
    #[arg(long)]
    pub date_of_death: String,
    #[command(flatten)]
    pub document: DocumentArgs,
    /// Where sole holdings without a beneficiary pass: the estate's reference.
    #[arg(long, default_value = "")]
    pub estate: String,
}

pub async fn run_succession(a: &SuccessionVerb) -> anyhow::Result<()> {
    let document_hash = a.document.hash()?;
    anyhow::ensure!(
        !document_hash.is_empty(),
        "a death notice needs --document-hash or --document"
    );
    let c = a.client.connect().await?;
    let r = c
        .file_death_notice(pb::FileDeathNotice {
            owner_ref: a.owner.clone(),
            date_of_death: a.date_of_death.clone(),
            document_hash,
            estate_ref: a.estate.clone(),
        })
        .await
        .map_err(status_error)?;
    if a.client.json {
        let v = json!({"holdings": r.holdings.iter().map(super::bonds::holding_json).collect::<Vec<_>>(),
            "receipt": receipt_json(r.receipt.as_ref())});
        return say!("{}", serde_json::to_string_pretty(&v)?);
    }
    say!("death notice for {} recorded; holdings after it:", a.owner)?;
    for h in &r.holdings {
        say!("  {}", holding_line(h))?;
    }
    receipt_line(r.receipt.as_ref())
}

#[derive(Debug, clap::Subcommand)]
pub enum TransferCommand {
    /// Ask for units of a holding at another bank (move) or of any holding (gift): the receiving bank.
    Request(Box<TransferRequestArgs>),
    /// Confirm a pending transfer: the delivering bank.
    Confirm(TransferIdArgs),
    /// Refuse a pending transfer (delivering bank), or withdraw the request (receiving bank).
    Refuse {
        #[command(flatten)]
        args: TransferIdArgs,
        #[arg(long)]
        reason: String,
    },
    /// Transfers (banks see those they are a side of).
    List {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long, default_value = "")]
        series: String,
        /// Only those awaiting confirmation.
        #[arg(long)]
        pending: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct TransferRequestArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// move (the same investor, to this bank) or gift (to another investor).
    #[arg(long)]
    pub kind: String,
    #[arg(long)]
    pub series: String,
    /// The delivering holding's bank and investor reference.
    #[arg(long)]
    pub from_bank: String,
    #[arg(long)]
    pub from_investor: String,
    /// This bank's reference for the receiving investor.
    #[arg(long)]
    pub to_investor: String,
    #[arg(long)]
    pub units: String,
    /// gift: the recipient's diaspora category.
    #[arg(long)]
    pub category: Option<String>,
    /// gift: the recipient's country of residence (ISO 3166-1 alpha-2).
    #[arg(long)]
    pub country: Option<String>,
    #[command(flatten)]
    pub registration: RegistrationArgs,
}

#[derive(Debug, clap::Args)]
pub struct TransferIdArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The transfer id (the index of the entry that requested it).
    #[arg(long)]
    pub id: u64,
}

fn print_transfer(r: &pb::TransferResponse, json_out: bool) -> anyhow::Result<()> {
    let t = r.transfer.clone().unwrap_or_default();
    if json_out {
        let mut v = transfer_json(&t);
        v["receipt"] = receipt_json(r.receipt.as_ref());
        return say!("{}", serde_json::to_string_pretty(&v)?);
    }
    say!("{}", transfer_line(&t))?;
    receipt_line(r.receipt.as_ref())
}

pub async fn run_transfer(command: &TransferCommand) -> anyhow::Result<()> {
    match command {
        TransferCommand::Request(a) => {
            let kind = match a.kind.as_str() {
                "move" => pb::TransferKind::Move,
                "gift" => pb::TransferKind::Gift,
                other => anyhow::bail!("unknown transfer kind {other:?}; expected move or gift"),
            };
            let category = match &a.category {
                Some(c) => super::bonds::category_from_name(c)? as i32,
                None => 0,
            };
            let c = a.client.connect().await?;
            let r = c
                .request_transfer(pb::RequestTransfer {
                    kind: kind as i32,
                    series_id: a.series.clone(),
                    from_bank_id: a.from_bank.clone(),
                    from_investor_ref: a.from_investor.clone(),
                    to_investor_ref: a.to_investor.clone(),
                    units: a.units.clone(),
                    recipient_category: category,
                    recipient_country: a.country.clone().unwrap_or_default(),
                    registration: a.registration.to_pb()?,
                })
                .await
                .map_err(status_error)?;
            print_transfer(&r, a.client.json)
        }
        TransferCommand::Confirm(a) => {
            let c = a.client.connect().await?;
            let r = c.confirm_transfer(a.id).await.map_err(status_error)?;
            print_transfer(&r, a.client.json)
        }
        TransferCommand::Refuse { args, reason } => {
            let c = args.client.connect().await?;
            let r = c
                .refuse_transfer(args.id, reason)
                .await
                .map_err(status_error)?;
            print_transfer(&r, args.client.json)
        }
        TransferCommand::List {
            client,
            series,
            pending,
        } => {
            let c = client.connect().await?;
            let list = c
                .list_transfers(series, *pending)
                .await
                .map_err(status_error)?;
            if client.json {
                let v: Vec<Value> = list.iter().map(transfer_json).collect();
                return say!("{}", serde_json::to_string_pretty(&v)?);
            }
            if list.is_empty() {
                return say!("no transfers");
            }
            for t in &list {
                say!("{}", transfer_line(t))?;
            }
            Ok(())
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct RedeemVerb {
    #[command(flatten)]
    pub client: ClientArgs,
    #[arg(long)]
    pub series: String,
    #[arg(long)]
    pub investor: String,
    /// The custodian bank (default: the caller's own).
    #[arg(long, default_value = "")]
    pub bank: String,
    #[arg(long)]
    pub units: String,
    /// on_request (lock-up and penalty apply), death or hardship.
    #[arg(long, default_value = "on_request")]
    pub reason: String,
    #[command(flatten)]
    pub document: DocumentArgs,
}

pub async fn run_redeem(a: &RedeemVerb) -> anyhow::Result<()> {
    let reason = match a.reason.as_str() {
        "on_request" => pb::RedemptionReason::OnRequest,
        "death" => pb::RedemptionReason::Death,
        "hardship" => pb::RedemptionReason::Hardship,
        other => anyhow::bail!(
            "unknown redemption reason {other:?}; expected on_request, death or hardship"
        ),
    };
    let c = a.client.connect().await?;
    let r = c
        .redeem_early(pb::RedeemEarly {
            series_id: a.series.clone(),
            investor_ref: a.investor.clone(),
            bank_id: a.bank.clone(),
            units: a.units.clone(),
            reason: reason as i32,
            document_hash: a.document.hash()?,
        })
        .await
        .map_err(status_error)?;
    let e = r.redemption.clone().unwrap_or_default();
    if a.client.json {
        let v = json!({
            "redemption_id": e.redemption_id, "series_id": e.series_id, "investor_ref": e.investor_ref,
            "bank_id": e.bank_id, "units": e.units, "reason": a.reason, "redemption_date": e.redemption_date,
            "accrued_per_unit": e.accrued_per_unit, "penalty_months": e.penalty_months,
            "penalty_per_unit": e.penalty_per_unit, "price_per_unit": e.price_per_unit,
            "amount": e.amount, "rounding": e.rounding, "currency": e.currency,
            "holding": r.holding.as_ref().map(super::bonds::holding_json),
            "receipt": receipt_json(r.receipt.as_ref()),
        });
        return say!("{}", serde_json::to_string_pretty(&v)?);
    }
    say!(
        "{} units of {} redeemed for {} on {}: {} {} due to {}",
        e.units,
        e.series_id,
        e.investor_ref,
        e.redemption_date,
        e.currency,
        e.amount,
        e.bank_id
    )?;
    say!(
        "  per unit: face + accrued {} - penalty {} ({} months) = {} (amount rounded {} to the minor unit)",
        e.accrued_per_unit,
        e.penalty_per_unit,
        e.penalty_months,
        e.price_per_unit,
        e.rounding
    )?;
    if let Some(h) = &r.holding {
        say!("  {}", holding_line(h))?;
    }
    receipt_line(r.receipt.as_ref())
}
