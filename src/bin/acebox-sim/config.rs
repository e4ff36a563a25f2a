//! The simulator's command line: flags, their defaults and their validation.
//!
//! This module owns turning `argv` into a [`Config`] or a message for stderr. It never opens
//! files or sockets and never exits the process: `main` decides what a bad flag costs.

use std::net::SocketAddr;
use std::path::PathBuf;

/// How to call the simulator, printed by `--help` and after a bad flag.
pub const USAGE: &str = "\
usage: acebox-sim [options]
  --listen ADDR:PORT       address to serve on (default 127.0.0.1:6878; port 0 picks one)
  --segment-ms N           length of one live segment in ms (default 4000)
  --segment-bytes N        size of a synthetic segment, rounded down to 188-byte packets
                           (default 96256)
  --window N               segments listed in a playlist (default 15)
  --prebuffer-ms N         extra wait before a content's first segment (default 0)
  --start-timeout-ms N     longest a playlist request blocks while prebuffering (default 7000)
  --fail-delay-ms N        wait before answering that a content failed to load (default 0)
  --start-delay-ms N       wait before starting a session and answering (default 0), as the
                           engine does while it resolves the content
  --idle-ms N              a session without player activity for this long expires (default 60000)
  --media-dir DIR          serve seg0.ts, seg1.ts, ... from DIR instead of synthetic segments;
                           the MPEG-TS stream loops over them
  --ts-bitrate N           pace of the MPEG-TS stream in bits per second (default 2000000)
  --ts-burst-bytes N       cached bytes a new TS reader gets at once, in whole packets
                           (default 4000000)
  --no-json                refuse format=json with 403, like engines that gate the JSON API
  --legacy-search          answer /search with 404, like older engines, whose only search is
                           /server/api with an access token
  --search-extra N         add N generated channels (Channel 0001...) to what search finds
                           (default 0)
  --rotate-tokens          give every start a new playlist token (the old one answers 403)
  --help                   print this text
";

/// One MPEG-TS packet.
pub const TS_PACKET: usize = 188;

/// Everything the command line sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub listen: SocketAddr,
    pub segment_ms: u64,
    pub segment_bytes: usize,
    pub window: u64,
    pub prebuffer_ms: u64,
    pub start_timeout_ms: u64,
    pub fail_delay_ms: u64,
    pub start_delay_ms: u64,
    pub idle_ms: u64,
    pub media_dir: Option<PathBuf>,
    pub ts_bitrate: u64,
    pub ts_burst_bytes: u64,
    pub json: bool,
    pub rotate_tokens: bool,
    pub legacy_search: bool,
    pub search_extra: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 6878)),
            segment_ms: 4000,
            segment_bytes: TS_PACKET * 512,
            window: 15,
            prebuffer_ms: 0,
            start_timeout_ms: 7000,
            fail_delay_ms: 0,
            start_delay_ms: 0,
            idle_ms: 60_000,
            media_dir: None,
            ts_bitrate: 2_000_000,
            ts_burst_bytes: 4_000_000,
            json: true,
            rotate_tokens: false,
            legacy_search: false,
            search_extra: 0,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Config),
    Help,
}

/// Reads the arguments after the program name. Flags take their value as the next argument or
/// after `=` (`--window 5`, `--window=5`).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut config = Config::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        match (flag.as_str(), &inline) {
            ("--help" | "-h", None) => return Ok(Command::Help),
            ("--no-json", None) => config.json = false,
            ("--rotate-tokens", None) => config.rotate_tokens = true,
            ("--legacy-search", None) => config.legacy_search = true,
            _ => {
                let value = match inline {
                    Some(value) => value,
                    None => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
                };
                set(&mut config, &flag, &value)?;
            }
        }
    }
    Ok(Command::Run(config))
}

/// Applies one `--flag value`.
fn set(config: &mut Config, flag: &str, value: &str) -> Result<(), String> {
    match flag {
        "--listen" => {
            config.listen = value.parse().map_err(|_| {
                format!("--listen wants ADDR:PORT, like 127.0.0.1:6878, not {value:?}")
            })?;
        }
        "--segment-ms" => config.segment_ms = number(flag, value, 1)?,
        "--segment-bytes" => config.segment_bytes = usize_at_least(flag, value, TS_PACKET)?,
        "--window" => config.window = number(flag, value, 1)?,
        "--prebuffer-ms" => config.prebuffer_ms = number(flag, value, 0)?,
        "--start-timeout-ms" => config.start_timeout_ms = number(flag, value, 0)?,
        "--fail-delay-ms" => config.fail_delay_ms = number(flag, value, 0)?,
        "--start-delay-ms" => config.start_delay_ms = number(flag, value, 0)?,
        "--idle-ms" => config.idle_ms = number(flag, value, 1)?,
        "--media-dir" if !value.is_empty() => config.media_dir = Some(PathBuf::from(value)),
        "--media-dir" => return Err("--media-dir needs a directory".to_owned()),
        "--ts-bitrate" => config.ts_bitrate = number(flag, value, 1)?,
        "--ts-burst-bytes" => config.ts_burst_bytes = number(flag, value, 0)?,
        "--search-extra" => config.search_extra = usize_at_least(flag, value, 0)?,
        "--help" | "-h" | "--no-json" | "--rotate-tokens" | "--legacy-search" => {
            return Err(format!("{flag} takes no value"));
        }
        _ => return Err(format!("unknown option {flag}")),
    }
    Ok(())
}

/// A whole number of at least `min`.
fn number(flag: &str, value: &str, min: u64) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| format!("{flag} wants a whole number of at least {min}, not {value:?}"))
}

fn usize_at_least(flag: &str, value: &str, min: usize) -> Result<usize, String> {
    let n = number(flag, value, min as u64)?;
    usize::try_from(n).map_err(|_| format!("{flag} is too large: {value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        let Ok(Command::Run(c)) = run(&[]) else {
            panic!("defaults must parse")
        };
        assert_eq!(c, Config::default());
        assert_eq!(c.listen.to_string(), "127.0.0.1:6878");
        assert_eq!(c.segment_bytes, 96_256);
        assert!(c.json && !c.rotate_tokens && c.media_dir.is_none());
        assert_eq!((c.ts_bitrate, c.ts_burst_bytes), (2_000_000, 4_000_000));
    }

    #[test]
    fn every_flag_is_read_in_both_spellings() {
        let Ok(Command::Run(c)) = run(&[
            "--listen",
            "127.0.0.1:0",
            "--segment-ms=200",
            "--segment-bytes",
            "400",
            "--window",
            "5",
            "--prebuffer-ms",
            "1000",
            "--start-timeout-ms=300",
            "--fail-delay-ms",
            "50",
            "--start-delay-ms=70",
            "--idle-ms",
            "900",
            "--media-dir",
            "/tmp/m",
            "--ts-bitrate=1000000",
            "--ts-burst-bytes",
            "0",
            "--no-json",
            "--rotate-tokens",
            "--legacy-search",
            "--search-extra=500",
        ]) else {
            panic!("all flags must parse")
        };
        assert_eq!(c.listen.port(), 0);
        assert_eq!((c.segment_ms, c.segment_bytes, c.window), (200, 400, 5));
        assert_eq!((c.prebuffer_ms, c.start_timeout_ms), (1000, 300));
        assert_eq!((c.fail_delay_ms, c.idle_ms), (50, 900));
        assert_eq!(c.start_delay_ms, 70);
        assert_eq!(c.media_dir, Some(PathBuf::from("/tmp/m")));
        assert_eq!((c.ts_bitrate, c.ts_burst_bytes), (1_000_000, 0));
        assert!(!c.json && c.rotate_tokens);
        assert!(c.legacy_search);
        assert_eq!(c.search_extra, 500);
    }

    #[test]
    fn help_wins() {
        assert_eq!(run(&["--window", "3", "--help"]), Ok(Command::Help));
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            &["--listen", "localhost"][..],
            &["--segment-ms", "0"],
            &["--segment-ms", "-5"],
            &["--segment-bytes", "187"],
            &["--window", "0"],
            &["--window", "many"],
            &["--idle-ms"],
            &["--media-dir", ""],
            &["--ts-bitrate", "0"],
            &["--ts-bitrate", "2M"],
            &["--ts-burst-bytes", "-1"],
            &["--ts-burst-bytes"],
            &["--frobnicate"],
            &["--no-json=1"],
        ] {
            assert!(run(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
