//! The coupon-accrual engine: pure, deterministic functions from terms, holdings,
//! fixings and a date to accrual figures and due record-date, coupon and
//! redemption events. No gRPC, storage or clock inside. (engine: issue 5)
