//! Open SSE streams, counted per client address, per principal (a token's subject: one
//! user across many addresses) and in total. A [`StreamSlot`] is held for as
//! long as its stream is open and gives its place back when dropped, however the stream
//! ends (client gone, shutdown, error).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The counters; cheap to clone.
#[derive(Debug, Clone)]
pub struct StreamSlots {
    counts: Arc<Mutex<Counts>>,
    per_client: u32,
    per_principal: u32,
    total: u32,
}

#[derive(Debug, Default)]
struct Counts {
    total: u32,
    per_client: HashMap<IpAddr, u32>,
    per_principal: HashMap<String, u32>,
}

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamsRefused {
    #[error("this client already has {max} open streams; close one or retry later")]
    Client { max: u32 },
    #[error("this token's subject already has {max} open streams; close one or retry later")]
    Principal { max: u32 },
    #[error("the gateway holds its maximum of {max} open streams; retry later")]
    Total { max: u32 },
}

impl StreamSlots {
    pub fn new(per_client: u32, per_principal: u32, total: u32) -> Self {
        Self {
            counts: Arc::default(),
            per_client,
            per_principal,
            total,
        }
    }

    /// Takes a slot for a stream of `client` (a [`super::client_key`]).
    pub fn acquire(&self, client: IpAddr) -> Result<StreamSlot, StreamsRefused> {
        self.acquire_for(client, None)
    }

    /// Takes a slot for a stream of `client` opened with a token of `principal` (its
    /// subject; `None` for anonymous access or a token without `sub`).
    pub fn acquire_for(
        &self,
        client: IpAddr,
        principal: Option<&str>,
    ) -> Result<StreamSlot, StreamsRefused> {
        let mut counts = self.counts.lock().unwrap();
        if counts.total >= self.total {
            return Err(StreamsRefused::Total { max: self.total });
        }
        if counts.per_client.get(&client).copied().unwrap_or(0) >= self.per_client {
            return Err(StreamsRefused::Client {
                max: self.per_client,
            });
        }
        if let Some(principal) = principal {
            if counts.per_principal.get(principal).copied().unwrap_or(0) >= self.per_principal {
                return Err(StreamsRefused::Principal {
                    max: self.per_principal,
                });
            }
            *counts
                .per_principal
                .entry(principal.to_owned())
                .or_default() += 1;
        }
        *counts.per_client.entry(client).or_default() += 1;
        counts.total += 1;
        Ok(StreamSlot {
            counts: self.counts.clone(),
            client,
            principal: principal.map(str::to_owned),
        })
    }

    /// Open streams now, in total.
    pub fn open(&self) -> u32 {
        self.counts.lock().unwrap().total
    }
}

/// One open stream's place; dropping it frees the place.
#[derive(Debug)]
pub struct StreamSlot {
    counts: Arc<Mutex<Counts>>,
    client: IpAddr,
    principal: Option<String>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap();
        counts.total -= 1;
        if let Some(mine) = counts.per_client.get_mut(&self.client) {
            *mine -= 1;
            if *mine == 0 {
                // Forget clients without streams, so the map stays as small as the load.
                counts.per_client.remove(&self.client);
            }
        }
        if let Some(principal) = &self.principal {
            if let Some(theirs) = counts.per_principal.get_mut(principal) {
                *theirs -= 1;
                if *theirs == 0 {
                    counts.per_principal.remove(principal);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn a_client_gets_at_most_its_share_and_others_are_unaffected() {
        let slots = StreamSlots::new(2, 10, 10);
        let first = slots.acquire(ip(1)).unwrap();
        let _second = slots.acquire(ip(1)).unwrap();
        assert_eq!(
            slots.acquire(ip(1)).unwrap_err(),
            StreamsRefused::Client { max: 2 }
        );
        let _other = slots.acquire(ip(2)).unwrap();
        drop(first);
        assert!(slots.acquire(ip(1)).is_ok(), "a freed slot is reusable");
    }

    #[test]
    fn the_total_caps_all_clients_together() {
        let slots = StreamSlots::new(5, 5, 3);
        let held: Vec<_> = (1..=3).map(|n| slots.acquire(ip(n)).unwrap()).collect();
        assert_eq!(
            slots.acquire(ip(4)).unwrap_err(),
            StreamsRefused::Total { max: 3 }
        );
        assert_eq!(slots.open(), 3);
        drop(held);
        assert_eq!(slots.open(), 0);
        assert!(slots.counts.lock().unwrap().per_client.is_empty());
    }

    #[test]
    fn a_principal_gets_at_most_its_share_from_any_address() {
        let slots = StreamSlots::new(5, 2, 10);
        let first = slots.acquire_for(ip(1), Some("alice")).unwrap();
        let _second = slots.acquire_for(ip(2), Some("alice")).unwrap();
        assert_eq!(
            slots.acquire_for(ip(3), Some("alice")).unwrap_err(),
            StreamsRefused::Principal { max: 2 }
        );
        let _bob = slots.acquire_for(ip(3), Some("bob")).unwrap();
        let _anonymous = slots.acquire_for(ip(3), None).unwrap();
        drop(first);
        assert!(slots.acquire_for(ip(3), Some("alice")).is_ok());
        assert_eq!(slots.counts.lock().unwrap().per_principal.len(), 2);
    }
}
