//! `auth-user`: a single static user (`--username`, and `--password-file` or `--password`) for
//! `check-password`. `--password-file` keeps the password off the command line, where every
//! local user could read it; `--password` is still accepted, with a warning.
//!
//! Both the username and the password are compared in constant time: each side is hashed with
//! SHA-256 first, so neither the content nor the length of the secret shows in the timing.

use super::{PluginExit, PluginFlags, AUTH_USER};
use crate::config::plugin_flags::AUTH_USER_PLUGIN;
use crate::plugin::{serve, Reply, Request};
use ring::digest;
use std::ffi::OsString;
use std::io::{Read, Write};

pub fn run(args: Vec<OsString>, input: impl Read, output: impl Write) -> Result<(), PluginExit> {
    let flags = PluginFlags::parse(&AUTH_USER_PLUGIN, args)?;
    let username = flags.required("username")?.to_string();
    let password = match flags.secret("password")? {
        Some(password) if !password.is_empty() => password,
        Some(_) => {
            return Err(PluginExit::Usage(format!(
                "plugin {AUTH_USER}: the password is empty"
            )))
        }
        None => {
            return Err(PluginExit::Usage(format!(
                "plugin {AUTH_USER}: --password-file (or --password) is required"
            )))
        }
    };
    let user = StaticUser { username, password };
    serve(input, output, |request| user.handle(request))
        .map_err(|e| PluginExit::Failed(format!("plugin {AUTH_USER}: {e}")))
}

struct StaticUser {
    username: String,
    password: String,
}

impl StaticUser {
    fn handle(&self, request: Request) -> Reply {
        match request {
            Request::CheckPassword {
                username, password, ..
            } => {
                // Evaluate both comparisons, always.
                let user_ok = equal_in_constant_time(username.as_bytes(), self.username.as_bytes());
                let password_ok =
                    equal_in_constant_time(password.as_bytes(), self.password.as_bytes());
                if user_ok & password_ok {
                    Reply::yes(username)
                } else {
                    Reply::no("invalid username or password")
                }
            }
            other => Reply::no(format!(
                "{AUTH_USER} answers check-password only, not {other:?}"
            )),
        }
    }
}

/// Whether `a == b`, in time independent of their contents and lengths.
pub fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    let da = digest::digest(&digest::SHA256, a);
    let db = digest::digest(&digest::SHA256, b);
    let diff = da
        .as_ref()
        .iter()
        .zip(db.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::parse_reply;

    fn ask(args: &[&str], input: &str) -> Result<Vec<Reply>, PluginExit> {
        let mut out = Vec::new();
        run(
            args.iter().map(OsString::from).collect(),
            input.as_bytes(),
            &mut out,
        )?;
        Ok(out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| parse_reply(l).unwrap().1)
            .collect())
    }

    #[test]
    fn checks_the_one_user() {
        let input = concat!(
            r#"{"id":1,"method":"check-password","username":"alice","password":"pw"}"#,
            "\n",
            r#"{"id":2,"method":"check-password","username":"alice","password":"pw2"}"#,
            "\n",
            r#"{"id":3,"method":"check-password","username":"bob","password":"pw"}"#,
            "\n",
            r#"{"id":4,"method":"get-token"}"#,
            "\n"
        );
        let replies = ask(&["--username", "alice", "--password", "pw"], input).unwrap();
        assert_eq!(replies[0], Reply::yes("alice"));
        assert!(!replies[1].ok && !replies[2].ok && !replies[3].ok);
    }

    #[test]
    fn flags_are_required() {
        assert!(matches!(
            ask(&["--username", "alice"], ""),
            Err(PluginExit::Usage(_))
        ));
        assert!(matches!(
            ask(&["--username", "", "--password", "x"], ""),
            Err(PluginExit::Usage(_))
        ));
    }

    #[test]
    fn password_from_a_file() {
        let dir = std::env::temp_dir().join(format!("auth-user-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pw");
        std::fs::write(&path, "two words\n").unwrap();
        let path = path.display().to_string();
        let input = concat!(
            r#"{"id":1,"method":"check-password","username":"alice","password":"two words"}"#,
            "\n",
            r#"{"id":2,"method":"check-password","username":"alice","password":"two words\n"}"#,
            "\n",
        );
        let replies = ask(&["--username", "alice", "--password-file", &path], input).unwrap();
        assert_eq!(replies[0], Reply::yes("alice"));
        assert!(!replies[1].ok);
        // An empty file, a missing one, and both forms at once are usage errors.
        let empty = dir.join("empty");
        std::fs::write(&empty, "\n").unwrap();
        for args in [
            vec![
                "--username",
                "alice",
                "--password-file",
                empty.to_str().unwrap(),
            ],
            vec!["--username", "alice", "--password-file", "/nonexistent/pw"],
            vec![
                "--username",
                "alice",
                "--password-file",
                &path,
                "--password",
                "x",
            ],
        ] {
            assert!(
                matches!(ask(&args, ""), Err(PluginExit::Usage(_))),
                "{args:?}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn constant_time_compare() {
        assert!(equal_in_constant_time(b"abc", b"abc"));
        assert!(!equal_in_constant_time(b"abc", b"abd"));
        assert!(!equal_in_constant_time(b"abc", b"abcd"));
        assert!(equal_in_constant_time(b"", b""));
    }
}
