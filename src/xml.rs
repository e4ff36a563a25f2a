//! XML text: the one place acebox escapes what it writes into XML or HTML (the guide, device
//! descriptions, SOAP answers, DIDL-Lite, the status page).
//!
//! Owns turning any string into XML character data that is safe both as element text and as a
//! quoted attribute value. It never parses XML and never decides a document's shape.

/// Appends `text` to `out` escaped for XML: `&`, `<`, `>`, `"` and `'` become entities, and
/// characters XML 1.0 forbids (controls other than tab, newline and carriage return) are left
/// out, so whatever a channel list or an engine said cannot break the document.
pub fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
}

/// `text` escaped for XML, or for HTML (see [`push_escaped`]; `&#39;` is both).
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_become_entities_and_controls_go() {
        assert_eq!(
            escaped("Tom & Jerry <live> \"HD\" 'ES'"),
            "Tom &amp; Jerry &lt;live&gt; &quot;HD&quot; &#39;ES&#39;"
        );
        assert_eq!(escaped("a\u{0}b\u{1b}c\td\ne"), "abc\td\ne");
        assert_eq!(escaped("Спорт 1 ⚽"), "Спорт 1 ⚽");
        assert_eq!(
            escaped("&amp;"),
            "&amp;amp;",
            "already escaped text is text"
        );
    }
}
