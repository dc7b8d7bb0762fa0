//! `--sasl-jaas-config-file`: the credentials of a Kafka JAAS configuration.
//!
//! Two shapes are read, as Kafka writes them:
//!
//! - a `sasl.jaas.config` value: `org.apache.kafka.common.security.plain.PlainLoginModule
//!   required username="alice" password="secret";`
//! - a JAAS file with sections: `KafkaClient { ...LoginModule required username="..."
//!   password="..."; };`
//!
//! Whitespace and newlines may appear anywhere between tokens; `//` and `/* */` comments are
//! skipped; option values are double-quoted (with Java's backslash escapes) or bare words. The
//! login module must be Kafka's `PlainLoginModule` or `ScramLoginModule`. When the file holds
//! several login modules, the one in a `KafkaClient` section is used.
//!
//! No error message quotes a value or any text of the file, so a password cannot leak through
//! one; errors give line numbers instead.

use std::collections::HashMap;
use std::path::Path;

use super::Secret;

/// Which Kafka login module the JAAS configuration names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JaasModule {
    Plain,
    Scram,
}

impl JaasModule {
    pub fn class_name(self) -> &'static str {
        match self {
            JaasModule::Plain => "PlainLoginModule",
            JaasModule::Scram => "ScramLoginModule",
        }
    }
}

/// The login found in a JAAS configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JaasLogin {
    pub module: JaasModule,
    pub username: String,
    pub password: Secret,
}

/// Reads and parses a JAAS file. The error says why, without the path (the caller names it).
pub fn read_jaas_file(path: &Path) -> Result<JaasLogin, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let text = String::from_utf8(text).map_err(|_| "is not UTF-8 text".to_string())?;
    parse_jaas(&text)
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Symbol(char),
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl Lexer<'_> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next();
        if c == Some('\n') {
            self.line += 1;
        }
        c
    }

    /// The next token and the line it starts on, or `None` at the end.
    fn next_token(&mut self) -> Result<Option<(Token, usize)>, String> {
        loop {
            match self.chars.peek().copied() {
                None => return Ok(None),
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('/') => {
                    let line = self.line;
                    self.bump();
                    match self.bump() {
                        Some('/') => while !matches!(self.bump(), Some('\n') | None) {},
                        Some('*') => {
                            let mut star = false;
                            loop {
                                match self.bump() {
                                    None => {
                                        return Err(format!(
                                            "line {line}: a /* comment is never closed"
                                        ))
                                    }
                                    Some('/') if star => break,
                                    Some(c) => star = c == '*',
                                }
                            }
                        }
                        _ => return Err(format!("line {line}: unexpected '/'")),
                    }
                }
                Some('"') => {
                    let line = self.line;
                    self.bump();
                    let mut value = String::new();
                    loop {
                        match self.bump() {
                            None | Some('\n') => {
                                return Err(format!(
                                    "line {line}: a quoted value is not closed on its line"
                                ))
                            }
                            Some('"') => break,
                            Some('\\') => match self.bump() {
                                None | Some('\n') => {
                                    return Err(format!(
                                        "line {line}: a quoted value is not closed on its line"
                                    ))
                                }
                                Some('n') => value.push('\n'),
                                Some('t') => value.push('\t'),
                                Some('r') => value.push('\r'),
                                Some('b') => value.push('\u{8}'),
                                Some('f') => value.push('\u{c}'),
                                Some(c) => value.push(c),
                            },
                            Some(c) => value.push(c),
                        }
                    }
                    return Ok(Some((Token::Quoted(value), line)));
                }
                Some(c @ ('{' | '}' | ';' | '=')) => {
                    let line = self.line;
                    self.bump();
                    return Ok(Some((Token::Symbol(c), line)));
                }
                Some(c) if is_word_char(c) => {
                    let line = self.line;
                    let mut word = String::new();
                    while let Some(&c) = self.chars.peek() {
                        if !is_word_char(c) {
                            break;
                        }
                        word.push(c);
                        self.bump();
                    }
                    return Ok(Some((Token::Word(word), line)));
                }
                Some(_) => return Err(format!("line {}: unexpected character", self.line)),
            }
        }
    }
}

/// Characters of bare words: class names, flags, option names, unquoted values.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '$')
}

struct Entry {
    section: Option<String>,
    class: String,
    options: HashMap<String, String>,
}

/// Parses the text of a JAAS configuration.
pub fn parse_jaas(text: &str) -> Result<JaasLogin, String> {
    let mut lexer = Lexer {
        chars: text.chars().peekable(),
        line: 1,
    };
    let mut tokens = Vec::new();
    while let Some(t) = lexer.next_token()? {
        tokens.push(t);
    }
    let end_line = lexer.line;
    let mut tokens = tokens.into_iter().peekable();
    let mut entries = Vec::new();
    while let Some((token, line)) = tokens.next() {
        let Token::Word(word) = token else {
            return Err(format!(
                "line {line}: expected a login module class or a section name"
            ));
        };
        if matches!(tokens.peek(), Some((Token::Symbol('{'), _))) {
            tokens.next();
            loop {
                match tokens.next() {
                    Some((Token::Symbol('}'), _)) => break,
                    Some((Token::Word(class), _)) => {
                        entries.push(parse_entry(&mut tokens, Some(&word), class, end_line)?)
                    }
                    Some((_, line)) => {
                        return Err(format!(
                            "line {line}: expected a login module class or '}}'"
                        ))
                    }
                    None => return Err(format!("section {word} is not closed with '}}'")),
                }
            }
            if matches!(tokens.peek(), Some((Token::Symbol(';'), _))) {
                tokens.next();
            }
        } else {
            entries.push(parse_entry(&mut tokens, None, word, end_line)?);
        }
    }
    let entry = match entries.len() {
        0 => return Err("contains no login module".into()),
        1 => entries.pop().unwrap(),
        n => {
            let mut client: Vec<Entry> = entries
                .into_iter()
                .filter(|e| e.section.as_deref() == Some("KafkaClient"))
                .collect();
            if client.len() != 1 {
                return Err(format!(
                    "contains {n} login modules; expected one, or one in a KafkaClient section"
                ));
            }
            client.pop().unwrap()
        }
    };
    let simple = entry.class.rsplit('.').next().unwrap_or_default();
    let module = match simple {
        "PlainLoginModule" => JaasModule::Plain,
        "ScramLoginModule" => JaasModule::Scram,
        _ => {
            return Err(format!(
                "uses the login module {}, which is not supported (expected Kafka's \
                 PlainLoginModule or ScramLoginModule)",
                entry.class
            ))
        }
    };
    let mut options = entry.options;
    let username = options.remove("username").unwrap_or_default();
    let password = options.remove("password").unwrap_or_default();
    if username.is_empty() {
        return Err(format!("has no username for {}", module.class_name()));
    }
    if password.is_empty() {
        return Err(format!("has no password for {}", module.class_name()));
    }
    Ok(JaasLogin {
        module,
        username,
        password: Secret(password),
    })
}

/// After the class name: the control flag, `name=value` options, and `;`.
fn parse_entry(
    tokens: &mut std::iter::Peekable<std::vec::IntoIter<(Token, usize)>>,
    section: Option<&str>,
    class: String,
    end_line: usize,
) -> Result<Entry, String> {
    match tokens.next() {
        Some((Token::Word(flag), _))
            if ["required", "requisite", "sufficient", "optional"]
                .contains(&flag.to_ascii_lowercase().as_str()) => {}
        Some((_, line)) => {
            return Err(format!(
                "line {line}: expected required, requisite, sufficient or optional after {class}"
            ))
        }
        None => {
            return Err(format!(
                "line {end_line}: expected required, requisite, sufficient or optional after \
                 {class}"
            ))
        }
    }
    let mut options = HashMap::new();
    loop {
        match tokens.next() {
            Some((Token::Symbol(';'), _)) => break,
            Some((Token::Word(name), line)) => {
                match tokens.next() {
                    Some((Token::Symbol('='), _)) => {}
                    _ => return Err(format!("line {line}: expected '=' after the option {name}")),
                }
                let value = match tokens.next() {
                    Some((Token::Quoted(v) | Token::Word(v), _)) => v,
                    _ => return Err(format!("line {line}: the option {name} has no value")),
                };
                if options.insert(name.clone(), value).is_some() {
                    return Err(format!("line {line}: the option {name} is given twice"));
                }
            }
            Some((_, line)) => {
                return Err(format!("line {line}: expected an option name or ';'"));
            }
            None => {
                return Err(format!(
                    "the entry of {class} does not end with ';' (line {end_line})"
                ))
            }
        }
    }
    Ok(Entry {
        section: section.map(str::to_string),
        class,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(module: JaasModule, user: &str, pass: &str) -> JaasLogin {
        JaasLogin {
            module,
            username: user.into(),
            password: Secret(pass.into()),
        }
    }

    #[test]
    fn sasl_jaas_config_value() {
        assert_eq!(
            parse_jaas(
                "org.apache.kafka.common.security.plain.PlainLoginModule required \
                 username=\"alice\" password=\"alice-secret\";"
            ),
            Ok(login(JaasModule::Plain, "alice", "alice-secret"))
        );
        assert_eq!(
            parse_jaas(
                "org.apache.kafka.common.security.scram.ScramLoginModule required\n\
                 username=\"bob\"\npassword=\"p w;d=\\\"x\\\\\";\n"
            ),
            Ok(login(JaasModule::Scram, "bob", "p w;d=\"x\\"))
        );
    }

    #[test]
    fn whitespace_and_comments_anywhere() {
        let text = "// client login\n\
                    /* multi\n line */ org.apache.kafka.common.security.plain.PlainLoginModule\n\
                    \t required /* flag */\n\
                    username\n=\n\"u\" // trailing\n\
                    password   =\"p\"\n\
                    ;\n// end";
        assert_eq!(parse_jaas(text), Ok(login(JaasModule::Plain, "u", "p")));
        // A password may contain comment markers inside its quotes.
        assert_eq!(
            parse_jaas("x.PlainLoginModule required username=\"u\" password=\"a//b/*c*/\";"),
            Ok(login(JaasModule::Plain, "u", "a//b/*c*/"))
        );
    }

    #[test]
    fn jaas_file_with_sections() {
        let text = "KafkaServer {\n\
                      org.apache.kafka.common.security.plain.PlainLoginModule required\n\
                      username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\";\n\
                    };\n\
                    KafkaClient {\n\
                      org.apache.kafka.common.security.scram.ScramLoginModule required\n\
                      username=\"client\" password=\"client-secret\";\n\
                    };\n";
        assert_eq!(
            parse_jaas(text),
            Ok(login(JaasModule::Scram, "client", "client-secret"))
        );
        // One section, without the final ';'.
        assert_eq!(
            parse_jaas("Foo { a.PlainLoginModule optional username=u password=p; }"),
            Ok(login(JaasModule::Plain, "u", "p"))
        );
    }

    #[test]
    fn errors_never_quote_the_text() {
        let secret = "hunter2";
        for (text, want) in [
            ("", "contains no login module"),
            ("// nothing\n", "contains no login module"),
            (
                "a.PlainLoginModule required username=\"u\";",
                "has no password for PlainLoginModule",
            ),
            (
                "a.PlainLoginModule required password=\"hunter2\";",
                "has no username for PlainLoginModule",
            ),
            (
                "a.PlainLoginModule required username=\"u\" password=\"\";",
                "has no password for PlainLoginModule",
            ),
            (
                "a.PlainLoginModule required username=\"u\" password=\"hunter2\"",
                "does not end with ';'",
            ),
            (
                "a.PlainLoginModule required username=\"u\" password=\"hunter2;\n",
                "line 1: a quoted value is not closed on its line",
            ),
            (
                "a.PlainLoginModule username=\"u\" password=\"hunter2\";",
                "line 1: expected required, requisite, sufficient or optional",
            ),
            (
                "a.PlainLoginModule required username \"u\" password=\"hunter2\";",
                "expected '=' after the option username",
            ),
            (
                "a.PlainLoginModule required\nusername=\"u\" password=\"hunter2\" password=\"x\";",
                "line 2: the option password is given twice",
            ),
            (
                "com.sun.security.auth.module.Krb5LoginModule required username=\"u\" \
                 password=\"hunter2\";",
                "uses the login module com.sun.security.auth.module.Krb5LoginModule",
            ),
            (
                "a.PlainLoginModule required username=\"u\" password=\"hunter2\";\n\
                 b.PlainLoginModule required username=\"v\" password=\"hunter2\";",
                "contains 2 login modules",
            ),
            ("/* open\n hunter2", "line 1: a /* comment is never closed"),
            (
                "KafkaClient { a.PlainLoginModule required;",
                "is not closed",
            ),
            ("= hunter2", "line 1: expected a login module class"),
            (
                "a.PlainLoginModule required username=\"u\" password=hunter2 %;",
                "unexpected character",
            ),
        ] {
            let err = parse_jaas(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(!err.contains(secret), "{text:?}: {err}");
        }
    }

    #[test]
    fn reads_files() {
        let dir = std::env::temp_dir().join(format!("kafka-proxy-jaas-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("client.jaas");
        std::fs::write(
            &path,
            "x.ScramLoginModule required username=\"u\" password=\"p\";",
        )
        .unwrap();
        assert_eq!(
            read_jaas_file(&path),
            Ok(login(JaasModule::Scram, "u", "p"))
        );
        let err = read_jaas_file(&dir.join("missing.jaas")).unwrap_err();
        assert!(err.starts_with("cannot be read: "), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
