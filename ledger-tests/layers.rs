//! The crate's layers point one way, as docs/ARCHITECTURE.md draws them: every
//! `crate::` path in the library's non-test code names a module at its own level
//! of the chain or below, or one of the modules beside the chain. The chain is read
//! from the document itself, so the two cannot drift.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The documented layers: each module's level in the chain (0 is the bottom),
/// and the modules beside it.
struct Layers {
    level: BTreeMap<String, usize>,
    beside: BTreeSet<String>,
}

fn documented() -> Layers {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).expect("ARCHITECTURE");
    let after = doc
        .split_once("Dependencies point one way")
        .expect("the code map's chain")
        .1;
    let block = after
        .split("```")
        .nth(1)
        .expect("the chain in a code block");
    let mut level = BTreeMap::new();
    for (n, step) in block.trim().split('─').enumerate() {
        for module in step.trim_start_matches('▶').split(',') {
            let module = module.trim();
            if !module.is_empty() && module != "main.rs" {
                level.insert(module.to_string(), n);
            }
        }
    }
    let sentence = after
        .lines()
        .find(|l| l.contains("sit beside the chain"))
        .expect("the modules beside the chain");
    let beside = sentence
        .split("sit beside")
        .next()
        .unwrap_or("")
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Layers { level, beside }
}

/// A library source file and the top-level module it belongs to.
struct Source {
    path: PathBuf,
    module: String,
}

/// Every file of the library reached through `mod` declarations from `lib.rs`,
/// leaving out modules declared under `#[cfg(test)]`.
fn library_files() -> Vec<Source> {
    let mut out = Vec::new();
    let src = root().join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    for name in declared_modules(&lib) {
        if let Some(path) = module_file(&src, &name) {
            walk(&path, &name, &mut out);
        }
    }
    out
}

fn walk(path: &Path, top: &str, out: &mut Vec<Source>) {
    let text = std::fs::read_to_string(path).expect("source file");
    out.push(Source {
        path: path.to_path_buf(),
        module: top.to_string(),
    });
    // Children of `a/mod.rs` live in `a/`; of `a.rs`, in `a/` too.
    let dir = if path.file_name().is_some_and(|f| f == "mod.rs") {
        path.parent().expect("dir").to_path_buf()
    } else {
        path.with_extension("")
    };
    for name in declared_modules(non_test(&text)) {
        if let Some(child) = module_file(&dir, &name) {
            walk(&child, top, out);
        }
    }
}

fn module_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [
        dir.join(format!("{name}.rs")),
        dir.join(name).join("mod.rs"),
    ]
    .into_iter()
    .find(|p| p.exists())
}

/// The modules a file declares with `mod name;` (not inline ones).
fn declared_modules(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut test_only = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("#[cfg(") && line.contains("test") {
            test_only = true;
            continue;
        }
        let decl = line
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ");
        if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            if !test_only {
                out.push(name.trim().to_string());
            }
        }
        if !line.starts_with("#[") {
            test_only = false;
        }
    }
    out
}

/// The file's text before its first test-only item (tests sit at the end).
fn non_test(text: &str) -> &str {
    let mut at = 0;
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.starts_with("#[cfg(") && t.contains("test") && !t.contains("not(test)") {
            let next = lines.peek().map(|l| l.trim()).unwrap_or("");
            if next.starts_with("mod ") || next.starts_with("pub mod ") {
                return &text[..at];
            }
        }
        at += line.len();
    }
    text
}

/// The top-level modules a file's code names through `crate::` paths, comments
/// left out.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn every_import_points_down_the_documented_chain() {
    let layers = documented();
    assert!(
        layers.level.len() >= 15 && layers.beside.contains("limits"),
        "the chain was not read from ARCHITECTURE.md: {:?} beside {:?}",
        layers.level,
        layers.beside
    );
    let files = library_files();
    assert!(files.len() > 50, "only {} library files found", files.len());
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(&file.path).expect("source");
        let from = &file.module;
        for to in crate_paths(non_test(&text)) {
            if &to == from
                || to == "proto"
                || !layers.level.contains_key(&to) && !layers.beside.contains(&to)
            {
                continue;
            }
            let allowed = if layers.beside.contains(from) {
                layers.beside.contains(&to)
            } else if layers.beside.contains(&to) {
                true
            } else {
                match (layers.level.get(from), layers.level.get(&to)) {
                    (Some(a), Some(b)) => b <= a,
                    _ => false,
                }
            };
            if !allowed {
                wrong.push(format!(
                    "{}: `{from}` imports `crate::{to}`",
                    file.path
                        .strip_prefix(root())
                        .unwrap_or(&file.path)
                        .display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against docs/ARCHITECTURE.md's chain:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_domain_never_sees_generated_types() {
    for file in library_files() {
        if !["ids", "money", "calendar", "pricing", "accrual", "registry"]
            .contains(&file.module.as_str())
        {
            continue;
        }
        let text = std::fs::read_to_string(&file.path).expect("source");
        assert!(
            !crate_paths(non_test(&text)).contains("proto"),
            "{} uses the generated protobuf types",
            file.path.display()
        );
    }
}

#[test]
fn the_check_catches_a_backward_import() {
    // The harness itself can fail: a registry file naming the service is found.
    let text = "use crate::money::Units;\nfn f() { crate::service::status::quote(\"x\"); }\n#[cfg(test)]\nmod tests { use crate::cli; }\n";
    let names = crate_paths(non_test(text));
    assert_eq!(
        names,
        ["money", "service"].map(String::from).into_iter().collect()
    );
    let layers = documented();
    assert!(layers.level["service"] > layers.level["registry"]);
}
