//! A driver for randomized tests of the state machine: bytes in, a sequence of
//! commands out (every command kind, fields within and beyond their bounds,
//! several banks and series, through the whole lifecycle, and the holdings'
//! life after issue: changes of form, moves and gifts, successions and early
//! redemptions), each decided and its
//! events applied as the ledger writer does, with the conservation laws
//! (`invariants`) checked after every command.
//!
//! The same bytes always give the same run, so a failing input replays: the
//! property test keeps it in its regressions file, the fuzz target in its
//! artifacts. Compiled for tests and with the `sim` feature (the fuzz crate).

mod commands;
mod input;
mod life;

use super::invariants;
use super::{
    Caller, Changes, Command, DecideCtx, Decision, EntryMeta, Event, GenesisRecorded,
    ParticipantId, PublicKey, RegisterParticipant, Role, State, apply, decide,
};
use crate::ids::KeyId;
use chrono::{DateTime, TimeZone, Utc};
use input::Input;
use std::collections::BTreeSet;
use std::fmt;

/// A check of each event before it is applied.
pub type EventCheck = dyn Fn(&Event) -> Result<(), String>;

/// How a run is checked.
#[derive(Default)]
pub struct Options<'a> {
    /// Called with every event before it is applied; an error fails the run
    /// (the tests and the fuzz target check each event's ledger form here).
    pub on_event: Option<&'a EventCheck>,
    /// Applies every decision of several events without its last one: a broken
    /// writer, to show that the checks catch one.
    pub drop_last_event: bool,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Commands decided.
    pub commands: usize,
    /// Commands whose events were appended.
    pub appended: usize,
    /// Commands refused.
    pub refused: usize,
    /// Idempotent repeats answered with an earlier entry.
    pub repeated: usize,
    /// The kinds of the events applied.
    pub kinds: BTreeSet<&'static str>,
}

/// A law broken, an event that did not apply, or a replay that disagreed.
#[derive(Debug)]
pub struct Failure {
    /// The command's position in the run (0 for the set-up).
    pub step: usize,
    /// The command, as `Debug` prints it (cut short).
    pub command: String,
    /// What went wrong.
    pub what: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {}: {}\ncommand: {}",
            self.step, self.what, self.command
        )
    }
}

/// Commands one run decides at most.
pub const COMMANDS_MAX: usize = 400;

/// Runs the commands `bytes` describe against a fresh registry.
pub fn run(bytes: &[u8], options: &Options) -> Result<Report, Failure> {
    let mut sim = Sim::new(options)?;
    let mut input = Input::new(bytes);
    while !input.is_empty() && sim.step < COMMANDS_MAX {
        sim.step += 1;
        sim.next(&mut input)?;
    }
    sim.check_replay()?;
    Ok(sim.report)
}

/// The registry under test and the participants that act on it.
struct Sim<'a> {
    options: &'a Options<'a>,
    state: State,
    /// Follows `state` by applying the same events, as the store's readers do.
    readers: State,
    log: Vec<(EntryMeta, Event)>,
    now: DateTime<Utc>,
    admin: Caller,
    treasury: Caller,
    engine: Caller,
    auditor: Caller,
    banks: Vec<Caller>,
    /// Seeds of keys handed out so far (each participant needs its own key).
    keys: u8,
    step: usize,
    report: Report,
}

fn key(seed: u8) -> (PublicKey, KeyId) {
    let k = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key();
    (PublicKey(k.to_bytes()), KeyId::of(&k))
}

fn caller(id: &str, role: Role, seed: u8) -> Caller {
    Caller {
        participant_id: ParticipantId::parse("participant_id", id).expect("a valid id"),
        role,
        key_id: key(seed).1,
    }
}

fn cut(text: String) -> String {
    match text.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

impl<'a> Sim<'a> {
    fn new(options: &'a Options<'a>) -> Result<Sim<'a>, Failure> {
        let start = Utc
            .with_ymd_and_hms(2026, 1, 5, 12, 0, 0)
            .single()
            .expect("a valid time");
        let mut sim = Sim {
            options,
            state: State::new(),
            readers: State::new().readers_copy(),
            log: Vec::new(),
            now: start,
            admin: caller("admin", Role::Admin, 1),
            treasury: caller("treasury", Role::Treasury, 3),
            engine: caller("engine", Role::Engine, 4),
            auditor: caller("auditor", Role::Auditor, 5),
            banks: vec![
                caller("bank-a", Role::Bank, 6),
                caller("bank-b", Role::Bank, 7),
                caller("bank-c", Role::Bank, 8),
            ],
            keys: 9,
            step: 0,
            report: Report::default(),
        };
        let (admin_key, admin_key_id) = key(1);
        let genesis = Event::Genesis(GenesisRecorded {
            format_version: crate::ids::FORMAT_VERSION,
            origin: "sim.example/dbond".into(),
            ledger_public_key: key(2).0,
            admin_participant_id: sim.admin.participant_id.clone(),
            admin_public_key: admin_key,
            admin_key_id,
            simulated_clock: false,
        });
        sim.append(vec![genesis], "genesis")?;
        let mut others = vec![
            (sim.treasury.clone(), 3),
            (sim.engine.clone(), 4),
            (sim.auditor.clone(), 5),
        ];
        others.extend(sim.banks.iter().cloned().zip(6..));
        for (who, seed) in others {
            let register = Command::RegisterParticipant(RegisterParticipant {
                participant_id: who.participant_id.clone(),
                role: who.role,
                public_key: key(seed).0,
                display_name: who.participant_id.to_string(),
            });
            let admin = sim.admin.clone();
            sim.execute(&admin, register)?;
        }
        if sim.report.refused > 0 {
            return Err(sim.fail("", "the set-up was refused".into()));
        }
        Ok(sim)
    }

    fn fail(&self, command: &str, what: String) -> Failure {
        Failure {
            step: self.step,
            command: command.to_string(),
            what,
        }
    }

    /// Decides `command` by `who` and applies what it decides.
    fn execute(&mut self, who: &Caller, command: Command) -> Result<(), Failure> {
        self.report.commands += 1;
        let ctx = DecideCtx {
            index: self.state.size(),
            recorded_at: self.now,
        };
        let described = || cut(format!("{command:?} by {}", who.participant_id));
        match decide(&self.state, who, &ctx, &command) {
            Ok(Decision::Append(mut events)) => {
                if events.is_empty() {
                    return Err(self.fail(&described(), "a decision with no events".into()));
                }
                invariants::check_decision(&events).map_err(|e| self.fail(&described(), e))?;
                if self.options.drop_last_event && events.len() > 1 {
                    events.pop();
                }
                self.report.appended += 1;
                self.append(events, &described())?;
            }
            Ok(Decision::Existing { index }) => {
                if index >= self.state.size() {
                    return Err(self.fail(
                        &described(),
                        format!("a repeat answered with entry {index}, beyond the ledger"),
                    ));
                }
                self.report.repeated += 1;
            }
            Err(_) => self.report.refused += 1,
        }
        invariants::check_state(&self.state).map_err(|e| self.fail(&described(), e))
    }

    /// Applies `events` as the entries after the last, recorded now.
    fn append(&mut self, events: Vec<Event>, command: &str) -> Result<(), Failure> {
        let mut changes = Changes::default();
        for event in events {
            if let Some(check) = self.options.on_event {
                check(&event).map_err(|e| self.fail(command, e))?;
            }
            let meta = EntryMeta {
                index: self.state.size(),
                recorded_at: self.now,
            };
            apply(&mut self.state, &meta, &event, &mut changes).map_err(|e| {
                self.fail(
                    command,
                    format!("a decided {} did not apply: {e}", event.kind()),
                )
            })?;
            apply(&mut self.readers, &meta, &event, &mut changes).map_err(|e| {
                self.fail(
                    command,
                    format!("the readers' copy did not apply {}: {e}", event.kind()),
                )
            })?;
            self.report.kinds.insert(event.kind());
            self.log.push((meta, event));
        }
        Ok(())
    }

    /// Replaying the log from genesis gives the state the run holds, and the
    /// readers' copy holds the same records.
    fn check_replay(&self) -> Result<(), Failure> {
        let mut fresh = State::new();
        let mut changes = Changes::default();
        for (meta, event) in &self.log {
            apply(&mut fresh, meta, event, &mut changes)
                .map_err(|e| self.fail("replay", format!("replay failed: {e}")))?;
        }
        let records = self.state.records();
        if fresh.records() != records {
            return Err(self.fail("replay", "the replayed state differs".into()));
        }
        if fresh != self.state {
            return Err(self.fail("replay", "the replayed indexes differ".into()));
        }
        if self.readers.records() != records {
            return Err(self.fail("replay", "the readers' copy differs".into()));
        }
        invariants::check_state(&fresh).map_err(|e| self.fail("replay", e))
    }
}

#[cfg(test)]
mod tests;
