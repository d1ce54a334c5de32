//! Embeds the widget files (web/) and the demo replay (feeds/demo/) into the
//! binary, so the one executable serves everything with no files beside it.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let out = std::env::var("OUT_DIR").unwrap();
    println!("cargo:rerun-if-changed=web");
    println!("cargo:rerun-if-changed=feeds/demo");

    let mut web = String::from("pub static WEB_FILES: &[(&str, &[u8])] = &[\n");
    for path in files(&Path::new(&root).join("web"), &|p| {
        !p.ends_with("README.md") && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
    }) {
        let rel = path.strip_prefix(Path::new(&root).join("web")).unwrap().to_string_lossy().replace('\\', "/");
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(web, "    ({rel:?}, include_bytes!({:?})),", path.display().to_string()).unwrap();
    }
    web.push_str("];\n");
    std::fs::write(Path::new(&out).join("web_files.rs"), web).unwrap();

    let mut demo = String::from("pub static DEMO_RECORDINGS: &[(&str, &[u8])] = &[\n");
    for path in files(&Path::new(&root).join("feeds/demo/worldcup-2026"), &|p| p.extension().is_some_and(|e| e == "json")) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(demo, "    ({name:?}, include_bytes!({:?})),", path.display().to_string()).unwrap();
    }
    demo.push_str("];\n");
    std::fs::write(Path::new(&out).join("demo_recordings.rs"), demo).unwrap();
}

/// Files under `dir`, recursively, sorted; a missing directory is empty.
fn files(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            // web/src is the widget's source and build (web/ticker.js is its output): not served.
            if !path.ends_with("node_modules") && !path.ends_with("web/src") {
                found.extend(files(&path, keep));
            }
        } else if keep(&path) {
            found.push(path);
        }
    }
    found.sort();
    found
}
