//! Currencies, amounts and explicit rounding. (placeholder: issue 3)
