//! Remote access by token: the secrets that admit a client from outside `--allow`, which one a
//! request carries, and carrying it on in every URL acebox hands that client.
//!
//! [`Tokens`] owns the `--token NAME=SECRET` list and the count of wrong tokens per address;
//! [`Admission`] is what a request was let in by, and travels with it to every handler that
//! hands out a URL. Players cannot send headers, so a token is a `token=SECRET` query parameter,
//! accepted on every URL. This module never logs a secret, never compares one in time that
//! depends on where it differs, and never decides what a URL means (the router does).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::{Tally, query_param};

/// The query parameter a token travels in.
const PARAM: &str = "token";
/// Secrets are at least this long (16 characters of 64 possible: 96 bits) and at most
/// [`SECRET_MAX`], of the characters that stand in a URL as they are.
/// (The messages of [`TokenError`] spell these out.)
const SECRET_MIN: usize = 16;
const SECRET_MAX: usize = 128;
const NAME_MAX: usize = 32;
/// The most tokens taken.
const MAX_TOKENS: usize = 32;
/// Requests from outside `--allow` without a good token an address may make a minute; past it,
/// it gets 429 without its token being looked at until the minute ends.
const WRONG_PER_MINUTE: usize = 10;

/// One person's or device's token: a name to show, and the secret, never shown.
pub struct Token {
    name: String,
    secret: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({:?})", self.name)
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Token) -> bool {
        self.name == other.name
    }
}

/// Why a `NAME=SECRET` token cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Shape,
    Name,
    Secret,
    Repeated,
    TooMany,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Shape => f.write_str("use NAME=SECRET, one per person or device"),
            TokenError::Name => f.write_str("the name must be 1 to 32 of A-Z a-z 0-9 . _ -"),
            TokenError::Secret => f.write_str(
                "the secret must be 16 to 128 of A-Z a-z 0-9 . _ ~ - \
                 (`head -c 18 /dev/urandom | base64 | tr +/ -_` makes one)",
            ),
            TokenError::Repeated => f.write_str("each token needs its own name and secret"),
            TokenError::TooMany => f.write_str("at most 32 tokens may be given"),
        }
    }
}

impl std::error::Error for TokenError {}

/// The tokens that admit clients from outside `--allow`, and the wrong ones seen per address.
#[derive(Default)]
pub struct Tokens {
    list: Vec<Arc<Token>>,
    wrong: Tally,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl PartialEq for Tokens {
    fn eq(&self, other: &Tokens) -> bool {
        self.list == other.list
    }
}

/// What a request was let in by: its address being in `--allow`, or a token. Travels with the
/// request to every handler that hands out a URL, which passes each URL through
/// [`Admission::carry`].
#[derive(Clone, Debug, Default)]
pub struct Admission {
    token: Option<(u8, Arc<Token>)>,
}

/// Why a request from outside `--allow` was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// No token, or not one of acebox's.
    NoToken,
    Wrong,
    /// Too many requests without a good token this minute: come back in this many seconds.
    Blocked(u64),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::NoToken => {
                f.write_str("from outside --allow, add token=<your token> to the URL (see --token)")
            }
            Refused::Wrong => f.write_str("this token is not one of acebox's"),
            Refused::Blocked(secs) => {
                write!(
                    f,
                    "too many tries without a good token; try again in {secs} s"
                )
            }
        }
    }
}

impl std::error::Error for Refused {}

impl Tokens {
    /// Adds `NAME=SECRET`.
    pub fn push(&mut self, text: &str) -> Result<(), TokenError> {
        let (name, secret) = text.split_once('=').ok_or(TokenError::Shape)?;
        let allowed = |b: u8, extra: &[u8]| b.is_ascii_alphanumeric() || extra.contains(&b);
        if name.is_empty() || name.len() > NAME_MAX || !name.bytes().all(|b| allowed(b, b"._-")) {
            return Err(TokenError::Name);
        }
        let secret_ok = (SECRET_MIN..=SECRET_MAX).contains(&secret.len())
            && secret.bytes().all(|b| allowed(b, b"._~-"));
        if !secret_ok {
            return Err(TokenError::Secret);
        }
        if self
            .list
            .iter()
            .any(|t| t.name == name || t.secret == secret)
        {
            return Err(TokenError::Repeated);
        }
        if self.list.len() >= MAX_TOKENS {
            return Err(TokenError::TooMany);
        }
        self.list.push(Arc::new(Token {
            name: name.to_owned(),
            secret: secret.to_owned(),
        }));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The names, for the log: never the secrets.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|t| t.name.as_str())
    }

    /// The name of the token numbered `via` in [`Admission::via`] (`None` for 0).
    pub fn name(&self, via: u8) -> Option<&str> {
        let index = usize::from(via).checked_sub(1)?;
        self.list.get(index).map(|t| t.name.as_str())
    }

    /// What lets in a request from `ip` with `query` at `now` (milliseconds): `inside`
    /// (`--allow` lists the address) or one of the tokens. A token is looked for on every
    /// request; a request from outside without a good one is refused, and counted: past
    /// [`WRONG_PER_MINUTE`] a minute its tokens are not even looked at. A wrong token from
    /// inside is no token (the client still gets in, as any client of the LAN).
    pub fn admit(
        &self,
        ip: IpAddr,
        inside: bool,
        query: &str,
        now: u64,
    ) -> Result<Admission, Refused> {
        let given = query_param(query, PARAM);
        if inside && (given.is_none() || self.list.is_empty()) {
            return Ok(Admission::default());
        }
        if !inside && self.wrong.count(ip, now) >= WRONG_PER_MINUTE {
            let secs = self.wrong.hit(ip, now, WRONG_PER_MINUTE).err();
            return Err(Refused::Blocked(secs.unwrap_or(60)));
        }
        if let Some(found) = given.as_deref().and_then(|g| self.find(g)) {
            return Ok(found);
        }
        if inside {
            log::debug!("client {ip}: a wrong token from inside --allow: let in without one");
            return Ok(Admission::default());
        }
        let refused = if given.is_some() {
            Refused::Wrong
        } else {
            Refused::NoToken
        };
        let seen = self
            .wrong
            .hit(ip, now, WRONG_PER_MINUTE)
            .unwrap_or(WRONG_PER_MINUTE);
        if given.is_some() {
            log::warn!("client {ip}: a wrong token ({seen} refused this minute)");
        } else {
            log::debug!("client {ip}: outside --allow without a token");
        }
        if seen >= WRONG_PER_MINUTE {
            log::warn!(
                "client {ip}: {seen} requests without a good token this minute: refused until it ends"
            );
        }
        Err(refused)
    }

    /// The token whose secret is `given`. Every secret is compared whole, whatever matched
    /// before: how long it takes tells nothing of where a guess went wrong.
    fn find(&self, given: &str) -> Option<Admission> {
        let mut found = None;
        for (n, token) in self.list.iter().enumerate() {
            if same(given.as_bytes(), token.secret.as_bytes()) {
                // Cannot truncate: at most MAX_TOKENS (32).
                found = Some((n as u8 + 1, token.clone()));
            }
        }
        found.map(|token| Admission { token: Some(token) })
    }
}

/// Whether `given` is `secret`, in a time that depends on `secret`'s length only.
fn same(given: &[u8], secret: &[u8]) -> bool {
    let mut diff = given.len() ^ secret.len();
    for (i, s) in secret.iter().enumerate() {
        diff |= usize::from(given.get(i).copied().unwrap_or(0) ^ s);
    }
    std::hint::black_box(diff) == 0
}

impl Admission {
    /// The number of the token that let the request in (1 on, in `--token` order), 0 for none:
    /// what a client's entry records, so `/status` can name it.
    pub fn via(&self) -> u8 {
        self.token.as_ref().map_or(0, |(n, _)| *n)
    }

    /// `url` (a path and query on acebox, or an absolute URL of acebox's) as this client must
    /// be handed it: carrying its token, if it came with one. Every URL acebox hands a client
    /// goes through here: redirects, the segment URLs of its playlists, the channel list's
    /// entries, and any list of URLs to come (search playlists, a lineup). Never for URLs of
    /// other hosts: the secret would leak.
    pub fn carry(&self, url: &mut String) {
        if let Some((_, token)) = &self.token {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(PARAM);
            url.push('=');
            url.push_str(&token.secret);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Zq3-kP9_x7.wL2~mN4vB";

    fn tokens() -> Tokens {
        let mut tokens = Tokens::default();
        tokens.push(&format!("phone={SECRET}")).unwrap();
        tokens.push("tablet=aaaaaaaaaaaaaaaaaaaa").unwrap();
        tokens
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, last])
    }

    #[test]
    fn tokens_are_named_secrets_of_url_characters() {
        let mut tokens = tokens();
        for (bad, error) in [
            ("phone", TokenError::Shape),
            (&format!("={SECRET}") as &str, TokenError::Name),
            (&format!("my phone={SECRET}"), TokenError::Name),
            ("tv=short", TokenError::Secret),
            ("tv=has/a/slash/in/it/yes", TokenError::Secret),
            (
                &format!("tv={}", "a".repeat(SECRET_MAX + 1)),
                TokenError::Secret,
            ),
            (&format!("phone=b{SECRET}"), TokenError::Repeated),
            (&format!("tv={SECRET}"), TokenError::Repeated),
        ] {
            assert_eq!(tokens.push(bad), Err(error), "{bad}");
        }
        assert_eq!(tokens.names().collect::<Vec<_>>(), ["phone", "tablet"]);
        assert_eq!(
            (tokens.name(1), tokens.name(2), tokens.name(0)),
            (Some("phone"), Some("tablet"), None)
        );
        assert!(!format!("{tokens:?}").contains(SECRET), "never shown");
    }

    #[test]
    fn outsiders_need_a_good_token_and_wrong_ones_are_counted_per_address() {
        let tokens = tokens();
        let query = format!("id=x&token={SECRET}");
        let phone = tokens.admit(ip(1), false, &query, 0).unwrap();
        assert_eq!(phone.via(), 1);
        assert_eq!(
            tokens.admit(ip(1), false, "id=x", 0).err(),
            Some(Refused::NoToken)
        );
        assert_eq!(
            tokens.admit(ip(1), false, "token=nope", 0).err(),
            Some(Refused::Wrong)
        );
        assert_eq!(
            tokens.admit(ip(1), true, "id=x", 0).unwrap().via(),
            0,
            "the LAN"
        );
        assert_eq!(tokens.admit(ip(1), true, "token=nope", 0).unwrap().via(), 0);
        assert_eq!(
            tokens.admit(ip(1), true, &query, 0).unwrap().via(),
            1,
            "shown"
        );
        for _ in 2..WRONG_PER_MINUTE {
            assert_eq!(
                tokens.admit(ip(1), false, "token=x", 0).err(),
                Some(Refused::Wrong)
            );
        }
        // Past the limit, even the good token is not looked at until the minute ends.
        assert_eq!(
            tokens.admit(ip(1), false, &query, 1_000).err(),
            Some(Refused::Blocked(59))
        );
        assert!(
            tokens.admit(ip(2), false, &query, 1_000).is_ok(),
            "each address its own"
        );
        assert!(tokens.admit(ip(1), false, &query, MINUTE).is_ok());
    }

    const MINUTE: u64 = super::super::MINUTE_MS;

    #[test]
    fn every_url_handed_out_carries_the_token_it_came_with() {
        let tokens = tokens();
        let phone = tokens
            .admit(ip(1), false, &format!("token={SECRET}"), 0)
            .unwrap();
        let mut url = "/ace/m/ab/0000000000000001.m3u8".to_owned();
        phone.carry(&mut url);
        assert_eq!(
            url,
            format!("/ace/m/ab/0000000000000001.m3u8?token={SECRET}")
        );
        let mut url = "http://tv.lan:6880/ace/getstream?id=ab".to_owned();
        phone.carry(&mut url);
        assert_eq!(
            url,
            format!("http://tv.lan:6880/ace/getstream?id=ab&token={SECRET}")
        );
        let mut url = "/ace/c/ab/1/2.ts".to_owned();
        Admission::default().carry(&mut url);
        assert_eq!(url, "/ace/c/ab/1/2.ts", "the LAN's URLs carry nothing");
    }

    #[test]
    fn secrets_are_compared_whole() {
        assert!(same(b"abcdefgh", b"abcdefgh"));
        for other in [&b"abcdefgX"[..], b"abcdefg", b"abcdefghi", b"", b"Xbcdefgh"] {
            assert!(!same(other, b"abcdefgh"), "{other:?}");
        }
    }
}
