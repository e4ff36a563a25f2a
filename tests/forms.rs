//! One content, one form: a channel plays as its first client asked for it (the selector, a
//! content id or an infohash, and the engine options that change the stream), because the
//! engine plays one session per content. A later client that asks for it no other way is
//! served; one that asks for another form is refused with 409 and changes nothing for the
//! others.

mod common;

use std::time::Duration;

use common::{Player, acebox, content, get_as, sim, user_agent, wait_for};

const POLL: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_secs(20);

/// The query strings of the engine starts acebox made, oldest first.
fn start_queries(engine: &common::Process) -> Vec<String> {
    engine.json("/sim/stats")["start_queries"]
        .as_array()
        .expect("start_queries")
        .iter()
        .map(|q| q.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_channel_plays_in_the_form_its_first_client_asked_and_other_forms_are_refused() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &["--idle-timeout", "1"]);
    let id = content(1);
    let mut first = Player::open(
        proxy.addr,
        &format!("id={id}&preferred_audio_language=rus&transcode_audio=1"),
    );
    first.play(PATIENCE, POLL, |p| !p.segments.is_empty());
    let refused = |path: &str, who: usize| {
        let reply = get_as(proxy.addr, path, &user_agent(900 + who));
        assert_eq!(reply.status, 409, "{path}: {}", reply.text());
        reply.error()
    };
    // The same 40 digits as an infohash name other content: never the channel playing.
    let error = refused(&format!("/ace/manifest.m3u8?infohash={id}"), 1);
    assert!(error.contains("infohash"), "{error}");
    refused(&format!("/ace/getstream?infohash={id}"), 2);
    // Options that change the stream, other than the channel's.
    let error = refused(&format!("/ace/manifest.m3u8?id={id}&transcode_audio=0"), 3);
    assert!(
        error.contains("transcode_audio=1"),
        "says what plays: {error}"
    );
    refused(&format!("/ace/getstream?id={id}&transcode_mp3=1"), 4);
    // The player already watching, asking another way, is refused too, not sent to its
    // playlist of the channel playing.
    let reply = get_as(
        proxy.addr,
        &format!("/ace/manifest.m3u8?infohash={id}"),
        &first.headers,
    );
    assert_eq!(reply.status, 409, "{}", reply.text());
    let as_infohash = format!("{}&by=infohash", first.playlist);
    assert_eq!(get_as(proxy.addr, &as_infohash, &first.headers).status, 409);
    // No options, or the same in any order: served from the channel as it plays.
    for (n, query) in [
        format!("id={id}"),
        format!("content_id={id}&transcode_audio=1&preferred_audio_language=rus"),
    ]
    .iter()
    .enumerate()
    {
        let mut other = Player::open(proxy.addr, query);
        other.play(PATIENCE, POLL, |p| !p.segments.is_empty());
        assert!(other.playlist.starts_with(&format!("/ace/m/{id}/")), "{n}");
    }
    let queries = start_queries(&engine);
    assert!(
        queries
            .iter()
            .all(|q| q.contains(&format!("content_id={id}")) && q.contains("transcode_audio=1")),
        "every start was the first client's form: {queries:?}"
    );
    // Once the channel has stopped, the other form plays.
    drop(first);
    wait_for(PATIENCE, "the channel to stop", || {
        let status = proxy.json("/status");
        status["channels"].as_array()?.is_empty().then_some(())
    });
    let mut by_hash = Player::open(proxy.addr, &format!("infohash={id}"));
    by_hash.play(PATIENCE, POLL, |p| !p.segments.is_empty());
    let last = start_queries(&engine).pop().unwrap_or_default();
    assert!(last.starts_with(&format!("infohash={id}&")), "{last}");
}
