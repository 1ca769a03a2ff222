//! The commands of a holding's life after issue, as a run's bytes describe
//! them: changes of registration, moves between banks and gifts (requested,
//! confirmed, refused), death notices and early redemptions. Most are what a
//! careful bank sends (a holding that exists, units it has, after the engine
//! caught up); the rest are at and beyond the bounds, by the wrong bank, or on
//! holdings and transfers that do not exist.

use super::input::Input;
use super::{Failure, Sim};
use crate::money::Units;
use crate::registry::{
    Caller, ChangeRegistration, Command, Country, DiasporaCategory, EarlyRedemptionTerms,
    FileDeathNotice, Holding, InvestorRef, ParticipantId, RedeemEarly, RedemptionReason,
    RegistrationForm, RequestTransfer, SeriesId, SeriesStatus, TransferKind, TransferPolicy,
    TransferStatus,
};
use chrono::Duration;
use rust_decimal::Decimal;

fn iref(s: &str) -> InvestorRef {
    InvestorRef::parse("investor_ref", s).expect("a valid reference")
}

fn country(code: &str) -> Country {
    Country::parse("country", code).expect("an assigned code")
}

impl Sim<'_> {
    /// A series' transfer terms: mostly gifts, so that runs exercise them.
    pub(super) fn transfer_policy(&self, input: &mut Input) -> TransferPolicy {
        input.pick(&[
            TransferPolicy::Gifts,
            TransferPolicy::Gifts,
            TransferPolicy::BetweenBanks,
            TransferPolicy::None,
        ])
    }

    /// A series' early-redemption terms: mostly every way to redeem, now and
    /// then none, or terms at and beyond their bounds.
    pub(super) fn early_terms(&self, input: &mut Input) -> Option<EarlyRedemptionTerms> {
        let usual = EarlyRedemptionTerms {
            on_request: true,
            lockup_months: input.pick(&[0, 6, 12]),
            penalty_months: input.pick(&[0, 3]),
            death_put: true,
            hardship_put: true,
            hardship_quota: Some(input.pick(&[Decimal::new(5, 2), Decimal::new(1, 3)])),
        };
        let usual = if input.chance(32) { None } else { Some(usual) };
        input.usual_or(
            usual,
            &[
                Some(EarlyRedemptionTerms {
                    on_request: false,
                    lockup_months: 0,
                    penalty_months: 0,
                    death_put: false,
                    hardship_put: false,
                    hardship_quota: None,
                }),
                Some(EarlyRedemptionTerms {
                    on_request: true,
                    lockup_months: 361,
                    penalty_months: 25,
                    death_put: false,
                    hardship_put: true,
                    hardship_quota: Some(Decimal::TWO),
                }),
            ],
        )
    }

    /// A registration form for a subscription or holding of `investor`:
    /// mostly sole, sometimes each other form, now and then one that is
    /// refused (one joint owner, the owner its own beneficiary, a custody that
    /// has ended).
    pub(super) fn form(&self, input: &mut Input, investor: &str) -> RegistrationForm {
        let today = self.now.date_naive();
        let usual = input.pick(&[
            RegistrationForm::Sole,
            RegistrationForm::Sole,
            RegistrationForm::Sole,
            RegistrationForm::Joint {
                owners: vec![iref(investor), iref("inv-5")],
            },
            RegistrationForm::Joint {
                owners: vec![iref("inv-3"), iref("inv-4"), iref("inv-5")],
            },
            RegistrationForm::Beneficiary {
                beneficiaries: vec![iref("ben-1"), iref("ben-2"), iref("ben-3")],
            },
            RegistrationForm::Minor {
                custodian: iref("cus-1"),
                custody_ends: today + Duration::days(3 * 365),
            },
        ]);
        input.usual_or(
            usual,
            &[
                RegistrationForm::Joint {
                    owners: vec![iref(investor)],
                },
                RegistrationForm::Beneficiary {
                    beneficiaries: vec![iref(investor)],
                },
                RegistrationForm::Minor {
                    custodian: iref("cus-1"),
                    custody_ends: today,
                },
            ],
        )
    }

    /// A holding of an issued series (mostly one with units), its series, and
    /// its bank as a caller; `None` when no series is issued yet.
    fn some_holding(&self, input: &mut Input) -> Option<(Holding, Caller)> {
        let issued: Vec<SeriesId> = self
            .state
            .all_series()
            .filter(|s| s.status == SeriesStatus::Issued)
            .map(|s| s.terms.series_id.clone())
            .collect();
        if issued.is_empty() {
            return None;
        }
        let id = issued[input.below(issued.len())].clone();
        let holdings: Vec<Holding> = self
            .state
            .series_holdings(&id, None)
            .filter(|h| h.units > 0 || input.chance(16))
            .cloned()
            .collect();
        if holdings.is_empty() {
            return None;
        }
        let h = holdings[input.below(holdings.len())].clone();
        let bank = self.bank(h.bank_id.as_str());
        Some((h, bank))
    }

    /// Posts what is due on a series first, most of the time: holdings change
    /// only once the engine has caught up.
    fn caught_up(&mut self, input: &mut Input, id: &SeriesId) -> Result<(), Failure> {
        if input.chance(224) {
            self.catch_up(input, id)?;
        }
        Ok(())
    }

    /// A command of a holding's life; while no series is issued, a step that
    /// takes one towards issue instead, so that runs spend their commands on
    /// holdings that exist.
    pub(super) fn life(&mut self, input: &mut Input) -> Result<(), Failure> {
        let issued = self
            .state
            .all_series()
            .any(|s| s.status == SeriesStatus::Issued);
        if !issued {
            return self.drive(input);
        }
        match input.byte() % 6 {
            0 | 1 => self.request_transfer(input),
            2 => self.close_transfer(input),
            3 => self.death_notice(input),
            4 => self.redeem(input),
            _ => self.change_registration(input),
        }
    }

    fn request_transfer(&mut self, input: &mut Input) -> Result<(), Failure> {
        let Some((h, from)) = self.some_holding(input) else {
            return Ok(());
        };
        self.caught_up(input, &h.series_id)?;
        let gift = input.chance(128);
        let receiving = if gift {
            input.pick(&self.banks)
        } else {
            let others: Vec<Caller> = self
                .banks
                .iter()
                .filter(|b| b.participant_id != from.participant_id)
                .cloned()
                .collect();
            if others.is_empty() {
                return Ok(());
            }
            input.pick(&others)
        };
        let to_investor = if gift {
            format!("inv-{}", input.below(8))
        } else {
            h.investor_ref.to_string()
        };
        let free = h.units.saturating_sub(h.pending_units).max(1);
        let units = 1 + input.below(usize::try_from(free.min(50)).unwrap_or(1)) as u64;
        let units = input.usual_or(units, &[0, h.units + 1, u64::MAX]);
        let recipient = gift.then(|| {
            (
                input.usual_or(DiasporaCategory::CitizenAbroad, &DiasporaCategory::ALL),
                input.usual_or(country("DE"), &[country("IR"), country("US")]),
            )
        });
        let command = Command::RequestTransfer(RequestTransfer {
            kind: if gift {
                TransferKind::Gift
            } else {
                TransferKind::Move
            },
            series_id: h.series_id.clone(),
            from_bank: h.bank_id.clone(),
            from_investor: h.investor_ref.clone(),
            to_investor: iref(&to_investor),
            units: Units::new(units),
            recipient,
            registration: self.form(input, &to_investor),
        });
        let who = self.who(input, &receiving);
        self.execute(&who, command)
    }

    /// Confirms (mostly) or refuses a pending transfer, mostly by the
    /// delivering bank.
    fn close_transfer(&mut self, input: &mut Input) -> Result<(), Failure> {
        let pending: Vec<(u64, ParticipantId, ParticipantId, SeriesId)> = self
            .state
            .transfers()
            .filter(|t| t.status == TransferStatus::Pending || input.chance(16))
            .map(|t| {
                (
                    t.transfer_id,
                    t.from_bank.clone(),
                    t.to_bank.clone(),
                    t.series_id.clone(),
                )
            })
            .collect();
        let (id, from, to, series) = if pending.is_empty() || input.chance(8) {
            let any = self.banks[0].participant_id.clone();
            (
                input.pick(&[0, 7, u64::MAX]),
                any.clone(),
                any,
                SeriesId::parse("s", "NONE").expect("a valid id"),
            )
        } else {
            pending[input.below(pending.len())].clone()
        };
        if self.state.series(&series).is_some() {
            self.caught_up(input, &series)?;
        }
        let command = if input.chance(192) {
            Command::ConfirmTransfer(id)
        } else {
            Command::RefuseTransfer {
                transfer_id: id,
                reason: input.usual_or("the client asked".to_string(), &[String::new()]),
            }
        };
        let usual = if matches!(command, Command::RefuseTransfer { .. }) && input.chance(64) {
            self.bank(to.as_str())
        } else {
            self.bank(from.as_str())
        };
        let who = self.who(input, &usual);
        self.execute(&who, command)
    }

    fn death_notice(&mut self, input: &mut Input) -> Result<(), Failure> {
        let Some((h, bank)) = self.some_holding(input) else {
            return Ok(());
        };
        self.caught_up(input, &h.series_id)?;
        let owners: Vec<InvestorRef> = h
            .registration
            .owners(&h.investor_ref)
            .into_iter()
            .cloned()
            .collect();
        let owner = owners[input.below(owners.len())].clone();
        let owner = input.usual_or(owner, &[iref("nobody")]);
        let today = self.now.date_naive();
        let died = today - Duration::days(input.pick(&[0, 10, 400]));
        let date_of_death = input.usual_or(died, &[today + Duration::days(1)]);
        let estate = input.pick(&[Some(iref("est-1")), Some(iref("est-2")), None]);
        let command = Command::FileDeathNotice(FileDeathNotice {
            owner_ref: owner,
            date_of_death,
            document_hash: [input.byte(); 32],
            estate_ref: input.usual_or(estate, &[Some(h.investor_ref.clone())]),
        });
        let who = self.who(input, &bank);
        self.execute(&who, command)
    }

    fn redeem(&mut self, input: &mut Input) -> Result<(), Failure> {
        let Some((h, bank)) = self.some_holding(input) else {
            return Ok(());
        };
        self.caught_up(input, &h.series_id)?;
        let free = h.units.saturating_sub(h.pending_units).max(1);
        let units = 1 + input.below(usize::try_from(free.min(50)).unwrap_or(1)) as u64;
        let units = input.usual_or(units, &[0, h.units + 1]);
        let reason = input.pick(&[
            RedemptionReason::OnRequest,
            RedemptionReason::OnRequest,
            RedemptionReason::Death,
            RedemptionReason::Hardship,
        ]);
        let document_hash = if reason == RedemptionReason::Hardship || input.chance(64) {
            input.usual_or(Some([7u8; 32]), &[None])
        } else {
            None
        };
        let command = Command::RedeemEarly(RedeemEarly {
            series_id: h.series_id.clone(),
            investor_ref: h.investor_ref.clone(),
            bank_id: input.usual_or(None, &[Some(self.banks[0].participant_id.clone())]),
            units: Units::new(units),
            reason,
            document_hash,
        });
        let who = self.who(input, &bank);
        self.execute(&who, command)
    }

    fn change_registration(&mut self, input: &mut Input) -> Result<(), Failure> {
        let Some((h, bank)) = self.some_holding(input) else {
            return Ok(());
        };
        let command = Command::ChangeRegistration(ChangeRegistration {
            series_id: h.series_id.clone(),
            investor_ref: h.investor_ref.clone(),
            bank_id: input.usual_or(None, &[Some(self.banks[0].participant_id.clone())]),
            form: self.form(input, h.investor_ref.as_str()),
        });
        let who = self.who(input, &bank);
        self.execute(&who, command)
    }
}
