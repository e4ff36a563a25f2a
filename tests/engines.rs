//! Several engines behind one acebox: channels spread over them within each one's limit, and
//! when one engine dies (killed) or hangs (stopped, answering nothing), its channels move to
//! the others while every player stays connected.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use acebox::board::MAX_CHANNELS;
use common::{Player, Process, TsClient, acebox, at_once, content, sim, wait_for};

const WAIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(100);

/// Three simulators and acebox in front of them, each engine given with `suffix` (a limit of
/// channels, or nothing).
fn three_engines(suffix: &str) -> (Vec<Process>, Process) {
    let engines: Vec<Process> = (0..3).map(|_| sim(&[])).collect();
    let proxy = common::acebox_engines(&engines, suffix);
    (engines, proxy)
}

/// The `/status` entries of the engines.
fn engines_of(proxy: &Process) -> Vec<serde_json::Value> {
    proxy.json("/status")["engines"].as_array().unwrap().clone()
}

/// The URL of the engine channel `id` plays from.
fn engine_of(proxy: &Process, id: &str) -> String {
    proxy.json("/status")["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["content_id"] == id)
        .map(|c| c["engine_url"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no channel {id}"))
}

/// How many sessions of acebox's player for `id` the simulator `engine` holds live.
fn live_sessions(engine: &Process, id: &str) -> usize {
    let pid = format!("acebox-{id}");
    engine.json("/sim/stats")["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["pid"] == pid.as_str() && s["state"] == "live")
        .count()
}

#[test]
fn simultaneous_first_requests_never_overfill_an_engine() {
    let (engines, proxy) = three_engines("?channels=1");
    let wanted = MAX_CHANNELS.min(4);
    let addr = proxy.addr;
    let clients = at_once(wanted, move |i| {
        TsClient::open(
            addr,
            &format!("/ace/getstream?id={}", content(60 + i as u8)),
        )
    });
    let played = clients.iter().filter(|c| c.status == 200).count();
    assert_eq!(played, wanted.min(3), "one channel on each engine");
    assert_eq!(
        clients.iter().filter(|c| c.status == 503).count(),
        wanted - played,
        "the rest are told to come back"
    );
    for engine in engines_of(&proxy) {
        assert!(engine["channels"].as_u64().unwrap() <= 1, "{engine}");
        assert_eq!(engine["max_channels"], 1);
    }
    for (i, client) in clients.iter().enumerate() {
        if client.status != 200 {
            continue;
        }
        let id = content(60 + i as u8);
        let held: usize = engines.iter().map(|e| live_sessions(e, &id)).sum();
        assert_eq!(held, 1, "one engine session for channel {id}");
    }
    // One more: the engines are full (or, on a board of fewer channels, acebox is).
    let refused = common::get(proxy.addr, &format!("/ace/getstream?id={}", content(70)));
    assert_eq!(refused.status, 503, "{}", refused.text());
    let why = if MAX_CHANNELS > 3 { "limit" } else { "maximum" };
    assert!(refused.error().contains(why), "{}", refused.text());
}

/// How the engine under test fails.
#[derive(Clone, Copy, Debug)]
enum Failure {
    /// The process is killed: nothing listens any more.
    Killed,
    /// The process is stopped: connections are accepted, nothing is answered.
    Hung,
}

/// An HLS player and a TS client on each of several channels spread over three engines; the
/// engine of the first channel fails `how`. Every player plays on without an error status,
/// the channels of that engine move to the others, and each channel plays from one engine.
fn an_engine_fails(how: Failure, first_id: u8) {
    let (mut engines, proxy) = three_engines("");
    let ids: Vec<String> = (0..MAX_CHANNELS.min(3) as u8)
        .map(|n| content(first_id + n))
        .collect();
    let mut players: Vec<Player> = ids
        .iter()
        .map(|id| Player::connect(proxy.addr, id))
        .collect();
    let mut ts: Vec<TsClient> = ids
        .iter()
        .map(|id| TsClient::open(proxy.addr, &format!("/ace/getstream?id={id}")))
        .collect();
    for player in &mut players {
        player.play(WAIT, POLL, |p| p.segments.len() >= 3);
    }
    for client in &mut ts {
        assert_eq!(client.status, 200);
        assert!(!client.read(188 * 16).is_empty());
    }
    let victim_url = engine_of(&proxy, &ids[0]);
    let victim = engines
        .iter()
        .position(|e| victim_url == format!("http://{}", e.addr))
        .expect("the channel plays from one of the three");
    let moving: Vec<bool> = ids
        .iter()
        .map(|id| engine_of(&proxy, id) == victim_url)
        .collect();

    // Each TS client reads on its own thread until told to stop, noting its longest wait.
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let stop_rx = std::sync::Arc::new(std::sync::Mutex::new(stop_rx));
    let readers: Vec<_> = ts
        .into_iter()
        .map(|mut client| {
            let stop = stop_rx.clone();
            std::thread::spawn(move || {
                let (mut last, mut gap) = (Instant::now(), Duration::ZERO);
                while stop.lock().unwrap().try_recv().is_err() {
                    let got = client.read(188 * 16);
                    assert!(
                        !got.is_empty(),
                        "a TS stream ended after {:?}",
                        last.elapsed()
                    );
                    gap = gap.max(last.elapsed());
                    last = Instant::now();
                }
                gap
            })
        })
        .collect();

    let failed = Instant::now();
    match how {
        Failure::Killed => {
            let _ = engines.remove(victim).kill();
        }
        Failure::Hung => engines[victim].signal("STOP"),
    }
    // The players play on, side by side: those of a moved channel until three segments after
    // its discontinuity, the others three segments more.
    let counts: Vec<usize> = players.iter().map(|p| p.segments.len()).collect();
    let mut gaps = vec![Duration::ZERO; players.len()];
    let mut last_new: Vec<Instant> = vec![Instant::now(); players.len()];
    let done = |n: usize, p: &Player| {
        let newest = p.segments.keys().next_back().copied().unwrap_or_default();
        match moving[n] {
            true => p.breaks.iter().any(|b| b + 3 <= newest),
            false => p.segments.len() >= counts[n] + 3,
        }
    };
    while !players.iter().enumerate().all(|(n, p)| done(n, p)) {
        assert!(
            failed.elapsed() < WAIT,
            "the players did not play on: {:?} (moving {moving:?}, segments before {counts:?})\n{}",
            players
                .iter()
                .map(|p| (
                    p.segments.len(),
                    p.breaks.clone(),
                    p.statuses.iter().filter(|s| **s != 200).count()
                ))
                .collect::<Vec<_>>(),
            proxy.logs()
        );
        for (n, player) in players.iter_mut().enumerate() {
            let before = player.segments.len();
            player.poll();
            if player.segments.len() > before {
                gaps[n] = gaps[n].max(last_new[n].elapsed());
                last_new[n] = Instant::now();
            }
        }
        std::thread::sleep(POLL);
    }
    let played_on = failed.elapsed();
    for _ in 0..readers.len() {
        stop_tx.send(()).unwrap();
    }
    let ts_gaps: Vec<Duration> = readers
        .into_iter()
        .map(|r| {
            r.join()
                .unwrap_or_else(|_| panic!("a TS client lost its connection\n{}", proxy.logs()))
        })
        .collect();

    for (n, player) in players.iter().enumerate() {
        assert!(
            player.statuses.iter().all(|s| *s == 200),
            "{:?}",
            player.statuses
        );
        let seqs: Vec<u64> = player.segments.keys().copied().collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
        assert_eq!(
            !player.breaks.is_empty(),
            moving[n],
            "a break only where it moved"
        );
    }
    let status = proxy.json("/status");
    let down = &status["engines"][victim];
    assert_eq!(down["healthy"], false, "{down}");
    for (n, engine) in status["engines"].as_array().unwrap().iter().enumerate() {
        assert!(
            engine["checks"].as_u64().unwrap() > 0,
            "several engines are checked"
        );
        assert_eq!(engine["healthy"], n != victim, "{engine}");
    }
    let moved = moving.iter().filter(|m| **m).count() as u64;
    assert!(down["failovers"].as_u64().unwrap() >= moved, "{down}");
    for id in &ids {
        assert_ne!(engine_of(&proxy, id), victim_url, "{id} left the engine");
        if let Failure::Killed = how {
            let held: usize = engines.iter().map(|e| live_sessions(e, id)).sum();
            assert_eq!(held, 1, "one engine session for channel {id}");
        }
    }
    if let Failure::Hung = how {
        // The engine hangs on past acebox's wait for the stop of the sessions left on it;
        // running again, it answers its probe, and they are stopped then: no channel plays
        // from two engines for long.
        let moved = moving.iter().filter(|m| **m).count() as u64;
        wait_for(WAIT, "the sessions left on the hung engine", || {
            let left = &proxy.json("/status")["engines"][victim]["sessions_left"];
            (left.as_u64() == Some(moved)).then_some(())
        });
        engines[victim].signal("CONT");
        for (id, _) in ids.iter().zip(&moving).filter(|(_, moved)| **moved) {
            wait_for(WAIT, "the session left on the engine to be stopped", || {
                (live_sessions(&engines[victim], id) == 0).then_some(())
            });
        }
        let engine = &proxy.json("/status")["engines"][victim];
        assert_eq!(
            (&engine["healthy"], &engine["sessions_left"]),
            (&true.into(), &0.into())
        );
        assert!(
            proxy.logs().contains("a session left behind stopped"),
            "{}",
            proxy.logs()
        );
    }
    eprintln!(
        "engine {how:?}: HLS gaps {gaps:?}, TS gaps {ts_gaps:?}, all played on after {played_on:?}"
    );
}

#[test]
fn when_an_engine_is_killed_its_channels_move_and_every_player_plays_on() {
    an_engine_fails(Failure::Killed, 80);
}

#[test]
fn when_an_engine_hangs_its_channels_move_and_every_player_plays_on() {
    an_engine_fails(Failure::Hung, 90);
}

/// One engine, as before several were possible: no health check is made.
#[test]
fn one_engine_is_never_checked() {
    let engine = sim(&[]);
    let proxy = acebox(engine.addr, &[]);
    let mut player = Player::connect(proxy.addr, &content(99));
    player.play(WAIT, POLL, |p| p.segments.len() >= 2);
    let engines = engines_of(&proxy);
    assert_eq!(engines.len(), 1);
    assert_eq!(engines[0]["checks"], 0);
    assert_eq!(engines[0]["channels"], 1);
    assert_eq!(engines[0]["healthy"], true);
}
