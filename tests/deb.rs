//! The Debian package (`cargo deb`, configured in Cargo.toml's
//! `[package.metadata.deb]`): it builds from the binary this test run already
//! built (no release build), holds exactly the files it should, passes lintian
//! without errors, and, as root (CI), installs with `dpkg -i` enabled but not
//! started, passes `check-config` on the installed files, and leaves nothing
//! behind after `dpkg --purge`.
//!
//! Needs cargo-deb (`cargo install cargo-deb --locked --version 3.8.0`) and
//! Debian's `lintian`; tests/run-all.sh installs both when missing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e} (tests/run-all.sh installs it)"))
}

/// Builds the package from the debug binary `cargo test` just built: stripped
/// and lightly compressed, so it costs seconds, not a release build.
fn build_deb(dir: &Path) -> PathBuf {
    let deb = dir.join("scoreticker.deb");
    let out = Command::new(env!("CARGO"))
        .current_dir(repo())
        .args(["deb", "--no-build", "--profile", "dev", "--strip", "--fast", "--locked", "--offline", "-o"])
        .arg(&deb)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo deb failed (install cargo-deb with `cargo install cargo-deb --locked --version 3.8.0`):\n{}",
        text(&out)
    );
    deb
}

/// What `dpkg-deb` lists for the package: its files, and its control files.
fn files_of(deb: &Path) -> BTreeSet<String> {
    let out = run("dpkg-deb", &["--contents", deb.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| l.rsplit(' ').next().unwrap().trim_start_matches('.').to_string())
        .collect()
}

fn control_file(deb: &Path, name: &str) -> String {
    let out = run("dpkg-deb", &["--info", deb.to_str().unwrap(), name]);
    assert!(out.status.success(), "{name}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every path containing "scoreticker" under the directories a package touches.
fn traces() -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, found: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.to_string_lossy().contains("scoreticker") {
                found.insert(path.clone());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, found);
            }
        }
    }
    let mut found = BTreeSet::new();
    for root in ["/etc", "/usr/bin", "/usr/lib/systemd", "/lib/systemd", "/usr/share/doc", "/var/lib/systemd", "/var/lib/private", "/var/lib/scoreticker", "/var/lib/dpkg/info"] {
        walk(Path::new(root), &mut found);
    }
    found
}

/// `dpkg ARGS`, waiting out another package manager holding the dpkg lock.
fn dpkg(args: &[&str]) -> Output {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let out = run("dpkg", args);
        let locked = text(&out).contains("lock");
        if out.status.success() || !locked || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Processes running the installed binary (none may: the package does not start it).
fn running_installed_binary() -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path().join("exe")).is_ok_and(|exe| exe == Path::new("/usr/bin/scoreticker")))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_debian_package_builds_passes_lintian_installs_and_purges_cleanly() {
    // The packaged unit is the deploy unit with the package's paths: same hardening.
    let deploy_unit = read(&repo().join("deploy/scoreticker.service"));
    let body = &deploy_unit[deploy_unit.find("[Unit]").unwrap()..];
    let deb_unit = read(&repo().join("deploy/debian/scoreticker.service"));
    let (header, deb_body) = deb_unit.split_at(deb_unit.find("[Unit]").unwrap());
    assert!(header.lines().all(|l| l.is_empty() || l.starts_with('#')));
    assert_eq!(
        deb_body,
        body.replace("/usr/local/", "/usr/"),
        "deploy/debian/scoreticker.service has drifted from deploy/scoreticker.service; regenerate it as its header says"
    );
    let changelog = read(&repo().join("deploy/debian/changelog"));
    assert!(
        changelog.starts_with(&format!("scoreticker ({}-1) ", env!("CARGO_PKG_VERSION"))),
        "deploy/debian/changelog needs an entry for version {}",
        env!("CARGO_PKG_VERSION")
    );

    let dir = tempfile::tempdir().unwrap();
    let deb = build_deb(dir.path());

    let expected: BTreeSet<String> = [
        "/usr/bin/scoreticker",
        "/usr/lib/systemd/system/scoreticker.service",
        "/etc/scoreticker/scoreticker.toml",
        "/usr/share/doc/scoreticker/README.md",
        "/usr/share/doc/scoreticker/DEPLOY.md",
        "/usr/share/doc/scoreticker/copyright",
        "/usr/share/doc/scoreticker/changelog.Debian.gz",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(files_of(&deb), expected);
    assert_eq!(control_file(&deb, "conffiles").trim(), "/etc/scoreticker/scoreticker.toml");
    let postinst = control_file(&deb, "postinst");
    assert!(postinst.contains("deb-systemd-helper enable scoreticker.service"), "enabled on install:\n{postinst}");
    assert!(postinst.contains("deb-systemd-invoke try-restart scoreticker.service"), "restarted on upgrade:\n{postinst}");
    assert!(!postinst.contains("deb-systemd-invoke start"), "never started by the package:\n{postinst}");
    assert!(postinst.contains("mkdir -m 0755 /etc/scoreticker/feeds.d"));
    let copyright = control_file(&deb, "control");
    assert!(copyright.contains("Package: scoreticker"), "{copyright}");

    let lintian = run("lintian", &["--fail-on", "error", deb.to_str().unwrap()]);
    eprintln!("lintian:\n{}", text(&lintian));
    assert!(lintian.status.success(), "lintian reports errors:\n{}", text(&lintian));

    if run("id", &["-u"]).stdout != b"0\n" {
        eprintln!("not root: the dpkg -i / check-config / dpkg --purge part runs in CI (root) only");
        return;
    }
    let _ = dpkg(&["--purge", "scoreticker"]);
    let before = traces();

    let install = dpkg(&["-i", deb.to_str().unwrap()]);
    assert!(install.status.success(), "dpkg -i:\n{}", text(&install));
    assert!(Path::new("/etc/scoreticker/feeds.d").is_dir());
    assert_eq!(std::fs::read_dir("/etc/scoreticker/feeds.d").unwrap().count(), 0, "feeds.d ships empty");
    assert_eq!(read(Path::new("/etc/scoreticker/scoreticker.toml")), read(&repo().join("deploy/scoreticker.toml")));
    assert!(
        Path::new("/etc/systemd/system/multi-user.target.wants/scoreticker.service").symlink_metadata().is_ok(),
        "enabled: the unit is wanted by multi-user.target"
    );
    assert!(running_installed_binary().is_empty(), "the package must not start the service");
    let check = run("/usr/bin/scoreticker", &["check-config", "--config", "/etc/scoreticker/scoreticker.toml"]);
    assert!(check.status.success(), "check-config on the installed files:\n{}", text(&check));

    let purge = dpkg(&["--purge", "scoreticker"]);
    assert!(purge.status.success(), "dpkg --purge:\n{}", text(&purge));
    let after = traces();
    let left: Vec<_> = after.difference(&before).collect();
    assert!(left.is_empty(), "dpkg --purge left behind: {left:?}\n{}", text(&purge));
    assert!(!run("dpkg", &["-s", "scoreticker"]).status.success(), "dpkg still knows the package");
}
