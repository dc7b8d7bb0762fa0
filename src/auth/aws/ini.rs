//! The shared AWS config and credentials files: `[section]` headers and `key = value` lines
//! (`#`/`;` comments). In the config file a profile's section is `[profile NAME]` (or
//! `[default]`); in the credentials file it is `[NAME]`.

/// The `key = value` pairs of section `section` (exact, after trimming), keys lower-cased.
pub fn section(text: &str, section: &str) -> Option<Vec<(String, String)>> {
    let mut found = None;
    let mut current = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim() == section;
            if current && found.is_none() {
                found = Some(Vec::new());
            }
            continue;
        }
        if let (true, Some((k, v))) = (current, line.split_once('=')) {
            if let Some(pairs) = found.as_mut() {
                pairs.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }
    found
}

pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections() {
        let text = "[default]\nregion=eu-west-1\n# c\n[profile dev]\n region = us-east-2 \nx\n";
        let dev = section(text, "profile dev").unwrap();
        assert_eq!(get(&dev, "region"), Some("us-east-2"));
        assert_eq!(
            get(&section(text, "default").unwrap(), "region"),
            Some("eu-west-1")
        );
        assert!(section(text, "other").is_none());
    }
}
