//! The crate's modules form one-way layers (see the comment at the top of `src/lib.rs`):
//! each top-level module may import only from modules of a lower rank, so storage knows
//! nothing of the engine, the engine nothing of transactions or integrity, and none of
//! them anything of the `Database` facade. This test reads every source file, collects
//! the top-level modules its non-test code names (`crate::x`, `crate::{x, y}`, `super::`
//! paths that climb to the crate root, and root re-exports such as `crate::Database`),
//! and fails on any edge that does not go down.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every top-level module and its rank: a module may import only from lower ranks
/// (modules of the same rank do not import each other).
const RANKS: &[(&str, u32)] = &[
    ("checksum", 0),
    ("error", 0),
    ("clock", 0),
    ("striped", 0),
    ("config", 1),
    ("events", 1),
    ("recovery_state", 2),
    ("breaker", 2),
    ("storage", 2),
    ("stats", 3),
    ("audit", 3),
    ("measure", 2),
    ("batch", 3),
    ("engine", 4),
    ("iter", 5),
    ("bulk", 5),
    ("snapshot", 6),
    ("txn", 7),
    ("integrity", 7),
    ("monitor", 8),
    ("db", 9),
    ("ops", 10),
    ("migrate", 10),
    ("testing", 11),
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without `//` comments and without the unit-test module at its end.
fn code_of(text: &str) -> String {
    let cut = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..cut]
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module path of a file: `src/storage/table/reader.rs` is `[storage, table, reader]`,
/// `src/storage/mod.rs` is `[storage]`.
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src_dir()).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Which module each name that `lib.rs` re-exports comes from (`Database` → `db`).
fn root_reexports() -> BTreeMap<String, String> {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).expect("lib.rs");
    let code = code_of(&lib);
    let mut names = BTreeMap::new();
    for stmt in code.split(';') {
        let stmt = stmt.trim();
        let Some(rest) = stmt.strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.trim_start_matches("crate::");
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        let items = items.trim_matches(|c| c == '{' || c == '}' || char::is_whitespace(c));
        for item in items.split(',') {
            let name = item.trim().rsplit("::").next().unwrap_or("").trim();
            if !name.is_empty() {
                names.insert(name.to_string(), module.to_string());
            }
        }
    }
    names
}

/// The top-level modules a file's code names, other than its own.
fn imports_of(file: &Path, reexports: &BTreeMap<String, String>) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).expect("read source");
    let code = code_of(&text);
    let own = module_path(file);
    let mut found = BTreeSet::new();
    let mut add = |first: &str| {
        let first = first.trim();
        let module = match first.chars().next() {
            Some(c) if c.is_ascii_uppercase() => match reexports.get(first) {
                Some(m) => m.clone(),
                None => return,
            },
            Some(_) => first.to_string(),
            None => return,
        };
        if own.first() != Some(&module) {
            found.insert(module);
        }
    };
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                add(&ident(item.trim()));
            }
        } else {
            add(&ident(rest));
        }
    }
    // `super::` climbing out of the top-level module reaches the crate root.
    for (i, _) in code.match_indices("super::") {
        if i >= 2 && &code[i - 2..i] == "::" {
            continue; // counted with the first `super::` of the chain
        }
        let mut rest = &code[i..];
        let mut depth = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            depth += 1;
            rest = r;
        }
        // A file's own module is `own`; each `super` drops one component.
        if depth >= own.len() {
            add(&ident(rest));
        }
    }
    found
}

fn edges() -> Vec<(String, String, PathBuf)> {
    let reexports = root_reexports();
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let own = module_path(&file);
        let Some(top) = own.first().cloned() else {
            continue;
        };
        if top == "lib" {
            continue;
        }
        for module in imports_of(&file, &reexports) {
            out.push((top.clone(), module, file.clone()));
        }
    }
    out
}

fn rank(module: &str) -> Option<u32> {
    RANKS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

#[test]
fn every_import_goes_down_a_layer() {
    let mut wrong = Vec::new();
    for (from, to, file) in edges() {
        match (rank(&from), rank(&to)) {
            (Some(a), Some(b)) if b < a => {}
            (None, _) => wrong.push(format!(
                "{}: module `{from}` has no rank; add it to RANKS in tests/layering.rs and to \
                 the layer comment in lib.rs",
                file.display()
            )),
            (_, None) => wrong.push(format!(
                "{}: `{from}` names `{to}`, which is not a module of the crate",
                file.display()
            )),
            (Some(_), Some(_)) => wrong.push(format!(
                "{}: `{from}` imports `{to}`, which is not below it",
                file.display()
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_reader_sees_what_the_layers_are_built_from() {
    // The checks above are only as good as the parsing: make sure it finds the edges it
    // must find, so a parser that found nothing would fail here rather than pass.
    let all: BTreeSet<(String, String)> = edges().into_iter().map(|(a, b, _)| (a, b)).collect();
    for (from, to) in [
        ("engine", "storage"),
        ("db", "engine"),
        ("txn", "engine"),
        ("integrity", "engine"),
        ("storage", "checksum"),
        ("testing", "db"),
    ] {
        assert!(
            all.contains(&(from.to_string(), to.to_string())),
            "expected to see `{from}` import `{to}`; found {all:?}"
        );
    }
    let reexports = root_reexports();
    assert_eq!(reexports.get("Database").map(String::as_str), Some("db"));
    assert_eq!(
        reexports.get("PinnedValue").map(String::as_str),
        Some("storage")
    );
}

#[test]
fn storage_knows_nothing_above_it() {
    for (from, to, file) in edges() {
        if from == "storage" {
            assert!(
                ["checksum", "error", "config", "striped"].contains(&to.as_str()),
                "{}: storage imports `{to}`",
                file.display()
            );
        }
    }
}
