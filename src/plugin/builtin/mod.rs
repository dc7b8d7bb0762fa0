//! The built-in plugins, run as `kafka-proxy plugin NAME [FLAGS]`: each reads its flags, then
//! speaks the plugin protocol ([`super::serve`]) on standard input and output until the proxy
//! closes its input. Diagnostics go to standard error, which the proxy logs; never a password
//! or a token.

#[cfg(feature = "ldap")]
pub mod auth_ldap;
pub mod auth_user;
#[cfg(feature = "google-id")]
pub mod google_id;

use std::ffi::OsString;

pub const AUTH_USER: &str = "auth-user";
pub const AUTH_LDAP: &str = "auth-ldap";
pub const GOOGLE_ID_PROVIDER: &str = "google-id-provider";
pub const GOOGLE_ID_INFO: &str = "google-id-info";

/// Every built-in plugin of the full build with the cargo feature it needs (`None`: always
/// built), so that a build without one can say why it is missing rather than take the name for
/// a path.
pub const ALL: &[(&str, Option<&str>)] = &[
    (AUTH_USER, None),
    (AUTH_LDAP, Some("ldap")),
    (GOOGLE_ID_PROVIDER, Some("google-id")),
    (GOOGLE_ID_INFO, Some("google-id")),
];

/// The cargo feature that built-in plugin `name` needs when this build was made without it;
/// `None` for a plugin that is built in and for a name that is no built-in plugin.
pub fn missing_feature(name: &str) -> Option<&'static str> {
    ALL.iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, feature)| *feature)
        .filter(|_| !super::BUILTIN_PLUGINS.contains(&name))
}

/// Why built-in plugin `name` cannot run here, when it is one of [`ALL`] left out of this build.
pub fn not_built(name: &str) -> Option<String> {
    missing_feature(name).map(|feature| {
        format!(
            "built-in plugin {name} is not in this build (built without the `{feature}` feature; \
             build with `cargo build --release --features {feature}`, or give the path of a \
             plugin program)"
        )
    })
}

/// A sentence for `kafka-proxy plugin --help` naming the built-in plugins left out of this
/// build; `None` in a full build.
pub fn missing_note() -> Option<String> {
    let missing: Vec<String> = ALL
        .iter()
        .filter_map(|(name, _)| missing_feature(name).map(|f| format!("{name} (`{f}` feature)")))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "Not in this build, which was made without their cargo features: {}.",
            missing.join(", ")
        )
    })
}

/// Runs built-in plugin `name` with its flags. `Err` is a message for standard error (exit 2 for
/// a usage error, 1 otherwise).
pub fn run(name: &str, args: Vec<OsString>) -> Result<(), PluginExit> {
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    match name {
        AUTH_USER => auth_user::run(args, stdin, stdout),
        #[cfg(feature = "ldap")]
        AUTH_LDAP => auth_ldap::run(args, stdin, stdout),
        #[cfg(feature = "google-id")]
        GOOGLE_ID_PROVIDER => google_id::run_provider(args, stdin, stdout),
        #[cfg(feature = "google-id")]
        GOOGLE_ID_INFO => google_id::run_info(args, stdin, stdout),
        _ => Err(PluginExit::Usage(not_built(name).unwrap_or_else(|| {
            format!(
                "unknown plugin {name:?} (built-in plugins: {})",
                super::BUILTIN_PLUGINS.join(", ")
            )
        }))),
    }
}

/// How a built-in plugin ended with an error.
#[derive(Debug, PartialEq, Eq)]
pub enum PluginExit {
    /// Bad flags: exit status 2.
    Usage(String),
    /// Anything else: exit status 1.
    Failed(String),
}

impl std::fmt::Display for PluginExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginExit::Usage(m) | PluginExit::Failed(m) => f.write_str(m),
        }
    }
}

/// The flags of a built-in plugin: `--name value`, `--name=value` or `--switch`, each given at
/// most once unless named repeatable. `switches` take no value.
pub(crate) struct PluginFlags {
    values: Vec<(String, String)>,
}

impl PluginFlags {
    pub(crate) fn parse(
        plugin: &str,
        args: Vec<OsString>,
        valued: &[&str],
        switches: &[&str],
    ) -> Result<PluginFlags, PluginExit> {
        PluginFlags::parse_repeatable(plugin, args, valued, switches, &[])
    }

    /// Like [`PluginFlags::parse`]; the `repeatable` ones of `valued` may be given more than
    /// once ([`PluginFlags::get_all`]).
    pub(crate) fn parse_repeatable(
        plugin: &str,
        args: Vec<OsString>,
        valued: &[&str],
        switches: &[&str],
        repeatable: &[&str],
    ) -> Result<PluginFlags, PluginExit> {
        use lexopt::Arg;
        let usage = |m: String| PluginExit::Usage(format!("plugin {plugin}: {m}"));
        let mut parser = lexopt::Parser::from_args(args);
        let mut values: Vec<(String, String)> = Vec::new();
        while let Some(arg) = parser.next().map_err(|e| usage(e.to_string()))? {
            let name = match arg {
                Arg::Long(name) => name.to_string(),
                Arg::Short(c) => return Err(usage(format!("unknown flag -{c}"))),
                Arg::Value(v) => {
                    return Err(usage(format!(
                        "unexpected argument {:?}",
                        v.to_string_lossy()
                    )))
                }
            };
            let value = if switches.contains(&name.as_str()) {
                match parser.optional_value() {
                    None => "true".to_string(),
                    Some(v) => v
                        .into_string()
                        .map_err(|_| usage(format!("--{name}: not UTF-8")))?,
                }
            } else if valued.contains(&name.as_str()) {
                parser
                    .value()
                    .map_err(|_| usage(format!("--{name} needs a value")))?
                    .into_string()
                    .map_err(|_| usage(format!("--{name}: not UTF-8")))?
            } else {
                let mut known: Vec<&str> = valued.iter().chain(switches).copied().collect();
                known.sort_unstable();
                return Err(usage(format!(
                    "unknown flag --{name} (flags: --{})",
                    known.join(", --")
                )));
            };
            if !repeatable.contains(&name.as_str()) && values.iter().any(|(n, _)| *n == name) {
                return Err(usage(format!("--{name} given twice")));
            }
            values.push((name, value));
        }
        Ok(PluginFlags { values })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable flag, in order.
    #[cfg(feature = "google-id")]
    pub(crate) fn get_all(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub(crate) fn required(&self, plugin: &str, name: &str) -> Result<&str, PluginExit> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(PluginExit::Usage(format!(
                "plugin {plugin}: --{name} is required"
            ))),
        }
    }

    /// A secret given as `--NAME VALUE` or as `--NAME-file PATH` (not both), `None` when
    /// neither is given. The file form reads the whole file, less one line ending at its end
    /// (`\n` or `\r\n`, as `echo` and editors leave), so the secret appears neither in the
    /// plugin's command line (which every local user can read in `ps` and
    /// `/proc/PID/cmdline`) nor in the proxy's flags, and may contain spaces. The inline form
    /// still works, with a warning on standard error (logged by the proxy).
    pub(crate) fn secret(&self, plugin: &str, name: &str) -> Result<Option<String>, PluginExit> {
        let usage = |m: String| PluginExit::Usage(format!("plugin {plugin}: {m}"));
        let file_flag = format!("{name}-file");
        match (self.get(name), self.get(&file_flag)) {
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(usage(format!(
                "--{name} and --{file_flag} exclude each other"
            ))),
            (Some(value), None) => {
                eprintln!(
                    "WARN plugin {plugin}: --{name} is visible to every local user in process \
                     listings (ps, /proc/PID/cmdline); put it in a file readable only by the \
                     proxy's user and give --{file_flag} instead"
                );
                Ok(Some(value.to_string()))
            }
            (None, Some(path)) => read_secret_file(path)
                .map(Some)
                .map_err(|why| usage(format!("--{file_flag} {path}: {why}"))),
        }
    }

    #[cfg(any(test, feature = "ldap"))]
    pub(crate) fn switch(&self, plugin: &str, name: &str) -> Result<bool, PluginExit> {
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(PluginExit::Usage(format!(
                "plugin {plugin}: --{name}={other}: expected true or false"
            ))),
        }
    }

    #[cfg(any(test, feature = "ldap", feature = "google-id"))]
    pub(crate) fn duration(
        &self,
        plugin: &str,
        name: &str,
        default: std::time::Duration,
    ) -> Result<std::time::Duration, PluginExit> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => crate::config::value::parse_duration(v).map_err(|reason| {
                PluginExit::Usage(format!("plugin {plugin}: --{name} {v:?}: {reason}"))
            }),
        }
    }
}

/// The contents of a secret file, less one trailing line ending. `Err` says why not (never
/// with the contents).
pub(crate) fn read_secret_file(path: &str) -> Result<String, String> {
    if path.is_empty() {
        return Err("no path given".into());
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut text = String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn flags() {
        let f = PluginFlags::parse(
            "p",
            args(&["--url", "ldap://x", "--start-tls", "--timeout=5s"]),
            &["url", "timeout"],
            &["start-tls"],
        )
        .unwrap();
        assert_eq!(f.get("url"), Some("ldap://x"));
        assert!(f.switch("p", "start-tls").unwrap());
        assert_eq!(
            f.duration("p", "timeout", std::time::Duration::ZERO)
                .unwrap(),
            std::time::Duration::from_secs(5)
        );
        assert!(f.required("p", "missing").is_err());
        assert_eq!(f.secret("p", "url").unwrap().as_deref(), Some("ldap://x"));
        assert_eq!(f.secret("p", "password").unwrap(), None);
        for bad in [
            &["--nope", "x"][..],
            &["--url"],
            &["--url", "a", "--url", "b"],
            &["stray"],
        ] {
            assert!(matches!(
                PluginFlags::parse("p", args(bad), &["url"], &[]),
                Err(PluginExit::Usage(_))
            ));
        }
    }

    #[test]
    fn every_builtin_plugin_is_in_the_full_table() {
        for name in super::super::BUILTIN_PLUGINS {
            assert!(ALL.iter().any(|(n, _)| n == name), "{name}");
            assert_eq!(missing_feature(name), None);
        }
        assert_eq!(not_built("/usr/bin/auth"), None);
        let built = ALL.iter().filter(|(n, _)| missing_feature(n).is_none());
        assert_eq!(built.count(), super::super::BUILTIN_PLUGINS.len());
        assert_eq!(
            missing_note().is_none(),
            ALL.len() == super::super::BUILTIN_PLUGINS.len()
        );
    }

    /// The plugin command and the flags refuse a plugin left out of the build by name.
    #[cfg(not(all(feature = "ldap", feature = "google-id")))]
    fn assert_refused(name: &str, feature: &str) {
        let expected = format!(
            "built-in plugin {name} is not in this build (built without the `{feature}` feature"
        );
        assert!(not_built(name).unwrap().starts_with(&expected));
        assert!(missing_note().unwrap().contains(name));
        assert!(
            matches!(run(name, Vec::new()), Err(PluginExit::Usage(m)) if m.starts_with(&expected))
        );
        let err = crate::plugin::PluginSpec::resolve(
            "auth-local",
            name,
            &[],
            log::LevelFilter::Off,
            std::time::Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with(&expected), "{err}");
    }

    #[cfg(not(feature = "ldap"))]
    #[test]
    fn auth_ldap_is_refused_without_the_ldap_feature() {
        assert_refused(AUTH_LDAP, "ldap");
    }

    #[cfg(not(feature = "google-id"))]
    #[test]
    fn google_id_plugins_are_refused_without_the_google_id_feature() {
        assert_refused(GOOGLE_ID_PROVIDER, "google-id");
        assert_refused(GOOGLE_ID_INFO, "google-id");
    }

    #[test]
    fn secrets_from_files() {
        let dir = std::env::temp_dir().join(format!("plugin-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, contents: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, contents).unwrap();
            path.display().to_string()
        };
        let parse = |a: &[&str]| {
            PluginFlags::parse("p", args(a), &["password", "password-file"], &[]).unwrap()
        };
        for (name, contents, expected) in [
            ("plain", &b"pass word"[..], "pass word"),
            ("newline", b"pass word\n", "pass word"),
            ("crlf", b"pass word\r\n", "pass word"),
            // Only one line ending goes; other whitespace is the secret's.
            ("two", b" pw \n\n", " pw \n"),
            ("empty", b"", ""),
        ] {
            let path = file(name, contents);
            let f = parse(&["--password-file", &path]);
            assert_eq!(
                f.secret("p", "password").unwrap().as_deref(),
                Some(expected),
                "{name}"
            );
        }
        let path = file("bin", b"\xff\xfe");
        let err = parse(&["--password-file", &path]).secret("p", "password");
        assert!(matches!(err, Err(PluginExit::Usage(m)) if m.contains("not UTF-8")));
        let missing = dir.join("missing").display().to_string();
        let err = parse(&["--password-file", &missing]).secret("p", "password");
        assert!(matches!(err, Err(PluginExit::Usage(m)) if m.contains(&missing)));
        let path = file("both", b"x");
        let err = parse(&["--password", "x", "--password-file", &path]).secret("p", "password");
        assert!(matches!(err, Err(PluginExit::Usage(m)) if m.contains("exclude each other")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
