//! A small signed ledger built in memory from fixed keys, shared by the targets:
//! genesis, a treasury, two banks and an engine, one open series and one
//! subscription; and the same ledger carried on through the series' life (see
//! `stages`), so that commands meet a series in every state. `World::request` takes a command through the steps the server's
//! writer takes (authorize, decide, seal, apply), so a target can check that what
//! the writer would record is what an auditor's verifier accepts.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use dbond::audit::Verifier;
use dbond::codec;
use dbond::ledger::checkpoint::{self, Checkpoint};
use dbond::ledger::entry::{self, Origin};
use dbond::ledger::keys::{self, KeyId, REQUEST_CONTEXT};
use dbond::ledger::merkle::{Frontier, Hash};
use dbond::proto as pb;
use dbond::registry::{self, Changes, Decision, EntryMeta, Event, State};
use dbond_testkit::{Life, Terms, day, ts};
use ed25519_dalek::SigningKey;
use prost::Message;
use std::sync::OnceLock;

pub const ORIGIN: &str = "fuzz.example/dbond";
pub const SERIES: &str = "AZ-2035-USD";

/// Signers, by position: what `request` takes as `who`.
pub const ADMIN: usize = 0;
pub const TREASURY: usize = 1;
pub const BANK_A: usize = 2;
pub const BANK_B: usize = 3;
pub const ENGINE: usize = 4;

#[derive(Clone)]
pub struct World {
    pub ledger_key: SigningKey,
    pub signers: Vec<SigningKey>,
    pub entries: Vec<Vec<u8>>,
    pub state: State,
    pub frontier: Frontier,
    pub last_hash: Hash,
    pub now: DateTime<Utc>,
    nonce: u64,
}

/// What the writer would do with a request.
#[derive(Debug)]
pub enum Outcome {
    Appended(Vec<Event>),
    Existing(u64),
}

/// Terms of a five-year fixed-coupon series whose window is open at `now`.
pub fn series_terms(now: DateTime<Utc>) -> pb::SeriesTerms {
    let life = Life {
        opens: now - chrono::Duration::hours(1),
        closes: now + chrono::Duration::days(7),
        settlement_deadline: now + chrono::Duration::days(10),
        issue: day("2030-02-01"),
        maturity: day("2035-02-01"),
    };
    Terms::new(SERIES, life)
        .name("Diaspora bond 2035")
        .cap_units(150)
        .categories(&[
            pb::DiasporaCategory::CitizenAbroad,
            pb::DiasporaCategory::FormerCitizen,
        ])
        .countries_barred(&["KP"])
        .diaspora_pricing("0.065", "150", false)
        .build()
}

impl World {
    fn build() -> World {
        let ledger_key = SigningKey::from_bytes(&[1u8; 32]);
        let signers: Vec<SigningKey> = (2u8..7).map(|b| SigningKey::from_bytes(&[b; 32])).collect();
        let now = Utc.with_ymd_and_hms(2030, 1, 15, 12, 0, 0).unwrap();
        let mut w = World {
            ledger_key,
            signers,
            entries: Vec::new(),
            state: State::new(),
            frontier: Frontier::new(),
            last_hash: entry::GENESIS_PREV_HASH,
            now,
            nonce: 0,
        };
        let admin = w.signers[ADMIN].verifying_key();
        let genesis_command = pb::command::Kind::Genesis(pb::Genesis {
            origin: ORIGIN.into(),
            ledger_public_key: w.ledger_key.verifying_key().to_bytes().to_vec(),
            admin_participant_id: "admin".into(),
            admin_public_key: admin.to_bytes().to_vec(),
            simulated_clock: false,
        });
        let (payload, signature) = w.sign(ADMIN, genesis_command);
        let event = Event::Genesis(registry::GenesisRecorded {
            format_version: dbond::ledger::FORMAT_VERSION,
            origin: ORIGIN.into(),
            ledger_public_key: registry::PublicKey(w.ledger_key.verifying_key().to_bytes()),
            admin_participant_id: registry::ParticipantId::parse("id", "admin").unwrap(),
            admin_public_key: registry::PublicKey(admin.to_bytes()),
            admin_key_id: KeyId::of(&admin),
            simulated_clock: false,
        });
        w.append(
            &event,
            Origin::Actor(pb::Actor {
                key_id: KeyId::of(&admin).to_string(),
                request: payload,
                signature,
            }),
        );
        for (who, id, role) in [
            (TREASURY, "treasury", pb::Role::Treasury),
            (BANK_A, "bank-a", pb::Role::Bank),
            (BANK_B, "bank-b", pb::Role::Bank),
            (ENGINE, "engine", pb::Role::Engine),
        ] {
            let key = w.signers[who].verifying_key();
            w.request(
                ADMIN,
                pb::command::Kind::RegisterParticipant(pb::RegisterParticipant {
                    participant_id: id.into(),
                    role: role as i32,
                    public_key: key.to_bytes().to_vec(),
                    display_name: id.into(),
                }),
            )
            .expect("register");
        }
        w.request(
            TREASURY,
            pb::command::Kind::CreateSeries(pb::CreateSeries {
                terms: Some(series_terms(now)),
            }),
        )
        .expect("create series");
        w.request(
            TREASURY,
            pb::command::Kind::OpenSeries(pb::OpenSeries {
                series_id: SERIES.into(),
            }),
        )
        .expect("open series");
        w.request(
            BANK_A,
            pb::command::Kind::SubmitSubscription(pb::SubmitSubscription {
                series_id: SERIES.into(),
                investor_ref: "inv-001".into(),
                category: pb::DiasporaCategory::CitizenAbroad as i32,
                country: "DE".into(),
                units: "10".into(),
                idempotency_key: "order-1".into(),
                registration: None,
            }),
        )
        .expect("subscribe");
        w
    }

    /// The shared starting world (built once per process): the series is open.
    pub fn get() -> &'static World {
        &stages()[0].world
    }

    fn subscribe(&mut self, who: usize, n: u32, units: u32) {
        self.request(
            who,
            pb::command::Kind::SubmitSubscription(pb::SubmitSubscription {
                series_id: SERIES.into(),
                investor_ref: format!("inv-{who}-{n}"),
                category: pb::DiasporaCategory::FormerCitizen as i32,
                country: "FR".into(),
                units: units.to_string(),
                idempotency_key: format!("order-{who}-{n}"),
                registration: None,
            }),
        )
        .expect("subscribe");
    }

    fn transition(&mut self, kind: pb::command::Kind) {
        if let Err(e) = self.request(TREASURY, kind.clone()) {
            panic!("{kind:?}: {e}");
        }
    }

    fn at(&mut self, y: i32, m: u32, d: u32) {
        self.now = Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap();
    }

    /// Signs `kind` as `who` with a fresh nonce at the world's time.
    pub fn sign(&mut self, who: usize, kind: pb::command::Kind) -> (Vec<u8>, Vec<u8>) {
        self.nonce += 1;
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&self.nonce.to_be_bytes());
        let payload = pb::RequestPayload {
            ledger_origin: ORIGIN.into(),
            issued_at: ts(self.now),
            nonce: nonce.to_vec(),
            command: Some(pb::Command { kind: Some(kind) }),
        }
        .encode_to_vec();
        let signature = keys::sign(&self.signers[who], REQUEST_CONTEXT, &payload);
        (payload, signature.to_bytes().to_vec())
    }

    /// Seals `event` as the next entry and applies it, as the writer does. An event
    /// that `decide` produced must apply: the writer stops for good otherwise.
    pub fn append(&mut self, event: &Event, origin: Origin) {
        let index = self.state.size();
        let sealed = entry::seal(
            index,
            codec::timestamp_to_pb(self.now),
            &self.last_hash,
            codec::event_to_pb(event),
            origin,
            &self.ledger_key,
        );
        let mut changes = Changes::default();
        let meta = EntryMeta {
            index,
            recorded_at: self.now,
        };
        if let Err(e) = registry::apply(&mut self.state, &meta, event, &mut changes) {
            panic!("an event decide produced does not apply: {e}\nevent: {event:?}");
        }
        self.frontier.append(sealed.hash, |_, _, _| {});
        self.last_hash = sealed.hash;
        self.entries.push(sealed.bytes);
    }

    /// Signs `kind` as `who` and takes it through the writer's steps. `Err` is a
    /// refusal (bad input or a rule of the registry).
    pub fn request(&mut self, who: usize, kind: pb::command::Kind) -> Result<Outcome, String> {
        let command = codec::command_from_kind(&kind).map_err(|e| e.to_string())?;
        let (payload, signature) = self.sign(who, kind);
        let key_id = KeyId::of(&self.signers[who].verifying_key());
        let index = self.state.size();
        let caller =
            dbond::store::authorize(&self.state, &key_id, index).map_err(|e| e.to_string())?;
        let ctx = registry::DecideCtx {
            index,
            recorded_at: self.now,
        };
        match registry::decide(&self.state, &caller, &ctx, &command).map_err(|e| e.to_string())? {
            Decision::Existing { index } => Ok(Outcome::Existing(index)),
            Decision::Append(events) => {
                let mut actor = Some(pb::Actor {
                    key_id: key_id.to_string(),
                    request: payload,
                    signature,
                });
                for event in &events {
                    let origin = match actor.take() {
                        Some(a) => Origin::Actor(a),
                        None => Origin::Cause(index),
                    };
                    self.append(event, origin);
                }
                Ok(Outcome::Appended(events))
            }
        }
    }

    /// A verifier that has accepted every entry of the world.
    pub fn verifier(&self) -> Verifier {
        let mut v = Verifier::new();
        for (i, bytes) in self.entries.iter().enumerate() {
            if let Err(e) = v.push(bytes) {
                panic!("the world's entry {i} does not verify: {e}");
            }
        }
        v
    }

    /// A verifier that has accepted every entry of the shared world.
    pub fn primed() -> Verifier {
        stages()[0].verifier.clone()
    }

    /// The world's signed checkpoint.
    pub fn checkpoint(&self) -> String {
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size: self.frontier.size(),
            root: self.frontier.root(),
            extensions: Vec::new(),
        };
        checkpoint::sign(&cp, ORIGIN, &self.ledger_key)
    }
}

/// The world at one point of the series' life, and a verifier that has accepted
/// every entry of it.
pub struct Stage {
    pub name: &'static str,
    pub world: World,
    pub verifier: Verifier,
}

/// The series open; closed with an oversubscribed book; allotted pro rata; settled
/// and issued; half a year on, its first record date and coupon due; and with the
/// record date posted. Built once per process.
pub fn stages() -> &'static [Stage] {
    static STAGES: OnceLock<Vec<Stage>> = OnceLock::new();
    STAGES.get_or_init(|| {
        let series = || SERIES.to_string();
        let mut worlds = Vec::new();
        let mut w = World::build();
        worlds.push(("open", w.clone()));
        for (n, units) in [35, 60, 17, 90, 44, 71].into_iter().enumerate() {
            w.subscribe(if n % 2 == 0 { BANK_A } else { BANK_B }, n as u32, units);
        }
        w.transition(pb::command::Kind::CloseSeries(pb::CloseSeries {
            series_id: series(),
        }));
        worlds.push(("closed", w.clone()));
        w.transition(pb::command::Kind::AllotSeries(pb::AllotSeries {
            series_id: series(),
        }));
        worlds.push(("allotted", w.clone()));
        let id = dbond::registry::SeriesId::parse("id", SERIES).unwrap();
        let to_settle: Vec<(u64, usize)> = w
            .state
            .book(&id)
            .filter(|s| s.allotted_units > 0)
            .map(|s| {
                let who = if s.bank_id.as_str() == "bank-a" {
                    BANK_A
                } else {
                    BANK_B
                };
                (s.subscription_id, who)
            })
            .collect();
        for (subscription_id, who) in to_settle {
            w.request(
                who,
                pb::command::Kind::ConfirmSettlement(pb::ConfirmSettlement { subscription_id }),
            )
            .expect("settle");
        }
        w.at(2030, 2, 1);
        w.transition(pb::command::Kind::IssueSeries(pb::IssueSeries {
            series_id: series(),
        }));
        worlds.push(("issued", w.clone()));
        w.at(2030, 8, 5);
        worlds.push(("coupon due", w.clone()));
        w.request(
            ENGINE,
            pb::command::Kind::PostAccrualEvent(pb::PostAccrualEvent {
                series_id: series(),
                event_id: format!("{SERIES}/record/0"),
            }),
        )
        .expect("post the first record date");
        worlds.push(("record date posted", w));
        worlds
            .into_iter()
            .map(|(name, world)| Stage {
                name,
                verifier: world.verifier(),
                world,
            })
            .collect()
    })
}
