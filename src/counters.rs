//! What a channel has moved and met, as named fields: [`Counters`] (live, atomic), [`Counts`]
//! (a copy, for a report) and [`TABLE`], the one list of their names and help texts that
//! `/metrics`, `/status` and the page go by.
//!
//! Every counter is declared once, in the `counters!` list below; the two structs and the table
//! are written from it, so a reader names a counter by its field (a typo does not compile) and a
//! new counter reaches every output at once. Counters only grow. This module imports nothing
//! of acebox but its atomic type, and never reads a clock.

use std::sync::atomic::Ordering;

use crate::AtomicU64;

/// One counter of a channel: it only grows.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Counts `n` more.
    pub fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What a counter counts, for a reader that writes it for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Events,
}

/// A counter's entry in [`TABLE`]: its name (the stem of its metric, `acebox_<name>_total`),
/// its unit and short label (the status page), what it counts (the metric's help), and how to
/// read it from a [`Counts`].
pub struct Described {
    pub name: &'static str,
    pub unit: Unit,
    pub label: &'static str,
    pub help: &'static str,
    pub value: fn(&Counts) -> u64,
}

/// Declares every counter once: its field (also its name), unit, label and help text.
macro_rules! counters {
    ($($field:ident: $unit:ident, $label:literal, $help:literal,)*) => {
        /// A channel's counters, updated as it goes. The registry keeps adding those of channels
        /// that are gone, so totals never go backwards.
        #[derive(Debug, Default)]
        pub struct Counters {
            $(#[doc = $help] pub $field: Counter,)*
        }

        /// A copy of [`Counters`] at one moment, written as an object of the counters by name.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
        pub struct Counts {
            $(#[doc = $help] pub $field: u64,)*
        }

        /// Every counter in one order, for every output.
        pub const TABLE: &[Described] = &[
            $(Described {
                name: stringify!($field),
                unit: Unit::$unit,
                label: $label,
                help: $help,
                value: |c| c.$field,
            },)*
        ];

        impl Counters {
            /// A copy, for a report.
            pub fn snapshot(&self) -> Counts {
                Counts { $($field: self.$field.get(),)* }
            }

            /// Adds `counts` (those of a channel that is gone) to these.
            pub fn absorb(&self, counts: &Counts) {
                $(self.$field.0.fetch_add(counts.$field, Ordering::Relaxed);)*
            }
        }

        impl std::ops::AddAssign<&Counts> for Counts {
            fn add_assign(&mut self, other: &Counts) {
                $(self.$field += other.$field;)*
            }
        }
    };
}

counters! {
    bytes_in: Bytes, "read from the engine", "Media bytes read from the engine.",
    bytes_out: Bytes, "sent to clients", "Media bytes handed to clients.",
    engine_starts: Events, "engine starts", "Engine sessions started.",
    engine_errors: Events, "engine errors", "Failed engine starts and reads.",
    segments_skipped: Events, "segments passed over",
        "HLS segments the fetch loop passed over (refused, off-host, too large).",
    client_skips: Events, "client skips",
        "Times a client fell further behind than the ring and skipped ahead.",
    client_drops: Events, "clients dropped",
        "Clients dropped for being too slow or for not reading.",
    failovers: Events, "moves to a backup",
        "Times the channel's session moved to a backup id because its id failed or starved.",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_field_and_reads_it() {
        let live = Counters::default();
        live.bytes_in.add(5);
        live.client_drops.add(2);
        let mut counts = live.snapshot();
        counts += &live.snapshot();
        let read: Vec<(&str, u64)> = TABLE.iter().map(|c| (c.name, (c.value)(&counts))).collect();
        assert_eq!(
            read,
            [
                ("bytes_in", 10),
                ("bytes_out", 0),
                ("engine_starts", 0),
                ("engine_errors", 0),
                ("segments_skipped", 0),
                ("client_skips", 0),
                ("client_drops", 4),
                ("failovers", 0),
            ]
        );
        let retired = Counters::default();
        retired.absorb(&counts);
        assert_eq!(retired.snapshot(), counts);
    }
}
