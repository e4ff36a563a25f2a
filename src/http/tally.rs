//! Per-address tallies: how often each address did something in the current minute.
//!
//! A [`Tally`] owns a small fixed table, one entry per address seen lately (IPv4-mapped
//! addresses as IPv4); the callers decide what is counted (channels opened, wrong tokens) and
//! how much is allowed. It never reads the clock (callers pass `now`, in milliseconds) and
//! never allocates: when the table is full, the address whose minute began longest ago gives
//! its entry up to a new one.

use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

/// The window counts are kept over.
pub const MINUTE_MS: u64 = 60_000;
/// Addresses tallied at once.
const ADDRESSES: usize = 64;

#[derive(Clone, Copy)]
struct Entry {
    ip: IpAddr,
    /// When this entry's minute began, in milliseconds of the caller's clock.
    since: u64,
    count: u32,
}

/// Counts per address over a minute.
#[derive(Default)]
pub struct Tally {
    table: Mutex<heapless::Vec<Entry, ADDRESSES>>,
}

impl Tally {
    /// Counts one more for `ip` at `now` if it did fewer than `limit` this minute: how many
    /// now, this one included; else in how many seconds its minute ends.
    pub fn hit(&self, ip: IpAddr, now: u64, limit: usize) -> Result<usize, u64> {
        let mut table = self.lock();
        let entry = entry(&mut table, ip.to_canonical(), now);
        if entry.count as usize >= limit {
            let left = (entry.since + MINUTE_MS).saturating_sub(now);
            return Err(left.div_ceil(1000));
        }
        entry.count += 1;
        Ok(entry.count as usize)
    }

    /// How many `ip` did this minute at `now`.
    pub fn count(&self, ip: IpAddr, now: u64) -> usize {
        let ip = ip.to_canonical();
        self.lock()
            .iter()
            .find(|e| e.ip == ip && now.saturating_sub(e.since) < MINUTE_MS)
            .map_or(0, |e| e.count as usize)
    }

    fn lock(&self) -> MutexGuard<'_, heapless::Vec<Entry, ADDRESSES>> {
        crate::lock(&self.table)
    }
}

/// `ip`'s entry at `now`, its minute begun again if it ended; a new one if there is none, in
/// place of the entry whose minute began longest ago when the table is full.
fn entry(table: &mut heapless::Vec<Entry, ADDRESSES>, ip: IpAddr, now: u64) -> &mut Entry {
    let fresh = Entry {
        ip,
        since: now,
        count: 0,
    };
    let at = match table.iter().position(|e| e.ip == ip) {
        Some(at) => at,
        None => match table.push(fresh) {
            Ok(()) => table.len() - 1,
            Err(fresh) => {
                let stalest = table.iter().enumerate().min_by_key(|(_, e)| e.since);
                let at = stalest.map_or(0, |(at, _)| at);
                table[at] = fresh;
                at
            }
        },
    };
    let entry = &mut table[at];
    if now.saturating_sub(entry.since) >= MINUTE_MS {
        entry.since = now;
        entry.count = 0;
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 168, 1, last])
    }

    #[test]
    fn counts_are_per_address_and_per_minute() {
        let tally = Tally::default();
        assert_eq!(tally.hit(ip(1), 0, 2), Ok(1));
        assert_eq!(tally.hit(ip(1), 1_000, 2), Ok(2));
        assert_eq!(
            tally.hit(ip(1), 1_500, 2),
            Err(59),
            "at the limit: when to come back"
        );
        assert_eq!(tally.hit(ip(2), 1_000, 2), Ok(1), "each address its own");
        assert_eq!(tally.count(ip(1), 1_500), 2);
        let mapped = "::ffff:192.168.1.1".parse().unwrap();
        assert_eq!(
            tally.count(mapped, 1_500),
            2,
            "one address, however written"
        );
        assert_eq!(tally.count(ip(1), MINUTE_MS), 0, "a new minute");
        assert_eq!(tally.hit(ip(1), MINUTE_MS, 2), Ok(1));
    }

    #[test]
    fn the_table_is_fixed_and_the_stalest_address_gives_its_entry_up() {
        let tally = Tally::default();
        for n in 0..ADDRESSES as u8 {
            assert_eq!(tally.hit(ip(n), u64::from(n), 9), Ok(1));
        }
        assert_eq!(tally.hit(ip(200), 100, 9), Ok(1));
        assert_eq!(tally.count(ip(0), 100), 0, "the stalest, forgotten");
        assert_eq!(tally.count(ip(1), 100), 1);
        assert_eq!(tally.count(ip(200), 100), 1);
    }
}
