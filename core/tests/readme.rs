//! Keeps the README's error-code table generated from the one table in `error/table.rs`.
//! Run with `LIGHTNING_BLESS=1` to rewrite the README section after adding a code.

use std::path::PathBuf;

const START: &str =
    "<!-- error-table:start (generated from core/src/error/table.rs by core/tests/readme.rs) -->";
const END: &str = "<!-- error-table:end -->";

fn rendered_table() -> String {
    let mut out = String::from("| code | name | meaning |\n|---:|---|---|\n");
    for row in lightning_db::ERROR_TABLE {
        let reserved = if lightning_db::reserved_for(row.code).is_some() {
            " (reserved: not produced yet)"
        } else {
            ""
        };
        out.push_str(&format!(
            "| {} | `{}` | {}{reserved} |\n",
            row.code, row.name, row.description
        ));
    }
    out
}

#[test]
fn readme_error_table_matches_the_code_table() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md is readable");
    let start = readme
        .find(START)
        .expect("README has the error-table start marker")
        + START.len();
    let end = readme
        .find(END)
        .expect("README has the error-table end marker");
    let expected = format!("\n{}", rendered_table());
    if std::env::var_os("LIGHTNING_BLESS").is_some() {
        let updated = format!("{}{}{}", &readme[..start], expected, &readme[end..]);
        std::fs::write(&path, updated).expect("README.md is writable");
        return;
    }
    assert_eq!(
        &readme[start..end],
        expected,
        "the README's error table is stale: run LIGHTNING_BLESS=1 cargo test -p lightning_db --test readme"
    );
}
