//! The live HLS playlist: which segments a poll shows and the text that lists them.
//!
//! This module owns the window arithmetic and the playlist text. It never reads a clock or a
//! session: callers pass how many segments exist and where the playlist is served from.

use std::fmt::Write;

/// The off-host address a playlist names under `off_host=1` (`off_host=ADDR:PORT` names
/// another, e.g. a test's listener); a proxy must not fetch it. It is on loopback but not the
/// engine's address, so a proxy that wrongly fetches it still sends nothing off this machine.
pub const OFF_HOST: &str = "127.0.0.2:6878";

/// The segments one playlist lists: `first, first + 1, ..., first + count - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub first: u64,
    pub count: u64,
}

/// How many segments a playlist shows when `available` exist, the playlist advances only every
/// `burst` segments, and earlier playlists showed `shown`: never fewer, whatever the burst was
/// then (an engine never takes back a segment it listed).
pub fn visible(available: u64, burst: u64, shown: u64) -> u64 {
    let burst = burst.max(1);
    (available / burst * burst).max(shown.min(available))
}

/// The window listing the newest `size` of `visible` segments; `None` while it would be empty
/// (still prebuffering).
pub fn window(visible: u64, size: u64) -> Option<Window> {
    let count = visible.min(size);
    (count > 0).then_some(Window {
        first: visible - count,
        count,
    })
}

/// How a playlist is rendered, besides its window.
pub struct Shape<'a> {
    /// The `host[:port]` segment URLs point at.
    pub host: &'a str,
    pub infohash: &'a str,
    pub segment_ms: u64,
    /// The `host:port` of an off-host segment line to slip in before the last segment.
    pub off_host: Option<&'a str>,
}

/// The playlist text for `window`.
pub fn render(shape: &Shape, window: Window) -> String {
    let extinf = format!("#EXTINF:{},\n", seconds(shape.segment_ms));
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{}\n",
        shape.segment_ms.div_ceil(1000),
        window.first
    );
    let last = window.first + window.count - 1;
    for n in window.first..=last {
        if let Some(off_host) = shape.off_host.filter(|_| n == last) {
            out.push_str(&extinf);
            push_segment_uri(&mut out, off_host, shape.infohash, n);
        }
        out.push_str(&extinf);
        push_segment_uri(&mut out, shape.host, shape.infohash, n);
    }
    out
}

/// Milliseconds as seconds with six decimals, as the engine writes `#EXTINF`.
pub fn seconds(ms: u64) -> String {
    format!("{}.{:06}", ms / 1000, ms % 1000 * 1000)
}

fn push_segment_uri(out: &mut String, host: &str, infohash: &str, n: u64) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "http://{host}/ace/c/{infohash}/{n}.ts");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides_over_the_newest_segments() {
        assert_eq!(window(0, 15), None);
        assert_eq!(window(1, 15), Some(Window { first: 0, count: 1 }));
        assert_eq!(
            window(20, 15),
            Some(Window {
                first: 5,
                count: 15
            })
        );
    }

    #[test]
    fn burst_holds_segments_back_until_a_whole_burst_exists() {
        assert_eq!(visible(2, 3, 0), 0);
        assert_eq!(visible(5, 3, 0), 3);
        assert_eq!(
            window(visible(6, 3, 3), 4),
            Some(Window { first: 2, count: 4 })
        );
        // From bursts of 4 to bursts of 6 with 20 listed: nothing listed is taken back, and
        // the next 6 come at once.
        assert_eq!(visible(20, 4, 0), 20);
        assert_eq!(visible(20, 6, 20), 20);
        assert_eq!(visible(23, 6, 20), 20);
        assert_eq!(visible(24, 6, 20), 24);
        assert_eq!(visible(3, 1, 9), 3, "never more than exist");
    }

    #[test]
    fn seconds_have_six_decimals() {
        assert_eq!(seconds(4000), "4.000000");
        assert_eq!(seconds(200), "0.200000");
        assert_eq!(seconds(3737), "3.737000");
    }

    #[test]
    fn playlist_text_matches_the_engine() {
        let shape = Shape {
            host: "127.0.0.1:6878",
            infohash: "ab",
            segment_ms: 3500,
            off_host: None,
        };
        let text = render(&shape, Window { first: 7, count: 2 });
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:7\n\
             #EXTINF:3.500000,\nhttp://127.0.0.1:6878/ace/c/ab/7.ts\n\
             #EXTINF:3.500000,\nhttp://127.0.0.1:6878/ace/c/ab/8.ts\n"
        );
        assert!(!text.contains("ENDLIST"));
    }

    #[test]
    fn off_host_line_sits_just_before_the_last_segment() {
        let shape = Shape {
            host: "h:1",
            infohash: "ab",
            segment_ms: 1000,
            off_host: Some(OFF_HOST),
        };
        let text = render(&shape, Window { first: 0, count: 2 });
        let uris: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            uris,
            [
                "http://h:1/ace/c/ab/0.ts",
                "http://127.0.0.2:6878/ace/c/ab/1.ts",
                "http://h:1/ace/c/ab/1.ts"
            ]
        );
        assert_eq!(text.matches("#EXTINF").count(), 3);
    }
}
