//! Names the simulator hands out: content keys, infohashes, playlist tokens, playback session
//! ids and the random paths of TS streams, all as lowercase hex.
//!
//! This module owns deriving them deterministically from their inputs (and, for session ids, from
//! a per-process seed). It never keeps state and is no cryptography: the names only have to look
//! like the engine's and never collide by accident in a test.

/// The key a content is known by: a 40-hex id is folded to lowercase so that both spellings name
/// one content; anything else (an .acelive URL, a magnet link) is kept as given.
pub fn content_key(selector: &str) -> String {
    if is_hex40(selector) {
        selector.to_ascii_lowercase()
    } else {
        selector.to_owned()
    }
}

/// Whether `text` is exactly 40 hex digits, the shape of content ids and infohashes.
pub fn is_hex40(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The infohash of a content: 40 hex derived from its key and never equal to it.
pub fn infohash(content: &str) -> String {
    (0u64..)
        .map(|salt| digest(salt, "infohash", content, 40))
        .find(|hash| hash != content)
        .unwrap_or_default()
}

/// The 32-hex playlist token of a player id; with `rotation`, a different token per start.
pub fn token(pid: &str, rotation: Option<u64>) -> String {
    match rotation {
        None => digest(0, "token", pid, 32),
        Some(n) => digest(n, "rotated-token", pid, 32),
    }
}

/// A random-looking 40-hex playback session id, distinct for every `serial` under one `seed`.
pub fn session_id(seed: u64, serial: u64) -> String {
    digest(seed, "session", &serial.to_string(), 40)
}

/// A random-looking 32-hex `/content/` path, distinct for every `serial` under one `seed`.
pub fn content_path(seed: u64, serial: u64) -> String {
    digest(seed, "content", &serial.to_string(), 32)
}

/// `len` hex digits drawn from a 64-bit FNV-1a hash of (`salt`, `domain`, `input`) stretched by
/// splitmix64.
fn digest(salt: u64, domain: &str, input: &str, len: usize) -> String {
    let mut state = 0xcbf2_9ce4_8422_2325_u64;
    let bytes = salt.to_le_bytes();
    let parts = [&bytes[..], domain.as_bytes(), &[0], input.as_bytes()];
    for b in parts.iter().flat_map(|p| p.iter()) {
        state = (state ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        out.push_str(&format!("{:016x}", splitmix64(&mut state)));
    }
    out.truncate(len);
    out
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn content_keys_fold_hex_case_only() {
        assert_eq!(content_key(&ID.to_ascii_uppercase()), ID);
        assert_eq!(content_key("http://x/A.acelive"), "http://x/A.acelive");
        assert!(is_hex40(ID));
        assert!(!is_hex40(&ID[1..]));
        assert!(!is_hex40(&format!("{}g", &ID[1..])));
    }

    #[test]
    fn infohash_is_stable_hex_and_differs_from_the_content() {
        let hash = infohash(ID);
        assert!(is_hex40(&hash));
        assert_ne!(hash, ID);
        assert_eq!(hash, infohash(ID));
        assert_ne!(hash, infohash("magnet:?xt=urn:btih:x"));
        assert_eq!(hash, hash.to_ascii_lowercase());
    }

    #[test]
    fn tokens_follow_the_pid_and_rotate_on_request() {
        let t = token("player-1", None);
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(t, token("player-1", None));
        assert_ne!(t, token("player-2", None));
        assert_ne!(token("player-1", Some(1)), token("player-1", Some(2)));
        assert_ne!(token("player-1", Some(1)), t);
    }

    #[test]
    fn session_ids_are_distinct_hex() {
        let a = session_id(7, 1);
        assert!(is_hex40(&a));
        assert_ne!(a, session_id(7, 2));
        assert_ne!(a, session_id(8, 1));
        let path = content_path(7, 1);
        assert_eq!(path.len(), 32);
        assert!(path.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(path, content_path(7, 2));
        assert_ne!(path, a[..32]);
    }
}
