//! Logging to standard error through the `log` facade and `env_logger`, in one of two formats:
//!
//! - text: `2026-11-27T18:00:00.123Z INFO  message`, for people;
//! - json: one object per line, `{"@timestamp":"…","@level":"info","@message":"…"}`, with the
//!   key names grepplabs/kafka-proxy uses by default (`--log-time-fieldname`,
//!   `--log-level-fieldname`, `--log-msg-fieldname` rename them), for log collectors.
//!
//! The level comes from `--log-level` only; `RUST_LOG` is not read. The JSON is written by
//! hand: three string fields need no library, and [`write_json_string`] is tested below.

use std::io::{self, Write};

use log::{Level, LevelFilter};

/// `--log-format`: text lines for people, or JSON objects for log collectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The keys of the JSON format's three fields (`--log-time-fieldname`, `--log-level-fieldname`,
/// `--log-msg-fieldname`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonFields {
    pub time: String,
    pub level: String,
    pub message: String,
}

/// The longest key a field may be given: a key is a name, not a payload.
pub const FIELD_NAME_MAX: usize = 64;

impl Default for JsonFields {
    /// grepplabs' (logrus with its field map) keys.
    fn default() -> Self {
        JsonFields {
            time: "@timestamp".into(),
            level: "@level".into(),
            message: "@message".into(),
        }
    }
}

impl JsonFields {
    /// Why these keys cannot be used together: two fields with one key would make every line
    /// an object with a duplicate key, which collectors read differently.
    pub fn conflict(&self) -> Option<String> {
        let pairs = [
            ("time", &self.time, "level", &self.level),
            ("time", &self.time, "message", &self.message),
            ("level", &self.level, "message", &self.message),
        ];
        pairs
            .iter()
            .find(|(_, a, _, b)| a == b)
            .map(|(x, a, y, _)| {
                format!("the {x} and {y} fields of JSON logs have the same name {a:?}")
            })
    }
}

/// The most characters of one peer string (a SASL mechanism, a user name, a broker's or an LDAP
/// server's error text, a plugin's log line) that reach a log line or an error message.
pub const PEER_TEXT_MAX: usize = 512;

/// The most characters of one log message; the rest is cut, as a last guard for a peer string
/// that reached a message without [`peer_text`].
pub const MESSAGE_MAX: usize = 16 * 1024;

/// A peer's text made safe for a log line, the one helper every site that logs (or puts into an
/// error) text a peer chose uses: characters that could forge or hide a line (controls such as
/// a newline or an escape, line separators, bidirectional overrides) escaped as `\n` or
/// `\u{1b}`, and at most [`PEER_TEXT_MAX`] characters, a cut marked with `…`.
pub fn peer_text(text: &str) -> String {
    escape_cut(text, PEER_TEXT_MAX)
}

/// [`peer_text`] for bytes that should be UTF-8 (invalid sequences become U+FFFD).
pub fn peer_bytes(bytes: &[u8]) -> String {
    // Only what can be shown is decoded: 4 bytes per character at most.
    let cut = &bytes[..bytes.len().min(4 * PEER_TEXT_MAX + 4)];
    let text = String::from_utf8_lossy(cut);
    let mut out = peer_text(&text);
    if cut.len() < bytes.len() && !out.ends_with('…') {
        out.push('…');
    }
    out
}

/// Whether a character must not reach a log line as it is.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{feff}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn escape_cut(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 8);
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A whole log message as the text format writes it: one line (anything [`peer_text`] escapes
/// is escaped here too) of at most [`MESSAGE_MAX`] characters. Messages the proxy writes are
/// returned as they are.
pub fn one_line(message: &str) -> std::borrow::Cow<'_, str> {
    if message.chars().any(needs_escape) || message.len() > MESSAGE_MAX {
        std::borrow::Cow::Owned(escape_cut(message, MESSAGE_MAX))
    } else {
        std::borrow::Cow::Borrowed(message)
    }
}

/// Installs the logger. Call once, before the first log line; a second call is an error.
pub fn init(
    format: LogFormat,
    fields: JsonFields,
    level: LevelFilter,
) -> Result<(), log::SetLoggerError> {
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(level)
        .target(env_logger::Target::Stderr)
        .format(move |buf, record| {
            let timestamp = buf.timestamp_millis().to_string();
            let message = record.args().to_string();
            match format {
                LogFormat::Text => write_text_line(buf, &timestamp, record.level(), &message),
                LogFormat::Json => {
                    write_json_line(buf, &fields, &timestamp, record.level(), &message)
                }
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
    writeln!(
        out,
        "{timestamp} {:<5} {}",
        level.as_str(),
        one_line(message)
    )
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

/// One JSON object on one line: the time, the level and the message, under `fields`' keys.
pub fn write_json_line(
    out: &mut dyn Write,
    fields: &JsonFields,
    timestamp: &str,
    level: Level,
    message: &str,
) -> io::Result<()> {
    // Build the line first so it reaches the stream in one write.
    let message = cut(message, MESSAGE_MAX);
    let mut line = String::with_capacity(message.len() + 80);
    let values = [
        (&fields.time, timestamp),
        (&fields.level, json_level(level)),
        (&fields.message, &message),
    ];
    for (n, (key, value)) in values.into_iter().enumerate() {
        line.push(if n == 0 { '{' } else { ',' });
        write_json_string(&mut line, key);
        line.push(':');
        write_json_string(&mut line, value);
    }
    line.push_str("}\n");
    out.write_all(line.as_bytes())
}

/// The first `max` characters of `text`, a cut marked with `…`.
fn cut(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(text),
        Some((at, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..at])),
    }
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
            &JsonFields::default(),
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
            write_json_line(&mut out, &JsonFields::default(), "t", level, "m").unwrap();
            let line = String::from_utf8(out).unwrap();
            assert!(line.contains(&format!("\"@level\":\"{name}\"")), "{line}");
            assert_eq!(line.matches('\n').count(), 1);
        }
    }

    #[test]
    fn json_field_names() {
        let fields = JsonFields {
            time: "ts".into(),
            level: "severity".into(),
            message: "msg \"quoted\"".into(),
        };
        let mut out = Vec::new();
        write_json_line(&mut out, &fields, "t", Level::Error, "m").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"ts\":\"t\",\"severity\":\"error\",\"msg \\\"quoted\\\"\":\"m\"}\n"
        );
        assert_eq!(fields.conflict(), None);
        assert_eq!(JsonFields::default().conflict(), None);
        let same = JsonFields {
            message: "ts".into(),
            ..fields
        };
        assert_eq!(
            same.conflict().as_deref(),
            Some("the time and message fields of JSON logs have the same name \"ts\"")
        );
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

    #[test]
    fn peer_text_escapes_and_cuts() {
        assert_eq!(peer_text("PLAIN"), "PLAIN");
        assert_eq!(peer_text("tenant/ä 1"), "tenant/ä 1");
        // A newline, a carriage return and an escape sequence cannot start or rewrite a line.
        assert_eq!(
            peer_text("x\n2026-12-02T00:00:00Z INFO  forged\r\u{1b}[2K"),
            "x\\n2026-12-02T00:00:00Z INFO  forged\\r\\u{1b}[2K"
        );
        // Line separators and bidirectional overrides are escaped too.
        assert_eq!(peer_text("a\u{2028}b\u{202e}c"), "a\\u{2028}b\\u{202e}c");
        let long = "M".repeat(64 * 1024);
        let shown = peer_text(&long);
        assert_eq!(shown.chars().count(), PEER_TEXT_MAX + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(
            peer_text(&"M".repeat(PEER_TEXT_MAX)),
            "M".repeat(PEER_TEXT_MAX)
        );
    }

    #[test]
    fn peer_bytes_decodes_lossily_and_cuts_before_decoding() {
        assert_eq!(peer_bytes(b"alice"), "alice");
        assert_eq!(peer_bytes(b"a\xffb\n"), "a\u{fffd}b\\n");
        let shown = peer_bytes(&vec![b'u'; 1 << 20]);
        assert_eq!(shown.chars().count(), PEER_TEXT_MAX + 1);
        assert!(shown.ends_with('…'));
        // Invalid bytes past what is shown still mark the cut.
        let mut bytes = vec![0xff; 4 * PEER_TEXT_MAX + 4];
        bytes.push(b'x');
        assert!(peer_bytes(&bytes).ends_with('…'));
    }

    #[test]
    fn messages_stay_one_bounded_line() {
        let mut out = Vec::new();
        write_text_line(&mut out, "t", Level::Warn, "a\nt INFO  forged").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "t WARN  a\\nt INFO  forged\n"
        );
        let huge = "y".repeat(MESSAGE_MAX * 2);
        for json in [false, true] {
            let mut out = Vec::new();
            if json {
                write_json_line(&mut out, &JsonFields::default(), "t", Level::Info, &huge).unwrap();
            } else {
                write_text_line(&mut out, "t", Level::Info, &huge).unwrap();
            }
            let line = String::from_utf8(out).unwrap();
            assert_eq!(line.matches('\n').count(), 1);
            assert!(line.len() < MESSAGE_MAX + 100, "{}", line.len());
            assert!(line.contains('…'));
        }
        assert!(matches!(
            one_line("ready"),
            std::borrow::Cow::Borrowed("ready")
        ));
    }
}
