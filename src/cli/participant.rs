//! `dbond participant ...`: register, rotate, revoke and list participants.

use super::{ClientArgs, status_error};
use super::{out, say};
use crate::ledger::keys;
use crate::proto as pb;
use crate::registry::Role;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum ParticipantCommand {
    /// Register a participant with a role and public key (admin).
    Register {
        #[command(flatten)]
        client: ClientArgs,
        /// Participant id: lowercase letters, digits and '-'.
        #[arg(long)]
        id: String,
        /// treasury, bank, auditor, engine or admin.
        #[arg(long)]
        role: Role,
        /// The participant's public key file (from `dbond keygen`).
        #[arg(long)]
        public_key: PathBuf,
        /// Display name for operators (no personal data).
        #[arg(long)]
        name: String,
    },
    /// Replace a participant's key (admin, or the participant with its current key).
    Rotate {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        id: String,
        /// The new public key file.
        #[arg(long)]
        new_public_key: PathBuf,
    },
    /// Revoke a participant and its key (admin).
    Revoke {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// List participants.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn role_pb(role: Role) -> pb::Role {
    crate::codec::role_to_pb(role)
}

fn print(
    participants: &[pb::Participant],
    receipt: Option<&pb::Receipt>,
    json: bool,
) -> anyhow::Result<()> {
    let rows: Vec<serde_json::Value> = participants
        .iter()
        .map(|p| {
            serde_json::json!({
                "participant_id": p.participant_id,
                "role": pb::Role::try_from(p.role).map(|r| r.as_str_name()).unwrap_or("?"),
                "status": pb::ParticipantStatus::try_from(p.status).map(|s| s.as_str_name()).unwrap_or("?"),
                "key_id": p.key_id,
                "display_name": p.display_name,
                "registered_at_index": p.registered_at_index,
            })
        })
        .collect();
    if json {
        let mut out = serde_json::json!({ "participants": rows });
        if let Some(r) = receipt {
            out["receipt"] = serde_json::json!({ "index": r.index, "entry_hash": hex::encode(&r.entry_hash), "tree_size": r.tree_size });
        }
        say!("{}", serde_json::to_string_pretty(&out)?)?;
        return Ok(());
    }
    let mut table = out::table(&["PARTICIPANT", "ROLE", "STATUS", "KEY ID", "NAME"], &[]);
    for p in participants {
        let role = pb::Role::try_from(p.role)
            .map(|r| r.as_str_name().trim_start_matches("ROLE_").to_lowercase())
            .unwrap_or_default();
        let status = pb::ParticipantStatus::try_from(p.status)
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("PARTICIPANT_STATUS_")
                    .to_lowercase()
            })
            .unwrap_or_default();
        table.add_row(vec![
            p.participant_id.clone(),
            role,
            status,
            p.key_id.clone(),
            p.display_name.clone(),
        ]);
    }
    out::print_table(&table)?;
    if let Some(r) = receipt {
        say!(
            "recorded as entry {} (entry hash {}), ledger size {}",
            r.index,
            hex::encode(&r.entry_hash),
            r.tree_size
        )?;
    }
    Ok(())
}

pub async fn run(command: &ParticipantCommand) -> anyhow::Result<()> {
    match command {
        ParticipantCommand::Register {
            client,
            id,
            role,
            public_key,
            name,
        } => {
            let c = client.connect().await?;
            let key = keys::read_public_key(public_key)?;
            let r = c
                .register(id, role_pb(*role), &key, name)
                .await
                .map_err(status_error)?;
            print(
                &r.participant.into_iter().collect::<Vec<_>>(),
                r.receipt.as_ref(),
                client.json,
            )
        }
        ParticipantCommand::Rotate {
            client,
            id,
            new_public_key,
        } => {
            let c = client.connect().await?;
            let key = keys::read_public_key(new_public_key)?;
            let r = c.rotate(id, &key).await.map_err(status_error)?;
            print(
                &r.participant.into_iter().collect::<Vec<_>>(),
                r.receipt.as_ref(),
                client.json,
            )
        }
        ParticipantCommand::Revoke { client, id, reason } => {
            let c = client.connect().await?;
            let r = c.revoke(id, reason).await.map_err(status_error)?;
            print(
                &r.participant.into_iter().collect::<Vec<_>>(),
                r.receipt.as_ref(),
                client.json,
            )
        }
        ParticipantCommand::List { client } => {
            let c = client.connect().await?;
            let list = c.list_participants().await.map_err(status_error)?;
            print(&list, None, client.json)
        }
    }
}
