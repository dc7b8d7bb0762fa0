//! Logging to standard error through the `log` facade and `env_logger`, in one of two formats:
//!
//! - text: `2026-11-27T18:00:00.123Z INFO  message`, for people;
//! - json: one object per line, `{"@timestamp":"…","@level":"info","@message":"…"}`, with the
//!   key names grepplabs/kafka-proxy uses, for log collectors.
//!
//! The level comes from `--log-level` only; `RUST_LOG` is not read. The JSON is written by
//! hand: three string fields need no library, and [`write_json_string`] is tested below.

use std::io::{self, Write};

use log::{Level, LevelFilter};

use crate::config::LogFormat;

/// A peer's text made safe for one log line: control characters (a newline could forge a line)
/// shown as `?`, and at most `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(max)
        .collect()
}

/// Installs the logger. Call once, before the first log line; a second call is an error.
pub fn init(format: LogFormat, level: LevelFilter) -> Result<(), log::SetLoggerError> {
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(level)
        .target(env_logger::Target::Stderr)
        .format(move |buf, record| {
            let timestamp = buf.timestamp_millis().to_string();
            let message = record.args().to_string();
            match format {
                LogFormat::Text => write_text_line(buf, &timestamp, record.level(), &message),
                LogFormat::Json => write_json_line(buf, &timestamp, record.level(), &message),
            }
        });
    builder.try_init()
}

/// `TIMESTAMP LEVEL message`, the level padded to five columns so messages line up.
pub fn write_text_line(
    out: &mut dyn Write,
    timestamp: &str,
    level: Level,
    message: &str,
) -> io::Result<()> {
    writeln!(out, "{timestamp} {:<5} {message}", level.as_str())
}

/// The level names of grepplabs' (logrus) JSON output.
fn json_level(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// One JSON object on one line: `@timestamp`, `@level`, `@message`.
pub fn write_json_line(
    out: &mut dyn Write,
    timestamp: &str,
    level: Level,
    message: &str,
) -> io::Result<()> {
    // Build the line first so it reaches the stream in one write.
    let mut line = String::with_capacity(message.len() + 80);
    line.push_str("{\"@timestamp\":");
    write_json_string(&mut line, timestamp);
    line.push_str(",\"@level\":");
    write_json_string(&mut line, json_level(level));
    line.push_str(",\"@message\":");
    write_json_string(&mut line, message);
    line.push_str("}\n");
    out.write_all(line.as_bytes())
}

/// Appends `s` as a JSON string literal (RFC 8259): quotes, backslashes and control
/// characters escaped, everything else (including non-ASCII) as UTF-8. U+2028 and U+2029 are
/// escaped too, so the line is also valid JavaScript.
pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> String {
        let mut out = String::new();
        write_json_string(&mut out, s);
        out
    }

    #[test]
    fn json_string_escaping() {
        assert_eq!(json(""), r#""""#);
        assert_eq!(json("plain text"), r#""plain text""#);
        assert_eq!(json(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(json(r"C:\dir"), r#""C:\\dir""#);
        assert_eq!(json("a\nb\r\tc"), r#""a\nb\r\tc""#);
        assert_eq!(json("\u{08}\u{0c}"), r#""\b\f""#);
        assert_eq!(
            json("\u{0}\u{1}\u{1f}\u{7f}"),
            r#""\u0000\u0001\u001f\u007f""#
        );
        assert_eq!(json("\u{2028}\u{2029}"), r#""\u2028\u2029""#);
        assert_eq!(json("héllo µs 日本 🦀"), "\"héllo µs 日本 🦀\"");
        assert_eq!(json("</script>"), r#""</script>""#);
    }

    #[test]
    fn json_lines() {
        let mut out = Vec::new();
        write_json_line(
            &mut out,
            "2026-11-27T18:00:00.123Z",
            Level::Warn,
            "broker \"b1\" gone\nretrying",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"@timestamp\":\"2026-11-27T18:00:00.123Z\",\"@level\":\"warning\",\
             \"@message\":\"broker \\\"b1\\\" gone\\nretrying\"}\n"
        );
        for (level, name) in [
            (Level::Error, "error"),
            (Level::Info, "info"),
            (Level::Debug, "debug"),
            (Level::Trace, "trace"),
        ] {
            let mut out = Vec::new();
            write_json_line(&mut out, "t", level, "m").unwrap();
            let line = String::from_utf8(out).unwrap();
            assert!(line.contains(&format!("\"@level\":\"{name}\"")), "{line}");
            assert_eq!(line.matches('\n').count(), 1);
        }
    }

    #[test]
    fn text_lines() {
        let mut out = Vec::new();
        write_text_line(&mut out, "2026-11-27T18:00:00.123Z", Level::Info, "ready").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-11-27T18:00:00.123Z INFO  ready\n"
        );
        let mut out = Vec::new();
        write_text_line(&mut out, "t", Level::Error, "bad").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "t ERROR bad\n");
    }
}
