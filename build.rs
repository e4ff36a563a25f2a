//! Reads the board profile named by `ACEBOX_BOARD` (default `host`) from `boards/` and writes its
//! capacities as constants for `src/board.rs`. A profile that is malformed or inconsistent fails
//! the build with a message naming the field. See boards/README.md for the format.

#[path = "build/profile.rs"]
mod profile;

use std::path::Path;

use profile::{check, constants, parse};

fn main() {
    println!("cargo:rerun-if-env-changed=ACEBOX_BOARD");
    let board = std::env::var("ACEBOX_BOARD").unwrap_or_else(|_| "host".into());
    let file = format!("boards/{board}.toml");
    println!("cargo:rerun-if-changed={file}");
    println!("cargo:rerun-if-changed=build/profile.rs");
    let fail = |message: String| -> ! {
        eprintln!("\nerror: board profile {file}: {message}\n");
        std::process::exit(1);
    };
    if board.is_empty() || !board.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        fail(format!(
            "ACEBOX_BOARD={board:?} is not a board name (see boards/)"
        ));
    }
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        let known = known_boards().join(", ");
        fail(format!("cannot read it ({e}); the boards are: {known}"))
    });
    let profile = parse(&text).unwrap_or_else(|e| fail(e));
    let checked = check(&profile).unwrap_or_else(|e| fail(e));
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != profile["target"] {
        println!(
            "cargo:warning=board {board} is for {}, but this build is for {target}",
            profile["target"]
        );
    }
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("board.rs");
    std::fs::write(out, constants(&board, &profile, &checked)).expect("OUT_DIR is writable");
}

fn known_boards() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("boards")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".toml")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}
