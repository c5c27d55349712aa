//! Default values, named by `default = "..."` on [`Settings`](super::Settings)' fields. The
//! issuer and the audience have none here: theirs follow other settings (see `Settings::from_sources`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::database_url::DatabaseUrl;
use super::duration::HumanDuration;
use crate::tokens::keys::Algorithm;

pub(super) fn listen() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 8080))
}

pub(super) fn database_url() -> DatabaseUrl {
    DatabaseUrl::sqlite_default()
}

pub(super) fn keys_dir() -> PathBuf {
    PathBuf::from("keys")
}

pub(super) fn signing_alg() -> Algorithm {
    Algorithm::Es256
}

pub(super) fn count<const N: u32>() -> u32 {
    N
}

pub(super) fn bytes<const N: u64>() -> u64 {
    N
}

pub(super) fn secs<const N: u64>() -> HumanDuration {
    HumanDuration::from_secs(N)
}

pub(super) fn days<const N: u64>() -> HumanDuration {
    HumanDuration::from_secs(N * 86_400)
}

/// One argon2 check per core: more at once only adds memory, not throughput.
pub(super) fn available_cores() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(1024).min(1024))
        .unwrap_or(1)
}
