//! Unit tests of a holding's life after issue.
