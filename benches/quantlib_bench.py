#!/usr/bin/env python3
"""Times with QuantLib (Python bindings, pip install QuantLib) the operations that
benches/bondmath.rs times in Rust, on the same 30-year semiannual ACT/ACT ICMA bond.

Usage: python3 benches/quantlib_bench.py
Prints microseconds per call (best of 5 repeats of timeit), one line per operation.
"""
import timeit

import QuantLib as ql

issue, maturity = ql.Date(16, 3, 2026), ql.Date(16, 3, 2056)
cal = ql.WeekendsOnly()
settle = ql.Date(9, 7, 2031)
ql.Settings.instance().evaluationDate = issue


def schedule():
    return ql.Schedule(issue, maturity, ql.Period(ql.Semiannual), cal, ql.Unadjusted, ql.Unadjusted,
                       ql.DateGeneration.Backward, False)


def bond_build():
    s = schedule()
    dc = ql.ActualActual(ql.ActualActual.ISMA, s)
    return ql.FixedRateBond(0, 1000.0, s, [0.0525], dc, ql.Following, 100.0, issue, cal), dc


bond, dc = bond_build()
clean = ql.BondFunctions.cleanPrice(bond, 0.0575, dc, ql.Compounded, ql.Semiannual, settle)


def accrued():
    return bond.accruedAmount(settle)


def price():
    c = ql.BondFunctions.cleanPrice(bond, 0.0575, dc, ql.Compounded, ql.Semiannual, settle)
    return c, c + bond.accruedAmount(settle)


def yld():
    return ql.BondFunctions.bondYield(bond, ql.BondPrice(clean, ql.BondPrice.Clean), dc, ql.Compounded,
                                      ql.Semiannual, settle, 1e-15, 1000, 0.05)


for name, fn in [("schedule_30y_semiannual", schedule), ("bond_build_30y_semiannual", bond_build),
                 ("accrued_30y_semiannual", accrued), ("price_from_yield_30y_semiannual", price),
                 ("yield_from_price_30y_semiannual", yld)]:
    timer = timeit.Timer(fn)
    n, _ = timer.autorange()
    best = min(timer.repeat(5, n)) / n
    print("%-34s %12.3f us" % (name, best * 1e6))
