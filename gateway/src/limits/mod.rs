//! What one request and one client may use. Pure policy: no HTTP here; `http::guard`
//! and the extractors map each refusal to its status, code and `Retry-After`.
//!
//! - [`metadata`]: keys, depth and value size of one change's metadata.
//! - [`streams`]: open SSE streams per client address, per principal and in total.
//! - [`rate`]: POSTs per client address (publish, feedback), a token bucket per client.

pub mod metadata;
pub mod rate;
pub mod streams;

use std::net::IpAddr;

use crate::config::Config;

pub use metadata::{LimitError, MetadataLimits};
pub use rate::PostRate;
pub use streams::{StreamSlot, StreamSlots, StreamsRefused};

/// Every limit the HTTP boundary enforces, built once from the configuration; cheap to clone.
#[derive(Clone)]
pub struct Limits {
    pub metadata: MetadataLimits,
    pub streams: StreamSlots,
    pub posts: PostRate,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            metadata: MetadataLimits::from_config(config),
            streams: StreamSlots::new(
                config.max_streams_per_client,
                config.max_streams_per_principal,
                config.max_streams,
            ),
            posts: PostRate::new(config.post_rate_per_minute, config.post_rate_burst),
        }
    }
}

/// The key a client is counted under: its IPv4 address, or the /64 prefix of its IPv6
/// address (one host usually holds a whole /64, so counting single addresses would let
/// it multiply its allowance).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(other));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), v4);
    }
}
