//! The deployment files in `deploy/`: the systemd unit passes `systemd-analyze verify`
//! and rates at most 2.0 in `systemd-analyze security` (alone and with each shipped
//! drop-in), `deploy/install.sh` is idempotent and never overwrites an operator's
//! config, and the example config it installs passes `scoreticker check-config`.
//!
//! Needs Debian's `systemd` package (systemd-analyze; systemd need not be running)
//! and `shellcheck`: `apt-get install -y systemd shellcheck`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

const BIN: &str = env!("CARGO_BIN_EXE_scoreticker");
/// The path the unit and the drop-ins run the binary from.
const INSTALLED_BIN: &str = "/usr/local/bin/scoreticker";
const MAX_EXPOSURE: f64 = 2.0;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deploy(name: &str) -> PathBuf {
    repo().join("deploy").join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs `systemd-analyze ARGS`; a missing systemd-analyze is a failure that says what
/// to install, never a silent skip.
fn systemd_analyze(args: &[&str], unit_path: Option<&Path>) -> Output {
    let mut cmd = Command::new("systemd-analyze");
    cmd.args(args);
    if let Some(dir) = unit_path {
        // The trailing ':' appends the built-in search path (for network-online.target &c.).
        cmd.env("SYSTEMD_UNIT_PATH", format!("{}:", dir.display()));
    }
    match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "systemd-analyze not found: install Debian's `systemd` package \
             (apt-get install -y systemd; systemd need not be running) to check deploy/scoreticker.service"
        ),
        Err(e) => panic!("systemd-analyze: {e}"),
    }
}

/// The drop-ins shipped in deploy/drop-ins/, by file name.
fn dropins() -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(deploy("drop-ins")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "conf") {
            found.insert(path.file_name().unwrap().to_string_lossy().into_owned(), read(&path));
        }
    }
    assert!(!found.is_empty(), "no drop-ins in deploy/drop-ins/");
    found
}

/// A unit directory holding the unit (and optionally one drop-in) with the binary
/// path pointed at the freshly built binary: `verify` insists that it exists.
fn unit_dir(dropin: Option<(&str, &str)>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let unit = read(&deploy("scoreticker.service"));
    assert!(unit.contains(INSTALLED_BIN), "the unit no longer runs {INSTALLED_BIN}");
    std::fs::write(dir.path().join("scoreticker.service"), unit.replace(INSTALLED_BIN, BIN)).unwrap();
    if let Some((name, text)) = dropin {
        let d = dir.path().join("scoreticker.service.d");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join(name), text.replace(INSTALLED_BIN, BIN)).unwrap();
    }
    dir
}

/// `systemd-analyze verify` on the unit: it must exit 0 and say nothing at all about
/// it (an unknown key or a bad value is only a warning, with exit status 0).
fn verify(dir: &Path, what: &str) {
    let out = systemd_analyze(&["verify", "--man=no", "scoreticker.service"], Some(dir));
    let all = text(&out);
    let about_us: Vec<&str> = all.lines().filter(|l| l.contains("scoreticker")).collect();
    assert!(
        out.status.success() && about_us.is_empty(),
        "systemd-analyze verify {what}: {}\n{all}",
        out.status
    );
}

/// The "Overall exposure level" of `systemd-analyze security --offline=yes`.
fn exposure(dir: &Path, what: &str) -> f64 {
    let out = systemd_analyze(&["security", "--offline=yes", "--no-pager", "scoreticker.service"], Some(dir));
    let all = text(&out);
    let line = all
        .lines()
        .find(|l| l.contains("Overall exposure level for scoreticker.service"))
        .unwrap_or_else(|| panic!("no overall exposure level in systemd-analyze security {what}:\n{all}"));
    let number = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure level from {line:?}"));
    let exposed: Vec<&str> = all.lines().filter(|l| l.starts_with('✗')).collect();
    eprintln!("systemd-analyze security {what}: {number}\n{}", exposed.join("\n"));
    assert!(
        number <= MAX_EXPOSURE,
        "systemd-analyze security rates {what} {number} (> {MAX_EXPOSURE:.1}):\n{all}"
    );
    number
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    verify(unit_dir(None).path(), "deploy/scoreticker.service");
}

#[test]
fn the_unit_with_each_shipped_drop_in_passes_verify() {
    for (name, text) in dropins() {
        verify(unit_dir(Some((&name, &text))).path(), &format!("with drop-ins/{name}"));
    }
}

#[test]
fn the_unit_rates_at_most_2_0_in_systemd_analyze_security() {
    let level = exposure(unit_dir(None).path(), "deploy/scoreticker.service");
    // The remaining exposure is the network access the service exists for (upstream
    // feeds anywhere, clients from anywhere) and the host's root directory. Keep the
    // number docs/DEPLOY.md states up to date; it was measured with Debian 12's
    // systemd 252, and other versions weigh the checks differently.
    let version = text(&systemd_analyze(&["--version"], None));
    if version.starts_with("systemd 252 ") {
        let doc = read(&repo().join("docs/DEPLOY.md"));
        assert!(
            doc.contains(&format!("**{level:.1}**")),
            "docs/DEPLOY.md should state the measured exposure level **{level:.1}**"
        );
    }
}

#[test]
fn each_shipped_drop_in_keeps_the_rating_at_most_2_0() {
    for (name, text) in dropins() {
        exposure(unit_dir(Some((&name, &text))).path(), &format!("with drop-ins/{name}"));
    }
}

#[test]
fn the_unit_is_what_the_daemon_and_operators_rely_on() {
    let unit = read(&deploy("scoreticker.service"));
    let directives: Vec<&str> = unit.lines().map(str::trim).filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    for expected in [
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=30s",
        "ExecStart=/usr/local/bin/scoreticker serve --config /etc/scoreticker/scoreticker.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "DynamicUser=yes",
        "StateDirectory=scoreticker",
        "ConfigurationDirectory=scoreticker",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
    ] {
        assert!(directives.contains(&expected), "deploy/scoreticker.service lacks `{expected}`");
    }
    let nofile: u64 = directives
        .iter()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .expect("LimitNOFILE=")
        .parse()
        .expect("LimitNOFILE= a single number");
    assert!(nofile >= 65536, "LimitNOFILE={nofile}: too low for many thousands of sockets");
    // Upstream feeds can be anywhere: an IP allow list would break polling.
    assert!(!directives.iter().any(|l| l.starts_with("IPAddressDeny=")));
}

#[test]
fn install_script_is_shellcheck_clean() {
    let script = deploy("install.sh");
    let out = match Command::new("shellcheck").arg(&script).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("shellcheck not found: install Debian's `shellcheck` package (apt-get install -y shellcheck)")
        }
        Err(e) => panic!("shellcheck: {e}"),
    };
    assert!(out.status.success(), "shellcheck deploy/install.sh:\n{}", text(&out));
}

fn install(args: &[&str]) -> Output {
    let out = Command::new("bash").arg(deploy("install.sh")).args(args).output().expect("run deploy/install.sh");
    assert!(out.status.success(), "deploy/install.sh {args:?}: {}\n{}", out.status, text(&out));
    out
}

/// Every file under `root`, with its contents' length, mode and modification time.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u64, u32, SystemTime)> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
            }
            files.insert(
                path.strip_prefix(root).unwrap().to_path_buf(),
                (meta.len(), meta.permissions().mode() & 0o7777, meta.modified().unwrap()),
            );
        }
    }
    files
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

fn same_file(installed: &Path, source: &Path) {
    assert!(
        std::fs::read(installed).unwrap_or_else(|e| panic!("{}: {e}", installed.display()))
            == std::fs::read(source).unwrap(),
        "{} differs from {}",
        installed.display(),
        source.display()
    );
}

#[test]
fn install_script_installs_once_and_then_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let prefix = root.path().to_str().unwrap();

    // A dry run creates nothing.
    let staged = root.path().join("staged");
    let dry = install(&["--dry-run", "--prefix", staged.to_str().unwrap(), BIN]);
    assert!(!staged.exists(), "--dry-run created {}:\n{}", staged.display(), text(&dry));
    assert!(text(&dry).contains("install    "), "{}", text(&dry));

    let first = text(&install(&["--prefix", prefix, BIN]));
    let bin = root.path().join("usr/local/bin/scoreticker");
    let unit = root.path().join("usr/local/lib/systemd/system/scoreticker.service");
    let etc = root.path().join("etc/scoreticker");
    let config = etc.join("scoreticker.toml");
    let feed = etc.join("feeds.d/espn-nba.toml");
    same_file(&bin, Path::new(BIN));
    same_file(&unit, &deploy("scoreticker.service"));
    same_file(&config, &deploy("scoreticker.toml"));
    same_file(&feed, &deploy("feeds.d/espn-nba.toml"));
    same_file(&root.path().join("usr/local/share/doc/scoreticker/DEPLOY.md"), &repo().join("docs/DEPLOY.md"));
    for name in dropins().keys() {
        same_file(
            &root.path().join("usr/local/share/doc/scoreticker/drop-ins").join(name),
            &deploy("drop-ins").join(name),
        );
    }
    assert_eq!(mode(&bin), 0o755);
    assert_eq!(mode(&unit), 0o644);
    // The service's dynamic user (a UID picked at start) must be able to read its config.
    assert_eq!(mode(&etc), 0o755);
    assert_eq!(mode(&etc.join("feeds.d")), 0o755);
    assert_eq!(mode(&config), 0o644);
    assert_eq!(mode(&feed), 0o644);
    // Under --prefix, systemd is never touched; the next steps are printed.
    assert!(first.contains("systemctl enable --now scoreticker"), "{first}");
    assert!(!first.contains("run        systemctl"), "{first}");

    // Second run: nothing changes, not even a modification time.
    let before = snapshot(root.path());
    let second = text(&install(&["--prefix", prefix, BIN]));
    assert!(second.contains("0 change(s) made"), "second run changed something:\n{second}");
    assert_eq!(snapshot(root.path()), before, "second run touched files:\n{second}");

    // The operator edits the config, removes the example feed and adds their own; a
    // newer unit ships. A reinstall updates the unit and leaves /etc/scoreticker alone.
    let edited = format!("{}\n# edited by the operator\nlisten = \"[::]:8080\"\n", read(&config).replace("listen = \"127.0.0.1:8080\"\n", ""));
    std::fs::write(&config, &edited).unwrap();
    std::fs::remove_file(&feed).unwrap();
    let own_feed = etc.join("feeds.d/mine.toml");
    std::fs::write(&own_feed, read(&deploy("feeds.d/espn-nba.toml")).replace("espn-nba", "mine")).unwrap();
    std::fs::write(&unit, "# an older unit\n").unwrap();
    let third = text(&install(&["--prefix", prefix, BIN]));
    assert_eq!(read(&config), edited, "the operator's config was overwritten:\n{third}");
    assert!(!feed.exists(), "a deleted example feed came back:\n{third}");
    assert!(own_feed.exists());
    same_file(&unit, &deploy("scoreticker.service"));
    assert!(third.contains("1 change(s) made"), "{third}");

    // A missing binary is refused with a hint.
    let out = Command::new("bash")
        .arg(deploy("install.sh"))
        .args(["--prefix", prefix, "/nonexistent/scoreticker"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("cargo build --release"), "{}", text(&out));
}

fn check_config(config: &Path) -> Output {
    Command::new(BIN).args(["check-config", "--config"]).arg(config).output().unwrap()
}

#[test]
fn the_installed_example_config_passes_check_config() {
    let root = tempfile::tempdir().unwrap();
    install(&["--prefix", root.path().to_str().unwrap(), BIN]);
    let config = root.path().join("etc/scoreticker/scoreticker.toml");
    let out = check_config(&config);
    assert!(out.status.success(), "check-config on the installed example config:\n{}", text(&out));
    assert!(text(&out).contains("ok (1 feeds"), "{}", text(&out));
}

/// The example config shows every optional key commented out at its default (`#key =`).
/// With those lines switched on, it must still pass: the documented keys and values are
/// real. The [tls] section stays off: it names credential files that exist only in the
/// running service.
#[test]
fn every_documented_key_of_the_example_config_is_valid() {
    let example = read(&deploy("scoreticker.toml"));
    let mut section = String::new();
    let mut switched_on = 0;
    let mut lines = Vec::new();
    for line in example.lines() {
        let setting = line
            .strip_prefix('#')
            .filter(|rest| {
                let key = rest.split(" = ").next().unwrap_or("");
                rest.contains(" = ") && !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            });
        if let Some(header) = line.strip_prefix("#[").and_then(|rest| rest.strip_suffix(']')) {
            section = header.to_string();
            if section != "tls" {
                lines.push(format!("[{header}]"));
                continue;
            }
        } else if let Some(setting) = setting {
            if section != "tls" {
                switched_on += 1;
                lines.push(setting.to_string());
                continue;
            }
        }
        lines.push(line.to_string());
    }
    assert!(switched_on >= 15, "expected the example to document every key; switched on {switched_on}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("scoreticker.toml"), lines.join("\n")).unwrap();
    std::fs::create_dir(dir.path().join("feeds.d")).unwrap();
    std::fs::copy(deploy("feeds.d/espn-nba.toml"), dir.path().join("feeds.d/espn-nba.toml")).unwrap();
    let out = check_config(&dir.path().join("scoreticker.toml"));
    assert!(
        out.status.success(),
        "check-config on the example with every documented key switched on:\n{}\n---\n{}",
        text(&out),
        lines.join("\n")
    );
}

#[test]
fn the_packaged_example_feed_is_the_tested_one() {
    same_file(&deploy("feeds.d/espn-nba.toml"), &repo().join("feeds/examples/espn-nba.toml"));
}
