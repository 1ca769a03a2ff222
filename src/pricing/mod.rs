//! Price/yield, accrued interest and patriotic-discount analytics. (placeholder: issue 3)
