//! The source tree's layers only point down (README, "Architecture"):
//!
//! ```text
//! model, adapters → config → diff → hub, state → feeds, cluster → server → app, systemd → demo, fuzzing, main
//! ```
//!
//! A module may use its own layer and the layers before it, never one after it;
//! the leaves (`untrusted`, `telemetry`, `readiness`) may be used from anywhere and
//! use only each other. Modules of one layer must not make a circle either.
//!
//! The test reads every file under `src/` as text (comments, strings and
//! `#[cfg(test)]` modules left out), collects each path that names a module of
//! the crate (`use crate::{a, b::c}` groups, `super::`, `self::`, a child module
//! by its own name, and paths written inline in code such as `crate::app::x()`),
//! resolves it to the module file it lands in, and fails naming the file, the line
//! and the import of every one that runs against the order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules by layer, from the bottom up.
const LAYERS: &[&[&str]] = &[
    &["model", "adapters"],
    &["config"],
    &["diff"],
    &["hub", "state"],
    &["feeds", "cluster"],
    &["server"],
    &["app", "systemd"],
    &["demo", "fuzzing", "main"],
];

/// Usable from any layer; they use nothing but each other.
const LEAVES: &[&str] = &["untrusted", "telemetry", "readiness"];

/// Imports against the order that are known and on their way out, as
/// (file, module imported). The list must shrink to nothing: an entry that no
/// longer matches an import fails the test too, so it is removed with the move.
///
/// - `TopicGauge` (one client's topics in a metric) takes a `hub::Subscription`:
///   it moves into `src/server`, with the connection core's lifecycle guard.
const MOVING_WITH_THE_SERVER_CORE: &[(&str, &str)] = &[("src/telemetry.rs", "hub")];

#[test]
fn layers_only_point_down() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = read_tree(&root.join("src"));
    assert!(files.len() > 40, "read {} files under src/", files.len());
    let found = violations(&files);
    let mut unexplained = Vec::new();
    let mut allowed_used = BTreeSet::new();
    for v in &found {
        match MOVING_WITH_THE_SERVER_CORE.iter().find(|(file, to)| v.file == *file && v.to_module.first().map(String::as_str) == Some(*to)) {
            Some(entry) => {
                allowed_used.insert(*entry);
            }
            None => unexplained.push(v.to_string()),
        }
    }
    assert!(unexplained.is_empty(), "imports against the layer order:\n{}", unexplained.join("\n"));
    let stale: Vec<_> = MOVING_WITH_THE_SERVER_CORE.iter().filter(|e| !allowed_used.contains(e)).collect();
    assert!(stale.is_empty(), "these allowances match no import any more; remove them from MOVING_WITH_THE_SERVER_CORE: {stale:?}");
}

/// The check itself, on a made-up tree: every form of import it must see,
/// and the forms it must not mistake for one.
#[test]
fn the_check_sees_every_form_of_import() {
    let tree = [
        ("src/lib.rs", "pub mod model; pub mod config; pub mod hub; pub mod app; pub mod telemetry; pub mod readiness;"),
        ("src/model.rs", "pub struct Game;"),
        ("src/readiness.rs", "pub struct Readiness;"),
        (
            "src/config/mod.rs",
            // a group with a nested path, reaching up to the hub and the app
            "pub mod cluster;\nuse crate::{model::Game, hub::{self, Hub}};\nuse std::fmt;\n\
             fn f() { let _ = \"crate::app::start\"; /* crate::app::x */ crate::app::start(); }\n\
             // use crate::app;\n",
        ),
        // `super::super` from a child, and a child module named by its own name
        ("src/config/cluster.rs", "pub mod deep;\nuse super::super::app::Running;\nfn g() { deep::f(); }\n"),
        ("src/config/cluster/deep.rs", "pub fn f() {}\n#[cfg(test)]\nmod tests { use crate::app::Running; }\n"),
        ("src/hub/mod.rs", "use crate::model::Game;\nuse crate::telemetry;\nuse crate::readiness::Readiness;\n"),
        ("src/app/mod.rs", "use crate::hub::Hub;\nuse crate::config::cluster;\n"),
        // a leaf that uses a layer
        ("src/telemetry.rs", "pub fn update(s: &crate::hub::Subscription) {}\nuse crate::readiness::Readiness;\n"),
    ];
    let files: Vec<SourceFile> = tree.iter().map(|(p, t)| SourceFile { path: p.to_string(), text: t.to_string() }).collect();
    let mut found: Vec<String> = violations(&files).iter().map(|v| format!("{} {} → {}", v.file, v.line, v.to_module.join("::"))).collect();
    found.sort();
    assert_eq!(
        found,
        [
            "src/config/cluster.rs 2 → app",
            "src/config/mod.rs 2 → hub",
            "src/config/mod.rs 4 → app",
            "src/telemetry.rs 1 → hub",
        ],
        "the nested group (hub), the inline call (app) and super::super (app) are found; strings, comments, \
         std, the child module and #[cfg(test)] code are not; leaves are usable from anywhere"
    );
    // A circle between modules of one layer.
    let circle = [
        ("src/feeds/mod.rs", "use crate::cluster::Leader;"),
        ("src/cluster/mod.rs", "use crate::feeds::Poller;"),
    ];
    let files: Vec<SourceFile> = circle.iter().map(|(p, t)| SourceFile { path: p.to_string(), text: t.to_string() }).collect();
    let found = violations(&files);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].to_string().contains("circle"), "{}", found[0]);
}

struct SourceFile {
    /// `src/…`, with `/` separators.
    path: String,
    text: String,
}

#[derive(Debug)]
struct Violation {
    file: String,
    line: usize,
    import: String,
    to_module: Vec<String>,
    why: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: `{}` ({})", self.file, self.line, self.import, self.why)
    }
}

fn read_tree(dir: &Path) -> Vec<SourceFile> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path: PathBuf = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let rel = path.strip_prefix(dir.parent().unwrap()).unwrap().to_string_lossy().replace('\\', "/");
                files.push(SourceFile { path: rel, text: std::fs::read_to_string(&path).unwrap() });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// `src/a/b.rs` and `src/a/b/mod.rs` → `["a", "b"]`; `src/lib.rs` and `src/main.rs` → `[]` and `["main"]`.
fn module_of(path: &str) -> Vec<String> {
    let inner = path.strip_prefix("src/").unwrap_or(path).strip_suffix(".rs").unwrap_or(path);
    let mut parts: Vec<String> = inner.split('/').map(String::from).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&top))
}

fn violations(files: &[SourceFile]) -> Vec<Violation> {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&f.path)).collect();
    let test_only: BTreeSet<Vec<String>> = files.iter().flat_map(|f| test_modules_declared(&module_of(&f.path), &f.text)).collect();
    let mut found = Vec::new();
    // Which top-level modules use which, for circles within a layer.
    let mut uses: BTreeMap<String, BTreeMap<String, (String, usize, String)>> = BTreeMap::new();
    for file in files {
        let here = module_of(&file.path);
        if here.is_empty() || test_only.iter().any(|t| here.starts_with(t)) {
            continue; // the crate root only declares modules; test files test
        }
        let from = here[0].clone();
        for (line, import) in imports(&code_of(&file.text)) {
            let Some(to_module) = resolve(&import, &here, &modules) else { continue };
            let Some(to) = to_module.first().cloned() else { continue };
            if to == from {
                continue;
            }
            let against = match (LEAVES.contains(&from.as_str()), LEAVES.contains(&to.as_str())) {
                (_, true) => None,
                (true, false) => Some(format!("the leaf `{from}` uses `{to}`; leaves use only leaves")),
                (false, false) => match (layer_of(&from), layer_of(&to)) {
                    (Some(a), Some(b)) if b <= a => None,
                    (Some(_), Some(_)) => Some(format!("`{from}` uses `{to}`, a layer above it")),
                    _ => Some(format!("`{from}` or `{to}` has no layer: add it to LAYERS")),
                },
            };
            match against {
                Some(_) if found.iter().any(|v: &Violation| v.file == file.path && v.line == line && v.to_module == to_module) => {}
                Some(why) => found.push(Violation { file: file.path.clone(), line, import, to_module, why }),
                None => {
                    uses.entry(from.clone()).or_default().entry(to.clone()).or_insert((file.path.clone(), line, import));
                }
            }
        }
    }
    found.extend(circles(&uses));
    found
}

/// Edges of the top-level graph that close a circle (both ends in one layer,
/// since every other edge points down).
fn circles(uses: &BTreeMap<String, BTreeMap<String, (String, usize, String)>>) -> Vec<Violation> {
    let reaches = |from: &str, target: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(m) = stack.pop() {
            if m == target {
                return true;
            }
            if seen.insert(m.clone()) {
                stack.extend(uses.get(&m).into_iter().flat_map(|u| u.keys().cloned()));
            }
        }
        false
    };
    let mut found = Vec::new();
    for (from, targets) in uses {
        for (to, (file, line, import)) in targets {
            // Report each circle once, at its edge from the greater name.
            if from > to && reaches(to, from) {
                let why = format!("`{from}` uses `{to}`, which uses `{from}` back: a circle");
                found.push(Violation { file: file.clone(), line: *line, import: import.clone(), to_module: vec![to.clone()], why });
            }
        }
    }
    found
}

/// Modules a file declares as `#[cfg(test)] mod name;` (their files are tests).
fn test_modules_declared(here: &[String], text: &str) -> Vec<Vec<String>> {
    let code = without_comments_and_literals(text);
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        rest = &rest[at + "#[cfg(test)]".len()..];
        let item = rest.trim_start();
        let item = item.strip_prefix("pub ").unwrap_or(item).trim_start();
        if let Some(after) = item.strip_prefix("mod ") {
            let name: String = after.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if after.trim_start()[name.len()..].trim_start().starts_with(';') {
                let mut m = here.to_vec();
                m.push(name);
                found.push(m);
            }
        }
    }
    found
}

/// The code of a file: comments, string and char literals blanked (newlines
/// kept, so lines still count), and `#[cfg(test)]` items blanked too.
fn code_of(text: &str) -> String {
    blank_test_blocks(without_comments_and_literals(text))
}

fn without_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, part: &[char]| out.extend(part.iter().map(|c| if *c == '\n' { '\n' } else { ' ' }));
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        let after_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let len = if rest.starts_with(&['/', '/']) {
            rest.iter().position(|c| *c == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            block_comment(rest)
        } else if let Some(len) = string_literal(rest, after_ident) {
            len
        } else if rest[0] == '\'' {
            // A char literal ('a', '\n', '\u{1F600}'), not a lifetime ('a).
            match rest.get(1) {
                Some('\\') => rest.iter().skip(3).position(|c| *c == '\'').map_or(0, |p| p + 4),
                _ if rest.get(2) == Some(&'\'') => 3,
                _ => 0,
            }
        } else {
            0
        };
        if len == 0 {
            out.push(rest[0]);
            i += 1;
        } else {
            blank(&mut out, &rest[..len]);
            i += len;
        }
    }
    out
}

/// The length of the (nested) block comment at the start of `rest`.
fn block_comment(rest: &[char]) -> usize {
    let (mut depth, mut j) = (1, 2);
    while j < rest.len() && depth > 0 {
        if rest[j..].starts_with(&['/', '*']) {
            depth += 1;
            j += 2;
        } else if rest[j..].starts_with(&['*', '/']) {
            depth -= 1;
            j += 2;
        } else {
            j += 1;
        }
    }
    j
}

/// The length of the string literal (`"…"`, `b"…"`, `r"…"`, `r#"…"#`, `br"…"`)
/// at the start of `rest`, if there is one. After an identifier's letter, `b`
/// and `r` are more of the identifier.
fn string_literal(rest: &[char], after_ident: bool) -> Option<usize> {
    let mut j = 0;
    if !after_ident && rest.first() == Some(&'b') && matches!(rest.get(1), Some('"' | 'r')) {
        j = 1;
    }
    if (j == 1 || !after_ident) && rest.get(j) == Some(&'r') {
        let hashes = rest[j + 1..].iter().take_while(|c| **c == '#').count();
        if rest.get(j + 1 + hashes) != Some(&'"') {
            return None;
        }
        let close: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
        let end = (j + 2 + hashes..rest.len()).find(|&k| rest[k..].starts_with(&close))?;
        return Some(end + close.len());
    }
    if rest.get(j) != Some(&'"') {
        return None;
    }
    let mut k = j + 1;
    while k < rest.len() && rest[k] != '"' {
        k += if rest[k] == '\\' { 2 } else { 1 };
    }
    Some(k + 1)
}

/// Blanks every `#[cfg(test)] mod name { … }` (test code may use any layer) and
/// `#[cfg(test)] use …;`.
fn blank_test_blocks(code: String) -> String {
    let mut chars: Vec<char> = code.chars().collect();
    let marker: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut i = 0;
    while i + marker.len() <= chars.len() {
        if chars[i..i + marker.len()] != marker[..] {
            i += 1;
            continue;
        }
        // The item after the attribute: up to its `;`, or its `{ … }` block.
        let mut j = i + marker.len();
        while j < chars.len() && chars[j] != '{' && chars[j] != ';' {
            j += 1;
        }
        if chars.get(j) == Some(&'{') {
            let mut depth = 0;
            while j < chars.len() {
                match chars[j] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        let end = (j + 1).min(chars.len());
        for c in &mut chars[i..end] {
            if *c != '\n' {
                *c = ' ';
            }
        }
        i = j + 1;
    }
    chars.into_iter().collect()
}

/// Every path in `code` that may name a module, with its line: each path of a
/// `use` tree (groups expanded), and each `a::b` path written in code.
fn imports(code: &str) -> Vec<(usize, String)> {
    let line_at = |pos: usize| code[..pos].matches('\n').count() + 1;
    let mut found = Vec::new();
    let mut masked = code.to_string();
    let mut search = 0;
    while let Some(at) = find_word(code, "use", search) {
        let Some(end) = code[at..].find(';').map(|e| at + e) else { break };
        for path in expand_use_tree(&code[at + 3..end]) {
            found.push((line_at(at), path));
        }
        masked.replace_range(at..end, &" ".repeat(end - at));
        search = end;
    }
    // Inline paths: `word::word…` not preceded by `::` (that is a tail).
    let bytes = masked.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if ident(bytes[i]) && (i == 0 || !(ident(bytes[i - 1]) || bytes[i - 1] == b':')) {
            let start = i;
            let mut j = i;
            loop {
                while j < bytes.len() && ident(bytes[j]) {
                    j += 1;
                }
                if masked[j..].starts_with("::") && masked[j + 2..].starts_with(|c: char| c.is_alphanumeric() || c == '_') {
                    j += 2;
                } else {
                    break;
                }
            }
            if masked[start..j].contains("::") {
                found.push((line_at(start), masked[start..j].to_string()));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

fn find_word(code: &str, word: &str, from: usize) -> Option<usize> {
    let mut search = from;
    while let Some(p) = code[search..].find(word).map(|p| p + search) {
        let before = code[..p].chars().next_back();
        let after = code[p + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !ident(before) && !ident(after) {
            return Some(p);
        }
        search = p + word.len();
    }
    None
}

/// `crate::{a, b::{c, d as e}}` → `crate::a`, `crate::b::c`, `crate::b::d`.
fn expand_use_tree(tree: &str) -> Vec<String> {
    // Renames dropped (`d as e` → `d`), then no whitespace left.
    let mut compact = String::new();
    let mut tokens = tree.split_whitespace();
    while let Some(token) = tokens.next() {
        if token == "as" {
            let alias = tokens.next().unwrap_or("");
            compact.push_str(alias.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_'));
        } else {
            compact.push_str(token);
        }
    }
    fn walk(tree: &[char], prefix: &str, out: &mut Vec<String>) -> usize {
        let mut current = String::new();
        let mut i = 0;
        while i < tree.len() {
            match tree[i] {
                '{' => {
                    let inner = format!("{prefix}{current}");
                    current.clear();
                    i += 1 + walk(&tree[i + 1..], &inner, out);
                    continue;
                }
                '}' | ',' => {
                    if !current.is_empty() {
                        out.push(format!("{prefix}{current}"));
                        current.clear();
                    }
                    if tree[i] == '}' {
                        return i + 1;
                    }
                }
                c => current.push(c),
            }
            i += 1;
        }
        if !current.is_empty() {
            out.push(format!("{prefix}{current}"));
        }
        i
    }
    let chars: Vec<char> = compact.trim_start_matches("::").chars().collect();
    let mut out = Vec::new();
    walk(&chars, "", &mut out);
    out
}

/// The module file `path`, written in module `here`, lands in; `None` when it
/// names no module of the crate (std, another crate, a local value).
fn resolve(path: &str, here: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut segments = path.split("::").map(str::trim).filter(|s| !s.is_empty() && *s != "*");
    let first = segments.next()?;
    let mut module: Vec<String> = match first {
        "crate" | "scoreticker" => Vec::new(),
        "self" => here.to_vec(),
        "super" => here[..here.len().checked_sub(1)?].to_vec(),
        name => {
            let mut child = here.to_vec();
            child.push(name.to_string());
            if !modules.contains(&child) {
                return None;
            }
            child
        }
    };
    for segment in segments {
        if segment == "super" {
            module.pop()?;
            continue;
        }
        let mut deeper = module.clone();
        deeper.push(segment.to_string());
        if modules.contains(&deeper) {
            module = deeper;
        } else {
            break;
        }
    }
    Some(module)
}
