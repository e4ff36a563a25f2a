//! The command line and environment: where the engine is, where to listen, when to let go, who
//! may connect, by which names and tokens, and how much to log.
//!
//! Owns parsing and validation only; a bad value is an error that names the flag (or variable)
//! and what would be accepted, never a silent default. Flags win over environment variables.
//!
//! Over 400 lines: the help text is 60 of them, and the tests, which try every option's
//! spellings and bad values, the last 220.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

use crate::board::{MAX_CHANNELS, MAX_ENGINES};
use crate::http::{AllowList, Cidr, CidrError, Origin, Tokens};

pub const DEFAULT_ENGINE: &str = "http://127.0.0.1:6878";
pub const DEFAULT_LISTEN: &str = "0.0.0.0:6880";
pub const DEFAULT_IDLE_TIMEOUT: u64 = 30;
const MAX_IDLE_TIMEOUT: u64 = 24 * 3600;
pub const DEFAULT_LOG_LEVEL: &str = "info";
const LOG_LEVELS: [(&str, LevelFilter); 6] = [
    ("off", LevelFilter::Off),
    ("error", LevelFilter::Error),
    ("warn", LevelFilter::Warn),
    ("info", LevelFilter::Info),
    ("debug", LevelFilter::Debug),
    ("trace", LevelFilter::Trace),
];

pub const USAGE: &str = "\
acebox: an AceStream proxy. One engine session per channel, shared by every client.

Usage: acebox [--engine URL]... [--listen ADDR:PORT] [--idle-timeout SECS] [--allow CIDR]...
              [--host NAME]... [--token NAME=SECRET]... [--channels FILE]
              [--no-announce] [--log-level LEVEL]

Options:
  --engine URL          The AceStream engine to use, as http://HOST:PORT. Repeat it for
                        several engines: channels are spread over them and move to another
                        when one fails. Add ?channels=N to limit how many channels one plays,
                        e.g. http://nas.lan:6878?channels=2. Env: ACEBOX_ENGINE
                        (comma-separated). Default: http://127.0.0.1:6878
  --listen ADDR:PORT    Where players connect, e.g. 0.0.0.0:6880 (all interfaces) or
                        127.0.0.1:6880 (this machine only). Env: ACEBOX_LISTEN.
                        Default: 0.0.0.0:6880
  --idle-timeout SECS   Stop a channel's engine session this many seconds after its last
                        client went away (1 to 86400). Env: ACEBOX_IDLE_TIMEOUT. Default: 30
  --allow CIDR          Only let these addresses connect, e.g. 192.168.1.0/24 or fd00::/8;
                        repeat for more (up to 32). Others get 403. Env: ACEBOX_ALLOW
                        (comma-separated). Default: everyone.
  --host NAME           Another name acebox is reached by (a reverse proxy's), besides its
                        addresses, host name and localhost: the status page, /status,
                        /metrics and /playlist.m3u answer only these (421 otherwise).
                        Repeatable (up to 16). Env: ACEBOX_HOST (comma-separated).
  --token NAME=SECRET   Let a client from outside --allow in when its URLs carry
                        token=SECRET; the URLs acebox hands it carry it on. One per person or
                        device, repeatable (up to 32); SECRET: 16 to 128 of A-Z a-z 0-9 . _ ~ -.
                        Use behind TLS or a VPN (README: Remote access). Env: ACEBOX_TOKEN
                        (comma-separated; unlike flags, not shown by ps).
  --channels FILE       An M3U of acestream:// links (or ids, or engine URLs) to serve at
                        http://ACEBOX:6880/playlist.m3u (?hls=1 for HLS URLs), pointing at
                        acebox; re-read when it changes. Env: ACEBOX_CHANNELS. Default: none
  --no-announce         Do not announce acebox on the LAN (HDHomeRun discovery on UDP 65001,
                        SSDP on UDP 1900), where media servers find it as a tuner and TVs as
                        a DLNA server; on by default where it listens on a LAN address.
                        Env: ACEBOX_ANNOUNCE=off (or on).
  --log-level LEVEL     What to log on stderr: off, error, warn, info or debug.
                        Env: ACEBOX_LOG_LEVEL. Default: info
  --board               Print the board profile this binary was built for, with its
                        capacities and worst-case memory budget.
  -h, --help            Print this help.
  -V, --version         Print the version.

Players use the engine's own URLs with acebox's address:
  http://ACEBOX:6880/ace/manifest.m3u8?id=<content id>     (HLS)
  http://ACEBOX:6880/ace/getstream?id=<content id>        (MPEG-TS)
Status page: http://ACEBOX:6880/   JSON: /status   Prometheus: /metrics
";

/// One engine of `--engine`: where it is, and how many channels it may play at once (the
/// board's maximum when not given).
#[derive(Debug, PartialEq)]
pub struct EngineSpec {
    pub origin: Origin,
    pub max_channels: Option<usize>,
}

/// A validated configuration.
#[derive(Debug, PartialEq)]
pub struct Config {
    /// The engines, the default first; never empty.
    pub engines: Vec<EngineSpec>,
    pub listen: SocketAddr,
    pub idle_timeout: Duration,
    pub allow: AllowList,
    pub log_level: LevelFilter,
    /// The channel list file, if any.
    pub channels: Option<PathBuf>,
    /// `--host`: names acebox is reached by besides its own (see `http::HostNames`).
    pub hosts: Vec<String>,
    /// `--token`: what admits a client from outside `--allow`.
    pub tokens: Tokens,
    /// Whether to announce acebox on the LAN (where it listens on a LAN address).
    pub announce: bool,
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    Run(Box<Config>),
    Help,
    Version,
    /// Print the board profile the binary was built with.
    Board,
}

/// A command line or environment that cannot be used.
#[derive(Debug, PartialEq)]
pub enum ConfigError {
    UnknownFlag(String),
    MissingValue(&'static str),
    Invalid {
        source: String,
        value: String,
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownFlag(flag) => write!(f, "unknown option {flag:?}"),
            ConfigError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            ConfigError::Invalid {
                source,
                value,
                reason,
            } => write!(f, "{source} {value:?} is not valid: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Where a value came from, for error messages.
struct Source {
    flag: &'static str,
    env: &'static str,
}

const ENGINE: Source = Source {
    flag: "--engine",
    env: "ACEBOX_ENGINE",
};
const LISTEN: Source = Source {
    flag: "--listen",
    env: "ACEBOX_LISTEN",
};
const IDLE: Source = Source {
    flag: "--idle-timeout",
    env: "ACEBOX_IDLE_TIMEOUT",
};
const LOG_LEVEL: Source = Source {
    flag: "--log-level",
    env: "ACEBOX_LOG_LEVEL",
};
const ALLOW: Source = Source {
    flag: "--allow",
    env: "ACEBOX_ALLOW",
};
const CHANNELS: Source = Source {
    flag: "--channels",
    env: "ACEBOX_CHANNELS",
};
const HOST: Source = Source {
    flag: "--host",
    env: "ACEBOX_HOST",
};
/// The most `--host` names taken.
const MAX_HOSTS: usize = 16;
const TOKEN: Source = Source {
    flag: "--token",
    env: "ACEBOX_TOKEN",
};

/// The variable that turns LAN announcing off (`--no-announce` is its flag).
const ANNOUNCE_ENV: &str = "ACEBOX_ANNOUNCE";

/// Reads the arguments (without the program name) and the environment through `env`.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, ConfigError> {
    let mut given: [Option<String>; 4] = Default::default();
    // The flags that may be repeated, after those of `given`: --allow, --host, --token,
    // --engine.
    let mut repeated: [Vec<String>; 4] = Default::default();
    let mut no_announce = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let index = match flag.as_str() {
            "--no-announce" if inline.is_none() => {
                no_announce = true;
                continue;
            }
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--board" => return Ok(Command::Board),
            "--listen" => 0,
            "--idle-timeout" => 1,
            "--log-level" => 2,
            "--channels" => 3,
            "--allow" => given.len(),
            "--host" => given.len() + 1,
            "--token" => given.len() + 2,
            "--engine" => given.len() + 3,
            _ => return Err(ConfigError::UnknownFlag(arg)),
        };
        let source = [
            &LISTEN, &IDLE, &LOG_LEVEL, &CHANNELS, &ALLOW, &HOST, &TOKEN, &ENGINE,
        ][index];
        let value = inline
            .or_else(|| args.next())
            .ok_or(ConfigError::MissingValue(source.flag))?;
        match given.get_mut(index) {
            Some(slot) => *slot = Some(value),
            None => repeated[index - given.len()].push(value),
        }
    }
    let [allowed, hosts, tokens, engines] = repeated;
    let [listen, idle, log_level, channels] = given;
    let pick =
        |given: Option<String>, source: &Source, default: &str| match (given, env(source.env)) {
            (Some(v), _) => (v, source.flag.to_owned()),
            (None, Some(v)) => (v, source.env.to_owned()),
            (None, None) => (default.to_owned(), "default".to_owned()),
        };
    let invalid = |(value, source): (String, String), reason: String| ConfigError::Invalid {
        source,
        value,
        reason,
    };

    let engines = engine_list(engines, &env)
        .map_err(|(value, source, reason)| invalid((value, source), reason))?;
    let listen = pick(listen, &LISTEN, DEFAULT_LISTEN);
    let listen = listen.0.parse::<SocketAddr>().map_err(|_| {
        invalid(
            listen.clone(),
            "use ADDRESS:PORT, e.g. 0.0.0.0:6880 or [::]:6880".into(),
        )
    })?;
    let idle = pick(idle, &IDLE, &DEFAULT_IDLE_TIMEOUT.to_string());
    let secs = idle
        .0
        .parse::<u64>()
        .ok()
        .filter(|s| (1..=MAX_IDLE_TIMEOUT).contains(s))
        .ok_or_else(|| {
            invalid(
                idle.clone(),
                format!("use a whole number of seconds from 1 to {MAX_IDLE_TIMEOUT}"),
            )
        })?;
    let level = pick(log_level, &LOG_LEVEL, DEFAULT_LOG_LEVEL);
    let log_level = LOG_LEVELS
        .iter()
        .find(|(name, _)| level.0.eq_ignore_ascii_case(name))
        .map(|(_, filter)| *filter)
        .ok_or_else(|| invalid(level.clone(), "use off, error, warn, info or debug".into()))?;
    let allow = allow_list(allowed, &env)
        .map_err(|(value, source, e)| invalid((value, source), e.to_string()))?;
    let (hosts, source) = listed(hosts, &HOST, &env);
    if hosts.len() > MAX_HOSTS {
        let reason = format!("at most {MAX_HOSTS} names may be given");
        return Err(invalid((hosts.join(","), source), reason));
    }
    if let Some(bad) = hosts.iter().find(|h| !is_host_name(h)) {
        let reason = "use a host name or address, e.g. tv.example.org or 203.0.113.5".into();
        return Err(invalid((bad.clone(), source), reason));
    }
    let (given_tokens, source) = listed(tokens, &TOKEN, &env);
    let mut tokens = Tokens::default();
    for token in given_tokens {
        if let Err(e) = tokens.push(&token) {
            // The secret is never echoed: only the name.
            let name = token.split('=').next().unwrap_or_default();
            return Err(invalid((format!("{name}=..."), source), e.to_string()));
        }
    }
    let announce = match env(ANNOUNCE_ENV).map(|v| v.to_ascii_lowercase()) {
        _ if no_announce => false,
        None => true,
        Some(v) if ["on", "1", "yes", "true"].contains(&v.as_str()) => true,
        Some(v) if ["off", "0", "no", "false"].contains(&v.as_str()) => false,
        Some(v) => {
            let reason = "use on or off".into();
            return Err(invalid((v, ANNOUNCE_ENV.to_owned()), reason));
        }
    };
    Ok(Command::Run(Box::new(Config {
        engines,
        listen,
        idle_timeout: Duration::from_secs(secs),
        allow,
        log_level,
        channels: channels.or_else(|| env(CHANNELS.env)).map(PathBuf::from),
        hosts,
        tokens,
        announce,
    })))
}

/// The `--engine` values, or when none is given, the comma-separated `ACEBOX_ENGINE`, or the
/// default engine; each `http://HOST:PORT`, with `?channels=N` for a limit of its own.
fn engine_list(
    flags: Vec<String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<EngineSpec>, (String, String, String)> {
    let (mut values, mut source) = listed(flags, &ENGINE, env);
    if values.is_empty() && source == ENGINE.flag {
        (values, source) = (vec![DEFAULT_ENGINE.to_owned()], "default".to_owned());
    }
    let mut engines: Vec<EngineSpec> = Vec::new();
    for value in values {
        let fail = |reason: String| (value.clone(), source.clone(), reason);
        if engines.len() == MAX_ENGINES {
            return Err(fail(format!(
                "this board takes at most {MAX_ENGINES} engines (acebox --board)"
            )));
        }
        let (url, limit) = match value.split_once('?') {
            Some((url, query)) => (url, Some(channels_limit(query).map_err(fail)?)),
            None => (value.as_str(), None),
        };
        let origin = Origin::parse(url).map_err(|e| fail(e.to_string()))?;
        if engines.iter().any(|e| e.origin == origin) {
            return Err(fail("that engine is given twice".into()));
        }
        engines.push(EngineSpec {
            origin,
            max_channels: limit,
        });
    }
    if engines.is_empty() {
        return Err((String::new(), source, "name at least one engine".into()));
    }
    Ok(engines)
}

/// The `channels=N` of an engine's `?channels=N`: 1 to the board's maximum of channels.
fn channels_limit(query: &str) -> Result<usize, String> {
    query
        .strip_prefix("channels=")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=MAX_CHANNELS).contains(n))
        .ok_or_else(|| {
            format!(
                "after the engine's address only ?channels=N may follow, N from 1 to \
                 {MAX_CHANNELS} (this board's channels)"
            )
        })
}

/// The values of a repeatable flag, or when none is given, its comma-separated variable; and
/// where they came from.
fn listed(
    flags: Vec<String>,
    source: &Source,
    env: impl Fn(&str) -> Option<String>,
) -> (Vec<String>, String) {
    match env(source.env) {
        Some(env) if flags.is_empty() => (
            env.split([',', ' '])
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect(),
            source.env.to_owned(),
        ),
        _ => (flags, source.flag.to_owned()),
    }
}

/// A host name (letters, digits, `.` and `-`, at most 253) or an IP address.
fn is_host_name(text: &str) -> bool {
    let name = !text.is_empty()
        && text.len() <= 253
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    name || text.parse::<std::net::IpAddr>().is_ok()
}

/// The `--allow` prefixes, or when none is given, the comma-separated `ACEBOX_ALLOW`.
fn allow_list(
    flags: Vec<String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<AllowList, (String, String, CidrError)> {
    let (values, source) = listed(flags, &ALLOW, env);
    let mut list = AllowList::default();
    for value in values {
        let added = Cidr::parse(&value).and_then(|cidr| list.push(cidr));
        if let Err(e) = added {
            return Err((value, source, e));
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(args.iter().map(|s| s.to_string()), |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match run(args, env) {
            Ok(Command::Run(c)) => *c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_env_and_flags_in_that_order() {
        let c = config(&[], &[]);
        assert_eq!(c.engines.len(), 1);
        assert_eq!(c.engines[0].origin.to_string(), DEFAULT_ENGINE);
        assert!(c.announce);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.idle_timeout, Duration::from_secs(30));
        assert!(c.allow.is_empty());
        assert_eq!(c.log_level, LevelFilter::Info);
        let env = [
            ("ACEBOX_ENGINE", "http://10.0.0.2:6878"),
            ("ACEBOX_IDLE_TIMEOUT", "5"),
        ];
        let c = config(&[], &env);
        assert_eq!(c.engines[0].origin.to_string(), "http://10.0.0.2:6878");
        assert_eq!(c.idle_timeout, Duration::from_secs(5));
        let c = config(
            &[
                "--engine",
                "http://e:1",
                "--idle-timeout=7",
                "--listen",
                "127.0.0.1:9",
            ],
            &env,
        );
        assert_eq!(c.engines.len(), 1, "flags win over the environment");
        assert_eq!(c.engines[0].origin.to_string(), "http://e:1");
        assert_eq!(c.idle_timeout, Duration::from_secs(7));
        assert_eq!(c.listen.to_string(), "127.0.0.1:9");
    }

    #[test]
    fn bad_values_name_their_source() {
        let err = run(&["--idle-timeout", "0"], &[]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--idle-timeout \"0\" is not valid"),
            "{err}"
        );
        let err = run(&[], &[("ACEBOX_LISTEN", "6880")]).unwrap_err();
        assert!(
            err.to_string().starts_with("ACEBOX_LISTEN \"6880\""),
            "{err}"
        );
        let err = run(&["--engine", "localhost:6878"], &[]).unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
        assert_eq!(
            run(&["--engine"], &[]),
            Err(ConfigError::MissingValue("--engine"))
        );
        assert_eq!(
            run(&["--bogus"], &[]),
            Err(ConfigError::UnknownFlag("--bogus".into()))
        );
        assert_eq!(
            run(&["--idle-timeout", "x", "--help"], &[]),
            Ok(Command::Help)
        );
        assert_eq!(run(&["-V"], &[]), Ok(Command::Version));
        assert_eq!(run(&["--board"], &[]), Ok(Command::Board));
        let err = run(&["--log-level", "loud"], &[]).unwrap_err();
        assert!(err.to_string().contains("off, error, warn"), "{err}");
        let err = run(&["--allow", "10.0.0.0/8", "--allow=lan"], &[]).unwrap_err();
        assert!(err.to_string().starts_with("--allow \"lan\""), "{err}");
        let err = run(&[], &[("ACEBOX_ALLOW", "10.0.0.0/40")]).unwrap_err();
        assert!(
            err.to_string().starts_with("ACEBOX_ALLOW \"10.0.0.0/40\""),
            "{err}"
        );
    }

    #[test]
    fn host_names_are_repeatable_checked_and_the_env_is_a_list() {
        let c = config(&["--host", "tv.example.org", "--host=203.0.113.5"], &[]);
        assert_eq!(c.hosts, ["tv.example.org", "203.0.113.5"]);
        let env = [("ACEBOX_HOST", "a.lan, b.lan")];
        assert_eq!(config(&[], &env).hosts, ["a.lan", "b.lan"]);
        assert_eq!(config(&["--host", "c"], &env).hosts, ["c"], "flags win");
        let err = run(&["--host", "evil/x"], &[]).unwrap_err();
        assert!(err.to_string().starts_with("--host \"evil/x\""), "{err}");
        let many: Vec<String> = (0..17).map(|n| format!("--host=h{n}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(
            run(&many, &[])
                .unwrap_err()
                .to_string()
                .contains("at most 16")
        );
    }

    #[test]
    fn tokens_are_repeatable_the_env_is_a_list_and_secrets_are_never_echoed() {
        let secret = "s3cret-s3cret-s3cret";
        let c = config(
            &[
                "--token",
                &format!("phone={secret}"),
                "--token=tv=0123456789abcdef",
            ],
            &[],
        );
        assert_eq!(c.tokens.names().collect::<Vec<_>>(), ["phone", "tv"]);
        let env = [("ACEBOX_TOKEN", "a=aaaaaaaaaaaaaaaa, b=bbbbbbbbbbbbbbbb")];
        assert_eq!(config(&[], &env).tokens.names().count(), 2);
        let err = run(&["--token", "phone=short-secret"], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--token \"phone=...\" is not valid"),
            "{err}"
        );
        assert!(!err.contains("short-secret"), "{err}");
        let err = run(&[], &[("ACEBOX_TOKEN", &format!("x={secret},y={secret}"))]).unwrap_err();
        assert!(
            err.to_string().starts_with("ACEBOX_TOKEN \"y=...\""),
            "{err}"
        );
        assert!(!err.to_string().contains(secret));
    }

    #[test]
    fn allow_is_repeatable_and_the_env_is_a_list() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let c = config(&["--allow", "10.0.0.0/8", "--allow=::1"], &[]);
        assert!(c.allow.admits(ip("10.1.2.3")) && c.allow.admits(ip("::1")));
        assert!(!c.allow.admits(ip("192.168.1.2")));
        let env = [("ACEBOX_ALLOW", "192.168.1.0/24, 127.0.0.1")];
        let c = config(&[], &env);
        assert!(c.allow.admits(ip("192.168.1.9")) && c.allow.admits(ip("127.0.0.1")));
        let c = config(&["--allow", "10.0.0.0/8"], &env);
        assert!(
            !c.allow.admits(ip("192.168.1.9")),
            "flags win over the environment"
        );
        let c = config(&["--log-level", "DEBUG"], &[("ACEBOX_LOG_LEVEL", "off")]);
        assert_eq!(c.log_level, LevelFilter::Debug);
    }

    #[test]
    fn several_engines_each_with_an_optional_limit() {
        // The most a limit may be: the board's channels (one on the smallest router).
        let nas = format!("--engine=http://nas:6878?channels={MAX_CHANNELS}");
        let c = config(&["--engine", "http://pc:6878", &nas], &[]);
        let engines: Vec<(String, Option<usize>)> = c
            .engines
            .iter()
            .map(|e| (e.origin.to_string(), e.max_channels))
            .collect();
        assert_eq!(
            engines,
            [
                ("http://pc:6878".to_owned(), None),
                ("http://nas:6878".to_owned(), Some(MAX_CHANNELS))
            ]
        );
        let env = [("ACEBOX_ENGINE", "http://a:1, http://b:2?channels=1")];
        assert_eq!(config(&[], &env).engines.len(), 2);
        let err = run(&[], &[("ACEBOX_ENGINE", "http://a:1,http://a:1")]).unwrap_err();
        assert!(err.to_string().contains("given twice"), "{err}");
        let err = run(&["--engine", "http://a:1?channels=0"], &[]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--engine \"http://a:1?channels=0\""),
            "{err}"
        );
        assert!(err.to_string().contains("channels=N"), "{err}");
        let over = format!("http://a:1?channels={}", MAX_CHANNELS + 1);
        let err = run(&["--engine", &over], &[]).unwrap_err();
        assert!(err.to_string().contains("this board's channels"), "{err}");
        let err = run(&["--engine", "http://a:1?pid=x"], &[]).unwrap_err();
        assert!(err.to_string().contains("channels=N"), "{err}");
        let too_many: Vec<String> = (0..=MAX_ENGINES)
            .flat_map(|n| ["--engine".to_owned(), format!("http://e{n}:1")])
            .collect();
        let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
        let err = run(&too_many, &[]).unwrap_err();
        assert!(err.to_string().contains("at most"), "{err}");
        let err = run(&[], &[("ACEBOX_ENGINE", " , ")]).unwrap_err();
        assert!(err.to_string().contains("at least one engine"), "{err}");
    }

    #[test]
    fn announcing_is_on_unless_the_flag_or_the_environment_turns_it_off() {
        assert!(!config(&["--no-announce"], &[]).announce);
        assert!(!config(&[], &[("ACEBOX_ANNOUNCE", "off")]).announce);
        assert!(config(&[], &[("ACEBOX_ANNOUNCE", "ON")]).announce);
        assert!(!config(&["--no-announce"], &[("ACEBOX_ANNOUNCE", "on")]).announce);
        let err = run(&[], &[("ACEBOX_ANNOUNCE", "maybe")]).unwrap_err();
        assert!(
            err.to_string().starts_with("ACEBOX_ANNOUNCE \"maybe\""),
            "{err}"
        );
        let err = run(&["--no-announce=1"], &[]).unwrap_err();
        assert_eq!(err, ConfigError::UnknownFlag("--no-announce=1".into()));
    }
}
