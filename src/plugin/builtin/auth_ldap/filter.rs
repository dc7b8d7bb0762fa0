//! RFC 4514 and RFC 4515 escaping of user names, and RFC 4515 search filters in their BER
//! encoding.

use super::ber;

/// RFC 4514 escaping of an attribute value in a DN: the special characters get a backslash,
/// leading `#` and spaces and a trailing space too, NUL becomes `\00`.
pub fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '\0' => out.push_str("\\00"),
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' | ' ' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == last => out.push_str("\\ "),
            c => out.push(c),
        }
    }
    out
}

/// RFC 4515 escaping of a value in a search filter: `*`, `(`, `)`, `\` and NUL as `\XX`.
pub fn escape_filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// Parses an RFC 4515 filter string into its BER encoding (RFC 4511 `Filter`).
pub fn parse_filter(text: &str) -> Result<Vec<u8>, String> {
    let mut p = FilterParser {
        s: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    let filter = p.filter()?;
    if p.at != p.s.len() {
        return Err(format!("unexpected text after the filter at byte {}", p.at));
    }
    Ok(filter)
}

struct FilterParser<'a> {
    s: &'a [u8],
    at: usize,
    depth: usize,
}

impl FilterParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", c as char, self.at))
        }
    }

    fn filter(&mut self) -> Result<Vec<u8>, String> {
        self.depth += 1;
        if self.depth > 32 {
            return Err("filter nested too deeply".into());
        }
        self.expect(b'(')?;
        let out = match self.peek() {
            Some(b'&') => self.set(0xa0)?,
            Some(b'|') => self.set(0xa1)?,
            Some(b'!') => {
                self.at += 1;
                ber::tlv(0xa2, &self.filter()?)
            }
            _ => self.item()?,
        };
        self.expect(b')')?;
        self.depth -= 1;
        Ok(out)
    }

    fn set(&mut self, tag: u8) -> Result<Vec<u8>, String> {
        self.at += 1;
        let mut body = Vec::new();
        while self.peek() == Some(b'(') {
            body.extend(self.filter()?);
        }
        if body.is_empty() {
            return Err(format!("empty & or | at byte {}", self.at));
        }
        Ok(ber::tlv(tag, &body))
    }

    fn item(&mut self) -> Result<Vec<u8>, String> {
        let start = self.at;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b';' {
                self.at += 1;
            } else {
                break;
            }
        }
        let attr = &self.s[start..self.at];
        if attr.is_empty() {
            return Err(format!("expected an attribute at byte {start}"));
        }
        let op = match (self.peek(), self.s.get(self.at + 1)) {
            (Some(b'='), _) => {
                self.at += 1;
                b'='
            }
            (Some(c @ (b'>' | b'<' | b'~')), Some(b'=')) => {
                self.at += 2;
                c
            }
            _ => return Err(format!("expected =, >=, <= or ~= at byte {}", self.at)),
        };
        // The raw value up to ')', split at unescaped '*'.
        let mut parts: Vec<Vec<u8>> = vec![Vec::new()];
        loop {
            match self.peek() {
                None => return Err("unterminated filter".into()),
                Some(b')') => break,
                Some(b'(') => return Err(format!("unescaped ( in a value at byte {}", self.at)),
                Some(b'*') => {
                    self.at += 1;
                    parts.push(Vec::new());
                }
                Some(b'\\') => {
                    let hex = self
                        .s
                        .get(self.at + 1..self.at + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or_else(|| format!("bad escape at byte {}", self.at))?;
                    self.at += 3;
                    if let Some(last) = parts.last_mut() {
                        last.push(hex);
                    }
                }
                Some(c) => {
                    self.at += 1;
                    if let Some(last) = parts.last_mut() {
                        last.push(c);
                    }
                }
            }
        }
        let ava = |tag: u8, value: &[u8]| {
            let mut body = ber::tlv(0x04, attr);
            body.extend(ber::tlv(0x04, value));
            ber::tlv(tag, &body)
        };
        Ok(match (op, parts.len()) {
            (b'=', 1) => ava(0xa3, &parts[0]),
            (b'>', 1) => ava(0xa5, &parts[0]),
            (b'<', 1) => ava(0xa6, &parts[0]),
            (b'~', 1) => ava(0xa8, &parts[0]),
            (b'=', 2) if parts[0].is_empty() && parts[1].is_empty() => ber::tlv(0x87, attr),
            (b'=', n) => {
                let mut subs = Vec::new();
                for (i, part) in parts.iter().enumerate() {
                    if part.is_empty() {
                        if i == 0 || i == n - 1 {
                            continue;
                        }
                        return Err("empty substring between two *".into());
                    }
                    let tag = match i {
                        0 => 0x80,
                        i if i == n - 1 => 0x82,
                        _ => 0x81,
                    };
                    subs.extend(ber::tlv(tag, part));
                }
                let mut body = ber::tlv(0x04, attr);
                body.extend(ber::tlv(0x30, &subs));
                ber::tlv(0xa4, &body)
            }
            _ => return Err("* is only allowed with =".into()),
        })
    }
}
