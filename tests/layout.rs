//! The layout's rules, checked on the source (ARCHITECTURE.md states them):
//! - data flows one way: a top-level module of `src/` imports only modules of a lower layer;
//! - a source file of more than 400 lines says why at its top (`//! Over 400 lines: ...`).
//!
//! Reads `src/` as text: a `crate::<module>` path, or a module in a `crate::{...}` group, is an
//! import, and `super::super` is refused (it would hide one). Unit tests may reach anywhere, so
//! each `#[cfg(test)]` item (a `mod tests`, a test-only function) is skipped, and only it.

use std::path::{Path, PathBuf};

/// Each top-level module of the library and its layer, lowest first. A module may import only
/// modules of a lower layer (and its own submodules). `lock`, `clip`, `spawn` and `AtomicU64` live in `lib.rs`
/// and are layer 0.
const LAYERS: &[(&str, u32)] = &[
    ("board", 0),
    ("clip", 0),
    ("spawn", 0),
    ("clock", 0),
    ("lock", 0),
    ("logger", 0),
    ("xml", 0),
    ("http", 1),
    ("session", 1),
    ("storage", 1),
    ("counters", 1),
    ("engine", 2),
    ("feed", 3),
    ("hls", 4),
    ("ts", 4),
    ("channel", 5),
    ("channel_list", 6),
    ("config", 6),
    ("search", 6),
    ("app", 7),
    ("report", 8),
    ("lan", 8),
    ("router", 9),
];

const MAX_LINES: usize = 400;
const LONG_REASON: &str = "//! Over 400 lines:";

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module `file` belongs to (`src/http/gate.rs` -> `http`), or `None` for the
/// crate roots and the binaries.
fn module_of(file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src()).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "bin")).then(|| name.to_string())
}

/// `text` without its test-only items: each `#[cfg(test)]` and the item after it, up to the
/// brace that closes that item (a `mod tests { ... }` or a test-only function).
fn product(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(open) = rest.find('{') else {
            return out;
        };
        let mut depth = 0;
        let mut end = rest.len();
        for (i, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = open + i + 1;
                break;
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The identifier at the start of `text`.
fn ident(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level modules `text` names as `crate::<module>` or in a `crate::{a, b::c}` group,
/// outside its test-only items; `AtomicU64` and other names that are not modules (not lower
/// case) are the crate root's own.
fn imports(text: &str) -> Vec<String> {
    let product = product(text);
    let mut found: Vec<String> = Vec::new();
    let mut add = |name: String| {
        let module = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        if module && !found.contains(&name) {
            found.push(name);
        }
    };
    for (at, _) in product.match_indices("crate::") {
        let after = &product[at + "crate::".len()..];
        match after.strip_prefix('{') {
            Some(group) => {
                let mut depth = 0;
                let mut item_start = true;
                for (i, c) in group.char_indices() {
                    if item_start && depth == 0 {
                        add(ident(&group[i..]));
                        item_start = false;
                    }
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        _ => {}
                    }
                }
            }
            None => add(ident(after)),
        }
    }
    found
}

#[test]
fn every_import_points_down_a_layer() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(file) else {
            continue;
        };
        let Some(own) = layer(&module) else {
            wrong.push(format!(
                "{}: module `{module}` has no layer",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a readable source file");
        if product(&text).contains("super::super") {
            wrong.push(format!(
                "{}: `super::super` reaches out of its folder; name it by `crate::`",
                file.display()
            ));
        }
        for imported in imports(&text) {
            match layer(&imported) {
                Some(l) if imported == module || l < own => {}
                Some(l) => wrong.push(format!(
                    "{}: `{module}` (layer {own}) imports `{imported}` (layer {l})",
                    file.display()
                )),
                None => wrong.push(format!(
                    "{}: imports `crate::{imported}`, which has no layer",
                    file.display()
                )),
            }
        }
    }
    assert!(files.len() > 40, "found only {} source files", files.len());
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_long_file_says_why() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(file).expect("a readable source file");
            let lines = text.lines().count();
            (lines > MAX_LINES && !text.lines().any(|l| l.starts_with(LONG_REASON)))
                .then(|| format!("{}: {lines} lines", file.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines without a `{LONG_REASON}` line at the top:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checks_see_imports_and_skip_tests() {
    let text = "use crate::http::Body;\nfn f() { crate::clock::now_ms(); crate::AtomicU64 }\n\
                #[cfg(test)]\nfn helper() { crate::app::x(); }\n\
                fn g() { crate::storage::Ring::new() }\n\
                use crate::{report, board::X, engine::{A, B}, AtomicU64};\n\
                #[cfg(test)]\nmod tests { use crate::router; fn t() { let _ = \"{}\"; } }";
    assert_eq!(
        imports(text),
        ["http", "clock", "storage", "report", "board", "engine"]
    );
    assert_eq!(
        module_of(&src().join("http").join("gate.rs")).as_deref(),
        Some("http")
    );
    assert_eq!(module_of(&src().join("lib.rs")), None);
    assert!(layer("storage") < layer("channel"));
}
