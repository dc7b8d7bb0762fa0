//! Just enough XML for STS answers: the text of the first `<Tag>...</Tag>`, entities decoded.
//! No DTDs, no nesting rules; input is capped by the HTTP reader (a peer-reachable parser,
//! fuzzed by `fuzz_aws_responses`).

/// The text of the first element named `tag`, or `None`.
pub fn text_of(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml.get(start..)?.find(&close)?;
    Some(unescape(xml.get(start..start + len)?.trim()))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_text() {
        let xml = "<A><Code>Bad &amp; worse</Code><B>x</B></A>";
        assert_eq!(text_of(xml, "Code").as_deref(), Some("Bad & worse"));
        assert_eq!(text_of(xml, "C"), None);
        assert_eq!(text_of("<Code>unclosed", "Code"), None);
    }
}
