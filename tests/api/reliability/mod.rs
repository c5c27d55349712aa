//! Faults and abuse: crashes (kill -9), two instances on one database, database outages,
//! brute force, and secrets in logs.

mod crash;
mod instances;
mod key_reload;
mod limits;
mod logs;
mod outage;
