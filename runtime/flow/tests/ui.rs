//! Golden tests of the user-facing diagnostics: every `tests/ui/<name>.yaml` at the workspace
//! root is loaded against the fixture catalog, and its rendered diagnostics must equal
//! `<name>.stderr` (empty for a valid flow). Re-bless with
//! `BLESS=1 cargo test -p sluice-flow --test ui`.

#![allow(clippy::unwrap_used)]

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::FixtureCatalog;

#[test]
fn golden_diagnostics() {
    let catalog = FixtureCatalog::load();
    let bless = std::env::var_os("BLESS").is_some_and(|v| v != "0" && !v.is_empty());
    let mut cases: Vec<_> = std::fs::read_dir(common::ui_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "expected the golden cases in {}", common::ui_dir().display());
    let mut failures = String::new();
    for case in &cases {
        let file_name = case.file_name().unwrap().to_str().unwrap();
        let text = std::fs::read_to_string(case).unwrap();
        let actual = match sluice_flow::load(file_name, &text, &catalog) {
            Ok(_) => String::new(),
            Err(diagnostics) => sluice_flow::render(&diagnostics, file_name, &text),
        };
        let expected_path = case.with_extension("stderr");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!("{} is missing; run with BLESS=1 to write it", expected_path.display())
        });
        if expected != actual {
            writeln!(failures, "--- {}\n{}", display(&expected_path), diff(&expected, &actual)).unwrap();
        }
    }
    // Every expected output has its flow (a renamed case must not leave a stale file behind).
    for entry in std::fs::read_dir(common::ui_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "stderr") && !path.with_extension("yaml").exists() {
            writeln!(failures, "{} has no .yaml beside it", display(&path)).unwrap();
        }
    }
    assert!(failures.is_empty(), "golden mismatch (- expected, + actual; BLESS=1 to accept):\n{failures}");
}

fn display(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// A line diff (longest common subsequence): ` ` kept, `-` expected only, `+` actual only.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            writeln!(out, "  {}", a[i]).unwrap();
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            writeln!(out, "- {}", a[i]).unwrap();
            i += 1;
        } else {
            writeln!(out, "+ {}", b[j]).unwrap();
            j += 1;
        }
    }
    out
}

#[test]
fn the_diff_marks_changed_lines() {
    assert_eq!(diff("a\nb\nc\n", "a\nx\nc\n"), "  a\n- b\n+ x\n  c\n");
    assert_eq!(diff("", "new\n"), "+ new\n");
}
