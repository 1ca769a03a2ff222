#!/usr/bin/env python3
"""Generates ledger-tests/vectors/pricing-extra.json with QuantLib (pip install QuantLib).

Same settings as the shared pricing-sample.json (see shared/vectors/README.md):
  Schedule(issue, maturity, Period(freq), calendar, accrual_conv, accrual_conv, rule, eom, first)
  FixedRateBond(0, face, schedule, rates, day_counter, bdc, 100.0, issue, calendar)
  ZeroCouponBond(0, calendar, face, maturity, bdc, 100.0, issue)
  accrued = bond.accruedAmount(settle) * face / 100
  clean = BondFunctions.cleanPrice(bond, y, dc, Compounded, freq, settle)
  yield = BondFunctions.bondYield(bond, BondPrice(clean, Clean), dc, Compounded, freq, settle, 1e-15, 1000, 0.05)
Additions of this project (each stated in docs/BONDMATH.md):
  - zero coupon ACT/ACT ICMA uses ActualActual(ISMA) without a schedule (a zero has
    no coupon schedule; QuantLib then counts notional years back from maturity);
  - step-up coupons: FixedRateBond with one rate per period, the rate in force on
    the period's accrual start;
  - payment lag: FixedRateLeg(..., paymentCalendar=calendar, paymentLag=n) plus a
    Redemption on the last coupon's payment date, in Bond(0, calendar, face, last
    payment, issue, leg);
  - par coupon and issuer savings: clean price is linear in the coupon, so the par
    coupon is (100 - P(0)) / (P(1) - P(0)) at issue; savings = (market par coupon
    - diaspora par coupon) * (NPV(1) - NPV(0)) at the reference yield, in currency.
A computation QuantLib refuses (ACT/ACT ICMA with a payment after the schedule end
raises "Dates out of range of schedule") is left out of the case.

It also writes ledger-tests/vectors/pricing-servicing.json (its own seed), the
figures of a series' life after issue, with the same settings:
  - "reopening": a tranche settling on a date inside the life (random dates in
    coupon periods, a coupon payment date, the days before and after it, an
    accrual end moved off a weekend), priced at the issue yield = reference yield
    - discount / 10,000: clean and dirty price (percent of face), accrued interest
    of one unit (accruedAmount * face / 100) and what one unit pays before any
    rounding, face * dirty / 100 (the clean price plus the accrued interest);
  - "rounded_coupon": the par coupon at the diaspora yield (as above), rounded
    half even to 6 decimals and then down to a multiple of the coupon step; the
    clean and dirty price at issue at the diaspora yield with that coupon; and
    the issuer's savings per unit at that coupon, face * (dirty(diaspora yield)
    - dirty(reference yield)) / 100 at issue.
Terms carry record_date_lag_days 0 (record date = payment date), so a tranche may
settle on any day of a coupon period, the day before a payment included.

Run from the repository root:  python3 ledger-tests/vectors/gen_quantlib.py
"""
import json
import random
import sys
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import QuantLib as ql

SEED = 20260425
OUT = "ledger-tests/vectors/pricing-extra.json"
SERVICING_SEED = 20260601
SERVICING_OUT = "ledger-tests/vectors/pricing-servicing.json"

FREQ = {"annual": ql.Annual, "semiannual": ql.Semiannual, "quarterly": ql.Quarterly, "monthly": ql.Monthly}
BDC = {
    "unadjusted": ql.Unadjusted,
    "following": ql.Following,
    "modified_following": ql.ModifiedFollowing,
    "preceding": ql.Preceding,
    "modified_preceding": ql.ModifiedPreceding,
}
CAL = {"none": ql.NullCalendar(), "weekends_only": ql.WeekendsOnly()}
DAY_COUNTS = ["30/360 US", "30/360 BOND", "30E/360", "ACT/360", "ACT/365F", "ACT/ACT ICMA", "ACT/ACT ISDA"]


def qd(s):
    y, m, d = map(int, s.split("-"))
    return ql.Date(d, m, y)


def iso(d):
    return d.ISO()


def day_counter(name, schedule):
    return {
        "30/360 US": lambda: ql.Thirty360(ql.Thirty360.USA),
        "30/360 BOND": lambda: ql.Thirty360(ql.Thirty360.BondBasis),
        "30E/360": lambda: ql.Thirty360(ql.Thirty360.European),
        "ACT/360": lambda: ql.Actual360(),
        "ACT/365F": lambda: ql.Actual365Fixed(),
        "ACT/ACT ICMA": lambda: ql.ActualActual(ql.ActualActual.ISMA, schedule)
        if schedule is not None
        else ql.ActualActual(ql.ActualActual.ISMA),
        "ACT/ACT ISDA": lambda: ql.ActualActual(ql.ActualActual.ISDA),
    }[name]()


def terms(face, rate, freq, dc, issue, maturity, bdc, cal, eom, rule, accrual, first=None, lag=0, step_up=None):
    t = {
        "face": face,
        "coupon_rate": rate,
        "frequency": freq,
        "day_count": dc,
        "issue_date": issue,
        "maturity_date": maturity,
        "first_coupon_date": first,
        "business_day_convention": bdc,
        "calendar": cal,
        "end_of_month": eom,
        "date_generation": rule,
        "accrual_dates": accrual,
        "payment_lag_days": lag,
    }
    if step_up:
        t["coupon_type"] = "step_up"
        t["step_up"] = [{"from": f, "rate": r} for f, r in step_up]
    return t


def build(t, rate_override=None):
    """The QuantLib bond for terms t; returns (bond, day_counter, compounding frequency)."""
    face = float(t["face"])
    cal = CAL[t["calendar"]]
    bdc = BDC[t["business_day_convention"]]
    issue, maturity = qd(t["issue_date"]), qd(t["maturity_date"])
    if t["frequency"] == "zero":
        dc = day_counter(t["day_count"], None)
        return ql.ZeroCouponBond(0, cal, face, maturity, bdc, 100.0, issue), dc, ql.Annual
    accrual = bdc if t["accrual_dates"] == "adjusted" else ql.Unadjusted
    rule = ql.DateGeneration.Backward if t["date_generation"] == "backward" else ql.DateGeneration.Forward
    first = qd(t["first_coupon_date"]) if t.get("first_coupon_date") else ql.Date()
    sched = ql.Schedule(issue, maturity, ql.Period(FREQ[t["frequency"]]), cal, accrual, accrual, rule, t["end_of_month"], first)
    dc = day_counter(t["day_count"], sched)
    dates = list(sched)
    if rate_override is not None:
        rates = [rate_override]
    elif t.get("coupon_type") == "step_up":
        steps = [(t["issue_date"], float(t["coupon_rate"]))] + [(s["from"], float(s["rate"])) for s in t["step_up"]]
        rates = []
        for start in dates[:-1]:
            r = steps[0][1]
            for f, rr in steps:
                if qd(f) <= start:
                    r = rr
            rates.append(r)
    else:
        rates = [float(t["coupon_rate"])]
    lag = int(t.get("payment_lag_days", 0))
    if lag == 0:
        bond = ql.FixedRateBond(0, face, sched, rates, dc, bdc, 100.0, issue, cal)
    else:
        leg = ql.FixedRateLeg(sched, dc, [face], rates, bdc, paymentCalendar=cal, paymentLag=lag)
        last_pay = leg[len(leg) - 1].date()
        leg = list(leg) + [ql.Redemption(face, last_pay)]
        bond = ql.Bond(0, cal, face, last_pay, issue, leg)
    return bond, dc, FREQ[t["frequency"]]


def f12(x):
    return "%.12f" % x


def f14(x):
    return "%.14f" % x


def safe(fn):
    try:
        return fn()
    except RuntimeError:
        return None


def make_case(cid, notes, t, settles, yields, patriotic=None):
    ql.Settings.instance().evaluationDate = qd(t["issue_date"])
    bond, dc, cfreq = build(t)
    face = float(t["face"])
    schedule = []
    for cf in bond.cashflows():
        c = ql.as_coupon(cf)
        if c is not None:
            schedule.append({
                "kind": "coupon",
                "accrual_start": iso(c.accrualStartDate()),
                "accrual_end": iso(c.accrualEndDate()),
                "payment_date": iso(c.date()),
                "amount": f12(c.amount()),
            })
        else:
            schedule.append({"kind": "redemption", "payment_date": iso(cf.date()), "amount": f12(cf.amount())})
    last_pay = max(cf.date() for cf in bond.cashflows())
    case = {"id": cid, "terms": t, "notes": notes, "schedule": schedule, "accrued": [], "price_from_yield": [], "yield_from_price": []}
    fname = {ql.Annual: "annual", ql.Semiannual: "semiannual", ql.Quarterly: "quarterly", ql.Monthly: "monthly"}[cfreq]
    for s in settles:
        sd = qd(s)
        if sd >= last_pay or sd < qd(t["issue_date"]):
            continue
        acc = safe(lambda: bond.accruedAmount(sd) * face / 100.0)
        if acc is None:
            continue
        case["accrued"].append({"settle": s, "accrued": f12(acc)})
        for y in yields:
            clean = safe(lambda: ql.BondFunctions.cleanPrice(bond, float(y), dc, ql.Compounded, cfreq, sd))
            if clean is None:
                continue
            case["price_from_yield"].append({
                "settle": s, "yield": y, "compounding": "compounded", "frequency": fname,
                "clean": f12(clean), "dirty": f12(clean + bond.accruedAmount(sd)),
            })
        clean = safe(lambda: ql.BondFunctions.cleanPrice(bond, 0.0573, dc, ql.Compounded, cfreq, sd))
        if clean is None:
            continue
        quoted = round(clean, 4)
        y = safe(lambda: ql.BondFunctions.bondYield(bond, ql.BondPrice(quoted, ql.BondPrice.Clean), dc, ql.Compounded, cfreq, sd, 1e-15, 1000, 0.05))
        if y is not None:
            case["yield_from_price"].append({"settle": s, "clean_price": "%.4f" % quoted, "yield": f14(y)})
    if patriotic is not None:
        ref, bps = patriotic
        y_d = float(ref) - float(bps) / 10000.0
        case["reference_yield"] = ref
        case["patriotic_discount_bps"] = bps
        issue = qd(t["issue_date"])

        def clean_at(rate, y):
            b, d, f = build(t, rate_override=rate)
            return ql.BondFunctions.cleanPrice(b, y, d, ql.Compounded, f, issue)

        def npv_at(rate, y):
            b, d, f = build(t, rate_override=rate)
            clean = ql.BondFunctions.cleanPrice(b, y, d, ql.Compounded, f, issue)
            return (clean + b.accruedAmount(issue)) * face / 100.0

        def par(y):
            p0, p1 = clean_at(0.0, y), clean_at(1.0, y)
            return (100.0 - p0) / (p1 - p0)

        c_m, c_d = par(float(ref)), par(y_d)
        annuity = npv_at(1.0, float(ref)) - npv_at(0.0, float(ref))
        case["par_coupon"] = f14(c_d)
        case["market_par_coupon"] = f14(c_m)
        case["issuer_savings"] = f12((c_m - c_d) * annuity)
    return case


def settles_for(t, rng, n=3):
    """The issue date, a coupon date, a day after it and random dates in the life."""
    issue, maturity = qd(t["issue_date"]), qd(t["maturity_date"])
    span = maturity - issue
    out = [t["issue_date"]]
    for _ in range(n):
        out.append(iso(issue + rng.randrange(1, max(2, span - 1))))
    return sorted(set(out))


def main():
    rng = random.Random(SEED)
    cases = []
    corner_issues = ["2026-01-31", "2026-02-28", "2026-03-15", "2026-04-30", "2026-05-31", "2026-06-30",
                     "2026-08-31", "2026-10-31", "2026-11-30", "2026-12-31", "2027-02-28", "2028-02-29",
                     "2026-07-17", "2026-09-30", "2026-01-30"]
    # 1. A random grid over every day count, frequency, convention, rule, EOM and accrual choice.
    for i in range(70):
        dc = DAY_COUNTS[i % len(DAY_COUNTS)]
        freq = rng.choice(list(FREQ))
        issue = rng.choice(corner_issues)
        years = rng.choice([1, 2, 3, 5, 7, 10])
        iy, im, idd = map(int, issue.split("-"))
        mat = ql.Date(min(idd, 28) if rng.random() < 0.3 else 1, im, iy + years)
        mat = ql.Date.endOfMonth(mat) if rng.random() < 0.5 else mat
        t = terms(rng.choice(["100", "1000", "5000"]), rng.choice(["0.02", "0.0475", "0.0525", "0.09"]), freq, dc,
                  issue, iso(mat), rng.choice(list(BDC)), rng.choice(list(CAL)), rng.random() < 0.5,
                  rng.choice(["backward", "forward"]), rng.choice(["adjusted", "unadjusted"]))
        cases.append(make_case("grid-%03d" % i, "grid", t, settles_for(t, rng), ["0.041", "0.0675"]))
    # 2. Stubs: short and long first coupons, every day count, backward and forward.
    for i, dc in enumerate(DAY_COUNTS):
        for kind, first in [("short", "2026-08-01"), ("long", "2027-03-01")]:
            for rule in ["backward", "forward"]:
                t = terms("1000", "0.05", "semiannual", dc, "2026-04-17", "2032-03-01", "modified_following",
                          "weekends_only", False, rule, "unadjusted", first=first)
                cases.append(make_case("stub-%s-%s-%d" % (kind, rule, i), "%s first stub" % kind, t,
                                       settles_for(t, rng) + [first], ["0.05", "0.03"]))
    # 3. Forward generation with a short last stub.
    for i, dc in enumerate(DAY_COUNTS):
        t = terms("1000", "0.0475", "quarterly", dc, "2026-03-15", "2031-05-01", "following", "weekends_only",
                  False, "forward", "unadjusted")
        cases.append(make_case("fwd-last-stub-%d" % i, "forward generation, short last stub", t, settles_for(t, rng), ["0.045"]))
    # 4. Leap day issue and month ends with EOM on and off.
    for i, dc in enumerate(DAY_COUNTS):
        for eom in [True, False]:
            t = terms("1000", "0.055", "semiannual", dc, "2028-02-29", "2038-02-28", "following", "weekends_only",
                      eom, "backward", "unadjusted")
            cases.append(make_case("leap-%d-%s" % (i, "eom" if eom else "noeom"), "leap day issue, EOM %s" % eom, t,
                                   settles_for(t, rng) + ["2028-08-31", "2029-02-28"], ["0.05"]))
    # 5. Month ends on weekends with modified following and adjusted accrual dates.
    for i, dc in enumerate(DAY_COUNTS):
        for eom in [True, False]:
            t = terms("1000", "0.04", "monthly", dc, "2026-01-31", "2029-01-31", "modified_following",
                      "weekends_only", eom, "backward", "adjusted")
            cases.append(make_case("monthend-mf-%d-%s" % (i, "eom" if eom else "noeom"),
                                   "month-end weekend coupons, modified following, adjusted accrual", t,
                                   settles_for(t, rng) + ["2026-10-30", "2026-11-02"], ["0.05"]))
    # 6. Zero coupons, every day count, maturity on a weekend.
    for i, dc in enumerate(DAY_COUNTS):
        t = terms("1000", "0", "zero", dc, "2026-03-15", "2036-06-29" if i % 2 else "2036-06-28", "following",
                  "weekends_only", False, "backward", "unadjusted")
        cases.append(make_case("zero-%d" % i, "zero coupon", t, settles_for(t, rng), ["0.045", "0.06"]))
    # 7. Long bonds: 30-year monthly and semiannual.
    for i, dc in enumerate(["ACT/ACT ICMA", "30/360 US", "ACT/365F"]):
        t = terms("1000", "0.0525", "monthly", dc, "2026-03-31", "2056-03-31", "following", "weekends_only",
                  True, "backward", "unadjusted")
        cases.append(make_case("long-monthly-%d" % i, "30-year monthly", t, settles_for(t, rng, 2), ["0.05"]))
        t = terms("1000", "0.0525", "semiannual", dc, "2026-03-15", "2056-03-15", "following", "weekends_only",
                  False, "backward", "unadjusted")
        cases.append(make_case("long-semiannual-%d" % i, "30-year semiannual", t, settles_for(t, rng, 2), ["0.05", "0.0725"]))
    # 8. Preceding conventions with adjusted accrual.
    for i, bdc in enumerate(["preceding", "modified_preceding"]):
        t = terms("1000", "0.06", "quarterly", "ACT/360", "2026-05-31", "2031-05-31", bdc, "weekends_only", True,
                  "backward", "adjusted")
        cases.append(make_case("preceding-%d" % i, "%s, adjusted accrual" % bdc, t, settles_for(t, rng), ["0.055"]))
    # 9. Payment lag (business days after the accrual end).
    for i, dc in enumerate(["30/360 BOND", "ACT/ACT ISDA", "ACT/365F"]):
        t = terms("1000", "0.05", "semiannual", dc, "2026-02-27", "2031-02-28", "following", "weekends_only", True,
                  "backward", "unadjusted", lag=2)
        cases.append(make_case("lag-%d" % i, "payment two business days after the accrual end", t, settles_for(t, rng), ["0.05"]))
    # 10. Step-up coupons.
    for i, dc in enumerate(["ACT/ACT ICMA", "30/360 US"]):
        t = terms("1000", "0.04", "semiannual", dc, "2026-06-15", "2034-06-15", "following", "weekends_only", False,
                  "backward", "unadjusted", step_up=[("2028-06-15", "0.05"), ("2031-06-15", "0.065")])
        cases.append(make_case("stepup-%d" % i, "step-up coupons", t, settles_for(t, rng), ["0.05"]))
    # 11. Patriotic discount: par coupon and issuer savings.
    for i, (dc, freq, ref, bps) in enumerate([("ACT/ACT ICMA", "semiannual", "0.065", "150"),
                                              ("30/360 US", "annual", "0.055", "100"),
                                              ("ACT/365F", "quarterly", "0.07", "225")]):
        t = terms("1000", "0.05", freq, dc, "2026-06-15", "2033-06-15", "following", "weekends_only", False,
                  "backward", "unadjusted")
        y_d = "%.6f" % (float(ref) - float(bps) / 10000.0)
        cases.append(make_case("patriotic-x%d" % i, "patriotic discount", t, settles_for(t, rng), [y_d], patriotic=(ref, bps)))
    # 12. End-of-month corners: a first coupon date moved to a month end (QuantLib
    # quirk), forward generation from a month end, long first stubs whose notional
    # ICMA periods follow the calendar's month ends, and settlements between a
    # weekend accrual end and its payment date.
    eom_cases = [
        ("eom-first-date", "2026-03-10", "2031-06-30", "semiannual", "2026-09-15", "backward", "unadjusted", "following"),
        ("eom-forward", "2026-04-30", "2031-06-15", "semiannual", None, "forward", "unadjusted", "following"),
        ("eom-long-first-adjusted", "2026-01-15", "2031-05-30", "semiannual", "2026-11-30", "backward", "adjusted", "following"),
        ("eom-long-first-mf", "2026-01-15", "2031-05-29", "quarterly", "2026-07-31", "backward", "adjusted", "modified_following"),
        ("eom-short-first-unadjusted", "2026-02-10", "2030-02-28", "semiannual", "2026-08-31", "backward", "unadjusted", "following"),
    ]
    for cid, issue, mat, freq, first, rule, accrual, bdc in eom_cases:
        for i, dc in enumerate(["ACT/ACT ICMA", "30/360 US", "ACT/365F"]):
            t = terms("1000", "0.0525", freq, dc, issue, mat, bdc, "weekends_only", True, rule, accrual, first=first)
            settles = settles_for(t, rng) + ["2026-10-31", "2026-11-01", "2026-11-02", "2027-01-31"]
            try:
                cases.append(make_case("%s-%d" % (cid, i), "end-of-month corner", t, settles, ["0.05", "0.08"]))
            except RuntimeError as e:
                # QuantLib's ACT/ACT ISMA adds only one notional period before a long
                # first stub; a stub longer than two tenors has no QuantLib value.
                print("skipped %s-%d: %s" % (cid, i, e), file=sys.stderr)
    json.dump(cases, open(OUT, "w"), indent=1)
    print("wrote %d cases to %s" % (len(cases), OUT), file=sys.stderr)


def issue_yield(ref, bps):
    """reference - bps / 10,000, exactly (the registry's decimal figure)."""
    return str((Decimal(ref) - Decimal(bps) / Decimal(10000)).normalize())


def reopening_case(cid, notes, t, ref, bps, settles):
    """A tranche settling on each of `settles` (those inside the life)."""
    ql.Settings.instance().evaluationDate = qd(t["issue_date"])
    bond, dc, cfreq = build(t)
    face = float(t["face"])
    y = issue_yield(ref, bps)
    issue, maturity = qd(t["issue_date"]), qd(t["maturity_date"])
    last_pay = max(cf.date() for cf in bond.cashflows())
    rows = []
    for s in sorted(set(settles)):
        sd = qd(s)
        # The registry sells a tranche after the issue date and before maturity.
        if not (issue < sd < maturity) or sd >= last_pay:
            continue
        clean = ql.BondFunctions.cleanPrice(bond, float(y), dc, ql.Compounded, cfreq, sd)
        accrued_pct = bond.accruedAmount(sd)
        dirty = clean + accrued_pct
        rows.append({
            "settle": s,
            "clean": f12(clean),
            "dirty": f12(dirty),
            "accrued": f12(accrued_pct * face / 100.0),
            "amount_per_unit": f12(dirty * face / 100.0),
        })
    return {"id": cid, "kind": "reopening", "notes": notes, "terms": t, "reference_yield": ref,
            "discount_bps": bps, "issue_yield": y, "tranches": rows}


def rounded_coupon_case(cid, notes, t, ref, bps, step):
    """The par coupon at the diaspora yield rounded down to `step`, and the price at it."""
    ql.Settings.instance().evaluationDate = qd(t["issue_date"])
    y = issue_yield(ref, bps)
    issue = qd(t["issue_date"])
    face = float(t["face"])

    def clean_at(rate, yy):
        b, d, f = build(t, rate_override=rate)
        return ql.BondFunctions.cleanPrice(b, yy, d, ql.Compounded, f, issue)

    def dirty_at(rate, yy):
        b, d, f = build(t, rate_override=rate)
        return ql.BondFunctions.cleanPrice(b, yy, d, ql.Compounded, f, issue) + b.accruedAmount(issue)

    p0, p1 = clean_at(0.0, float(y)), clean_at(1.0, float(y))
    par = (100.0 - p0) / (p1 - p0)
    par6 = Decimal(f14(par)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
    step_d = Decimal(step)
    coupon = ((par6 / step_d).to_integral_value(rounding=ROUND_FLOOR) * step_d).normalize()
    rate = float(coupon)
    clean = clean_at(rate, float(y))
    dirty = dirty_at(rate, float(y))
    savings = (dirty - dirty_at(rate, float(ref))) * face / 100.0
    t = dict(t, coupon_rate=None)
    return {"id": cid, "kind": "rounded_coupon", "notes": notes, "terms": t, "reference_yield": ref,
            "discount_bps": bps, "issue_yield": y, "coupon_step": step, "par_coupon": f14(par),
            "coupon": str(coupon), "clean": f12(clean), "dirty": f12(dirty),
            "savings_per_unit": f12(savings)}


def coupon_payments(t):
    """(accrual end, payment date) of each coupon of terms t."""
    bond, _, _ = build(t)
    out = []
    for cf in bond.cashflows():
        c = ql.as_coupon(cf)
        if c is not None:
            out.append((c.accrualEndDate(), c.date()))
    return out


def tranche_settles(t, rng):
    """Two random days of the life, a coupon payment date, the days either side of
    it, and an accrual end that a weekend moved off its payment date."""
    issue, maturity = qd(t["issue_date"]), qd(t["maturity_date"])
    span = maturity - issue
    out = [iso(issue + rng.randrange(1, max(2, span - 1))) for _ in range(2)]
    if t["frequency"] == "zero":
        return out + [iso(issue + 1), iso(maturity - 1)]
    coupons = coupon_payments(t)[:-1]
    if coupons:
        _, pay = coupons[rng.randrange(len(coupons))]
        out += [iso(pay - 1), iso(pay), iso(pay + 1)]
        moved = [(e, p) for e, p in coupons if e != p]
        if moved:
            e, p = moved[rng.randrange(len(moved))]
            out += [iso(e), iso(e + 1)]
    # A tranche in the first coupon period, days after issue.
    out.append(iso(issue + rng.randrange(1, 20)))
    return out


def servicing():
    rng = random.Random(SERVICING_SEED)
    cases = []
    corner_issues = ["2026-01-31", "2026-02-28", "2026-03-15", "2026-04-30", "2026-06-30",
                     "2026-08-31", "2026-10-31", "2026-12-31", "2028-02-29", "2026-07-17"]
    freqs = list(FREQ)
    refs = ["0.045", "0.0525", "0.06", "0.0725", "0.08"]
    discounts = ["50", "100", "125", "175", "250"]
    steps = ["0.00125", "0.0025", "0.001", "0.0005", "0.0001", "0.00001", "0.000001", "0.005", "0.01"]

    def random_terms(dc, freq, rate):
        issue = rng.choice(corner_issues)
        years = rng.choice([2, 3, 5, 7, 10])
        iy, im, idd = map(int, issue.split("-"))
        mat = ql.Date(min(idd, 28) if rng.random() < 0.5 else 15, im, iy + years)
        mat = ql.Date.endOfMonth(mat) if rng.random() < 0.4 else mat
        t = terms(rng.choice(["100", "1000", "5000"]), rate, freq, dc, issue, iso(mat),
                  rng.choice(list(BDC)), rng.choice(list(CAL)), rng.random() < 0.5,
                  rng.choice(["backward", "forward"]), rng.choice(["adjusted", "unadjusted"]))
        t["record_date_lag_days"] = 0
        return t

    # 1. Reopenings: every day count and frequency, random conventions.
    for i in range(28):
        dc = DAY_COUNTS[i % len(DAY_COUNTS)]
        freq = freqs[(i // len(DAY_COUNTS)) % len(freqs)]
        t = random_terms(dc, freq, rng.choice(["0.02", "0.0475", "0.0525", "0.09"]))
        cases.append(reopening_case("reopen-%03d" % i, "reopening, %s %s" % (dc, freq), t,
                                    rng.choice(refs), rng.choice(discounts), tranche_settles(t, rng)))
    # 2. Reopenings of series with a first stub, a payment lag, step-up coupons, and zero coupons.
    for i, (dc, first) in enumerate([("ACT/ACT ICMA", "2026-08-01"), ("30/360 US", "2027-03-01"),
                                     ("ACT/365F", "2027-03-01")]):
        t = terms("1000", "0.05", "semiannual", dc, "2026-04-17", "2032-03-01", "modified_following",
                  "weekends_only", False, "backward", "unadjusted", first=first)
        t["record_date_lag_days"] = 0
        cases.append(reopening_case("reopen-stub-%d" % i, "reopening, first stub to %s" % first, t, "0.06", "100",
                                    tranche_settles(t, rng) + [first, "2026-05-01", "2026-07-31"]))
    for i, dc in enumerate(["30/360 BOND", "ACT/ACT ISDA"]):
        t = terms("1000", "0.05", "semiannual", dc, "2026-02-27", "2031-02-28", "following", "weekends_only", True,
                  "backward", "unadjusted", lag=2)
        t["record_date_lag_days"] = 0
        cases.append(reopening_case("reopen-lag-%d" % i, "reopening, payment two business days after the accrual end",
                                    t, "0.055", "75", tranche_settles(t, rng)))
    for i, dc in enumerate(["ACT/ACT ICMA", "30/360 US"]):
        t = terms("1000", "0.04", "semiannual", dc, "2026-06-15", "2034-06-15", "following", "weekends_only", False,
                  "backward", "unadjusted", step_up=[("2028-06-15", "0.05"), ("2031-06-15", "0.065")])
        t["record_date_lag_days"] = 0
        cases.append(reopening_case("reopen-stepup-%d" % i, "reopening, step-up coupons", t, "0.065", "150",
                                    tranche_settles(t, rng) + ["2028-06-14", "2028-06-15", "2028-06-16"]))
    for i, dc in enumerate(["ACT/365F", "30/360 US"]):
        t = terms("1000", "0", "zero", dc, "2026-03-15", "2031-03-17", "following", "weekends_only", False,
                  "backward", "unadjusted")
        t["record_date_lag_days"] = 0
        cases.append(reopening_case("reopen-zero-%d" % i, "reopening, zero coupon", t, "0.05", "100",
                                    tranche_settles(t, rng)))
    # 3. Rounded coupons: every day count and frequency, steps from 0.0001 % to 1 %.
    for i in range(28):
        dc = DAY_COUNTS[i % len(DAY_COUNTS)]
        freq = freqs[(i // len(DAY_COUNTS)) % len(freqs)]
        t = random_terms(dc, freq, "0.05")
        cases.append(rounded_coupon_case("rounded-%03d" % i, "rounded coupon, %s %s" % (dc, freq), t,
                                         rng.choice(refs), rng.choice(discounts), steps[i % len(steps)]))
    for i, (dc, first) in enumerate([("ACT/ACT ICMA", "2026-08-01"), ("30/360 US", "2027-03-01")]):
        t = terms("1000", "0.05", "semiannual", dc, "2026-04-17", "2032-03-01", "modified_following",
                  "weekends_only", False, "backward", "unadjusted", first=first)
        t["record_date_lag_days"] = 0
        cases.append(rounded_coupon_case("rounded-stub-%d" % i, "rounded coupon, first stub to %s" % first, t,
                                         "0.065", "150", "0.00125"))
    json.dump(cases, open(SERVICING_OUT, "w"), indent=1)
    rows = sum(len(c.get("tranches", [])) for c in cases)
    print("wrote %d cases (%d tranche settlements) to %s" % (len(cases), rows, SERVICING_OUT), file=sys.stderr)


if __name__ == "__main__":
    main()
    servicing()
