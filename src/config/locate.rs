//! Finding the line of a key in a TOML file, so every config error can say
//! `file:line: key: problem` — what an operator needs to fix it without guessing.
//!
//! serde reports type errors with a byte span but no key path, and our own
//! validation knows the key path but not the line; these two helpers bridge
//! both ways with a plain scan of the text (tables, dotted keys, `key = value`).

/// The 1-based line of a byte offset.
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// The dotted key path written at a byte offset: the table header above it
/// plus the key on that line (`limits.heartbeat`).
pub fn key_at_offset(text: &str, offset: usize) -> String {
    let line_no = line_of_offset(text, offset);
    let mut table = String::new();
    let mut key = String::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(header) = table_header(trimmed) {
            table = header;
            key.clear();
        } else if let Some(k) = assigned_key(trimmed) {
            key = k;
        }
        if i + 1 == line_no {
            break;
        }
    }
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

/// The line where a dotted key path (`mapping.home.abbr`) is set, if it is.
/// Falls back to its table's header, then to the nearest enclosing table.
pub fn line_of_key(text: &str, path: &str) -> Option<usize> {
    let path = normalize_key(path);
    let path = path.as_str();
    let mut table = String::new();
    let mut header_lines: Vec<(String, usize)> = Vec::new();
    let mut array_tables: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(header) = table_header(trimmed) {
            // `[[a.b]]` entries are `a.b.0`, `a.b.1`, … in key paths.
            table = if trimmed.starts_with("[[") {
                let index = array_tables.entry(header.clone()).or_insert(0);
                *index += 1;
                format!("{header}.{}", *index - 1)
            } else {
                header
            };
            header_lines.push((table.clone(), i + 1));
        } else if let Some(k) = assigned_key(trimmed) {
            let full = if table.is_empty() { k } else { format!("{table}.{k}") };
            if full == path {
                return Some(i + 1);
            }
        }
    }
    let mut prefix = path.to_string();
    loop {
        if let Some((_, line)) = header_lines.iter().find(|(t, _)| *t == prefix) {
            return Some(*line);
        }
        match prefix.rfind('.') {
            Some(dot) => prefix.truncate(dot),
            None => return None,
        }
    }
}

fn table_header(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    Some(normalize_key(&inner[..end]))
}

fn assigned_key(line: &str) -> Option<String> {
    if line.starts_with('#') {
        return None;
    }
    let eq = line.find('=')?;
    let key = line[..eq].trim();
    if key.is_empty() {
        return None;
    }
    Some(normalize_key(key))
}

/// `"a" . b` → `a.b`: quotes and spaces around dots do not change a key.
fn normalize_key(key: &str) -> String {
    key.split('.')
        .map(|part| part.trim().trim_matches('"').trim_matches('\''))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "id = \"x\"\nschedule = \"5s\"\n\n[mapping]\ngames = \"/g\"\n[mapping.home]\nabbr = \"/a\"\n[mapping.states]\n\"7\" = \"odd\"\n";

    #[test]
    fn finds_keys_in_tables() {
        assert_eq!(line_of_key(TEXT, "schedule"), Some(2));
        assert_eq!(line_of_key(TEXT, "mapping.games"), Some(5));
        assert_eq!(line_of_key(TEXT, "mapping.home.abbr"), Some(7));
        assert_eq!(line_of_key(TEXT, "mapping.states.7"), Some(9));
        assert_eq!(line_of_key(TEXT, "mapping.states.\"7\""), Some(9));
        // A missing key points at its table.
        assert_eq!(line_of_key(TEXT, "mapping.home.name"), Some(6));
        assert_eq!(line_of_key(TEXT, "nothing"), None);
    }

    #[test]
    fn finds_keys_in_arrays_of_tables_by_index() {
        let text = "[mapping]\nid = \"/i\"\n[[mapping.state_rules]]\nstate = \"a\"\n[[mapping.state_rules]]\nwhen = {}\nstate = \"b\"\n";
        assert_eq!(line_of_key(text, "mapping.state_rules.0.state"), Some(4));
        assert_eq!(line_of_key(text, "mapping.state_rules.1.state"), Some(7));
        assert_eq!(line_of_key(text, "mapping.state_rules.1.when"), Some(6));
        // A key the entry lacks points at the entry's header.
        assert_eq!(line_of_key(text, "mapping.state_rules.0.when"), Some(3));
    }

    #[test]
    fn names_the_key_at_an_offset() {
        let offset = TEXT.find("\"/a\"").unwrap();
        assert_eq!(key_at_offset(TEXT, offset), "mapping.home.abbr");
        assert_eq!(line_of_offset(TEXT, offset), 7);
        assert_eq!(key_at_offset(TEXT, 2), "id");
    }
}
