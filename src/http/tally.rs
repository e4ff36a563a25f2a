//! Per-address tallies: how often each address did something in the current minute, and how
//! many of those it has under way now.
//!
//! A [`Tally`] owns a small fixed table, one entry per address seen lately (IPv4-mapped
//! addresses as IPv4); the callers decide what is counted (channels opened, wrong tokens) and
//! how much is allowed. It never reads the clock (callers pass `now`, in milliseconds) and
//! never allocates: when the table is full, the address whose minute began longest ago, with
//! nothing under way, gives its entry up to a new one.

use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use event_listener::Event;

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
    under_way: u32,
}

/// Counts per address over a minute, and what each has under way.
#[derive(Default)]
pub struct Tally {
    table: Mutex<heapless::Vec<Entry, ADDRESSES>>,
    /// Fires when a [`Turn`] ends.
    freed: Event,
}

/// One thing under way for an address, until dropped.
pub struct Turn<'a> {
    tally: &'a Tally,
    ip: IpAddr,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let Some(e) = self.tally.lock().iter_mut().find(|e| e.ip == self.ip) {
            e.under_way -= 1;
        }
        self.tally.freed.notify(usize::MAX);
    }
}

impl Tally {
    /// Waits until `ip` has fewer than `at_once` things under way, then holds one more until
    /// the [`Turn`] drops: an address's turns come one after another, never more at once.
    pub async fn turn(&self, ip: IpAddr, at_once: usize) -> Turn<'_> {
        let ip = ip.to_canonical();
        loop {
            let freed = self.freed.listen();
            if self.take(ip, at_once) {
                return Turn { tally: self, ip };
            }
            freed.await;
        }
    }

    /// One more under way for `ip`, if it has fewer than `at_once`.
    fn take(&self, ip: IpAddr, at_once: usize) -> bool {
        // Its minute does not matter here: `now` 0 begins none again.
        let mut table = self.lock();
        match entry(&mut table, ip, 0) {
            Some(entry) if (entry.under_way as usize) < at_once => {
                entry.under_way += 1;
                true
            }
            _ => false,
        }
    }

    /// Counts one more for `ip` at `now` if it did fewer than `limit` this minute: how many
    /// now, this one included; else in how many seconds its minute ends.
    pub fn hit(&self, ip: IpAddr, now: u64, limit: usize) -> Result<usize, u64> {
        let mut table = self.lock();
        // Every entry has something under way (64 addresses at once): not counted.
        let Some(entry) = entry(&mut table, ip.to_canonical(), now) else {
            return Ok(1);
        };
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
/// place of the entry whose minute began longest ago, with nothing under way, when the table is
/// full (`None` when every entry has something under way).
fn entry(table: &mut heapless::Vec<Entry, ADDRESSES>, ip: IpAddr, now: u64) -> Option<&mut Entry> {
    let fresh = Entry {
        ip,
        since: now,
        count: 0,
        under_way: 0,
    };
    let at = match table.iter().position(|e| e.ip == ip) {
        Some(at) => at,
        None => match table.push(fresh) {
            Ok(()) => table.len() - 1,
            Err(fresh) => {
                let idle = table.iter().enumerate().filter(|(_, e)| e.under_way == 0);
                let (at, _) = idle.min_by_key(|(_, e)| e.since)?;
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
    Some(entry)
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

    /// An address's turns come one after another past `at_once`; others are not held up.
    #[test]
    fn turns_of_one_address_wait_for_each_other() {
        let tally = Tally::default();
        smol::block_on(async {
            let first = tally.turn(ip(1), 1).await;
            let mut second = Box::pin(tally.turn(ip(1), 1));
            assert!(
                futures_lite::future::poll_once(&mut second).await.is_none(),
                "waits"
            );
            let other = futures_lite::future::poll_once(tally.turn(ip(2), 1)).await;
            assert!(other.is_some(), "another address has its own turns");
            drop(first);
            let _second = second.await;
        });
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
