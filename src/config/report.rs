//! How configuration problems are collected and reported: every one of them, as
//! `file:line: key: message`, so an operator fixes a broken config in one round.

use std::fmt;
use std::path::{Path, PathBuf};

use super::locate;

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub(super) struct FileCtx<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

#[derive(Default)]
pub(super) struct Report {
    pub(super) errors: Vec<ConfigError>,
}

impl Report {
    pub(super) fn push(&mut self, file: &Path, line: Option<usize>, key: &str, message: &str) {
        self.errors.push(ConfigError {
            file: file.to_path_buf(),
            line,
            key: key.to_string(),
            message: message.to_string(),
        });
    }

    /// A problem with a key, located by its path in the file.
    pub(super) fn at(&mut self, file: &FileCtx, key: &str, message: &str) {
        let line = locate::line_of_key(file.text, key);
        self.push(file.path, line, key, message);
    }
}

/// serde pass: syntax errors, unknown keys and wrong types, with their line and key.
pub(super) fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str, report: &mut Report) -> Option<T> {
    match toml::from_str::<T>(text) {
        Ok(v) => Some(v),
        Err(e) => {
            let message = e.message().trim().to_string();
            let (mut line, mut key) = match e.span() {
                Some(span) => (Some(locate::line_of_offset(text, span.start)), locate::key_at_offset(text, span.start)),
                None => (None, String::new()),
            };
            // A key missing from the top level is reported against the whole
            // document: there is no line to point at.
            if message.starts_with("missing field") && e.span().is_some_and(|s| s.start == 0) {
                line = None;
                key.clear();
            }
            // "unknown field `x`" and "missing field `x`" name the key themselves;
            // the span then points at the key (or its table), so refine the path.
            if let Some(field) = backticked(&message) {
                if message.starts_with("unknown field") || message.starts_with("missing field") {
                    let table = key.rsplit_once('.').map(|(t, _)| t.to_string());
                    key = match (message.starts_with("missing field"), table) {
                        (true, _) if key.is_empty() => field,
                        (true, _) => format!("{key}.{field}"),
                        (false, Some(t)) => format!("{t}.{field}"),
                        (false, None) => field,
                    };
                }
            }
            report.push(path, line, &key, &message);
            None
        }
    }
}

fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = message[start..].find('`')? + start;
    Some(message[start..end].to_string())
}

