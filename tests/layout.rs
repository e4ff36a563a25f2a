//! The layout's rules, checked on the source (ARCHITECTURE.md states them):
//! - data flows one way: a top-level module of `src/` imports only modules of a lower layer;
//! - a source file of more than 400 lines says why at its top (`//! Over 400 lines: ...`).
//!
//! Reads `src/` as text: a `crate::<module>` path outside a `#[cfg(test)]` part is an import.
//! Unit tests may reach anywhere, so everything after a file's first `#[cfg(test)]` is skipped.

use std::path::{Path, PathBuf};

/// Each top-level module of the library and its layer, lowest first. A module may import only
/// modules of a lower layer (and its own submodules). `lock` and `AtomicU64` live in `lib.rs`
/// and are layer 0.
const LAYERS: &[(&str, u32)] = &[
    ("board", 0),
    ("clock", 0),
    ("lock", 0),
    ("logger", 0),
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
    ("app", 7),
    ("report", 8),
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

/// The top-level modules `text` names as `crate::<module>`, outside its tests.
fn imports(text: &str) -> Vec<String> {
    let product = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut found = Vec::new();
    for (at, _) in product.match_indices("crate::") {
        let name: String = product[at + "crate::".len()..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if !name.is_empty() && !found.contains(&name) {
            found.push(name);
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
                #[cfg(test)]\nmod tests { use crate::router; }";
    assert_eq!(imports(text), ["http", "clock"]);
    assert_eq!(
        module_of(&src().join("http").join("gate.rs")).as_deref(),
        Some("http")
    );
    assert_eq!(module_of(&src().join("lib.rs")), None);
    assert!(layer("storage") < layer("channel"));
}
