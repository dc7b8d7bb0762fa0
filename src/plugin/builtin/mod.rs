//! The built-in plugins, run as `kafka-proxy plugin NAME [FLAGS]`: each reads its flags, then
//! speaks the plugin protocol ([`super::serve`]) on standard input and output until the proxy
//! closes its input. Diagnostics go to standard error, which the proxy logs; never a password
//! or a token.

#[cfg(feature = "ldap")]
pub mod auth_ldap;
pub mod auth_user;
#[cfg(feature = "google-id")]
pub mod google_id;
#[cfg(any(feature = "google-id", feature = "oidc"))]
pub mod jwt;
#[cfg(feature = "oidc")]
pub mod jwt_info;
#[cfg(feature = "oidc")]
pub mod oidc;
pub mod unsecured_jwt;

use std::ffi::OsString;

// The names, features and flag tables of the built-in plugins are configuration: the server's
// flags and the help need them too.
use crate::config::flags::FlagKind;
pub use crate::config::plugin_flags::{
    missing_feature, missing_note, not_built, BuiltinPlugin, ALL, AUTH_LDAP, AUTH_USER,
    GOOGLE_ID_INFO, GOOGLE_ID_PROVIDER, JWT_INFO, OIDC_PROVIDER, UNSECURED_JWT_PROVIDER,
};

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
        UNSECURED_JWT_PROVIDER => unsecured_jwt::run(args, stdin, stdout),
        #[cfg(feature = "oidc")]
        OIDC_PROVIDER => oidc::run(args, stdin, stdout),
        #[cfg(feature = "oidc")]
        JWT_INFO => jwt_info::run(args, stdin, stdout),
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

/// The flags of a built-in plugin, as its table ([`BuiltinPlugin::flags`]) declares them:
/// `--name value`, `--name=value` or `--switch` (`--switch=true|false` too), each given at
/// most once unless repeatable.
pub(crate) struct PluginFlags {
    plugin: &'static BuiltinPlugin,
    values: Vec<(String, String)>,
}

impl PluginFlags {
    pub(crate) fn parse(
        plugin: &'static BuiltinPlugin,
        args: Vec<OsString>,
    ) -> Result<PluginFlags, PluginExit> {
        use lexopt::Arg;
        let usage = |m: String| PluginExit::Usage(format!("plugin {}: {m}", plugin.name));
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
            let Some(flag) = plugin.flag(&name) else {
                let mut known: Vec<&str> = plugin.flags.iter().map(|f| f.name).collect();
                known.sort_unstable();
                return Err(usage(format!(
                    "unknown flag --{name} (flags: --{})",
                    known.join(", --")
                )));
            };
            let value = if flag.kind == FlagKind::Switch {
                match parser.optional_value() {
                    None => "true".to_string(),
                    Some(v) => v
                        .into_string()
                        .map_err(|_| usage(format!("--{name}: not UTF-8")))?,
                }
            } else {
                parser
                    .value()
                    .map_err(|_| usage(format!("--{name} needs a value")))?
                    .into_string()
                    .map_err(|_| usage(format!("--{name}: not UTF-8")))?
            };
            if flag.kind != FlagKind::Repeated && values.iter().any(|(n, _)| *n == name) {
                return Err(usage(format!("--{name} given twice")));
            }
            values.push((name, value));
        }
        Ok(PluginFlags { plugin, values })
    }

    /// The value given for `name`, or its default from the table.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.get(name)
            .or_else(|| self.plugin.flag(name).and_then(|f| f.default))
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

    pub(crate) fn required(&self, name: &str) -> Result<&str, PluginExit> {
        let plugin = self.plugin.name;
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
    pub(crate) fn secret(&self, name: &str) -> Result<Option<String>, PluginExit> {
        let plugin = self.plugin.name;
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
    pub(crate) fn switch(&self, name: &str) -> Result<bool, PluginExit> {
        let plugin = self.plugin.name;
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(PluginExit::Usage(format!(
                "plugin {plugin}: --{name}={other}: expected true or false"
            ))),
        }
    }

    /// The duration given for `name`, else its default from the table (zero without one).
    pub(crate) fn duration(&self, name: &str) -> Result<std::time::Duration, PluginExit> {
        let plugin = self.plugin.name;
        match self.value(name) {
            None => Ok(std::time::Duration::ZERO),
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
    use crate::config::plugin_flags::PluginFlag;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    const fn flag(name: &'static str, kind: FlagKind, default: Option<&'static str>) -> PluginFlag {
        PluginFlag {
            name,
            value_name: if matches!(kind, FlagKind::Switch) {
                ""
            } else {
                "X"
            },
            default,
            help: "A flag.",
            kind,
            required: false,
        }
    }

    /// A plugin with a flag of each kind.
    static TEST_PLUGIN: BuiltinPlugin = BuiltinPlugin {
        name: "p",
        feature: None,
        about: "A test",
        description: "A test.",
        flags: &[
            flag("url", FlagKind::Value, None),
            flag("timeout", FlagKind::Value, Some("7s")),
            flag("start-tls", FlagKind::Switch, None),
            flag("password", FlagKind::Value, None),
            flag("password-file", FlagKind::Value, None),
            flag("many", FlagKind::Repeated, None),
        ],
    };

    #[test]
    fn flags() {
        let f = PluginFlags::parse(
            &TEST_PLUGIN,
            args(&["--url", "ldap://x", "--start-tls", "--timeout=5s"]),
        )
        .unwrap();
        assert_eq!(f.get("url"), Some("ldap://x"));
        assert!(f.switch("start-tls").unwrap());
        assert_eq!(
            f.duration("timeout").unwrap(),
            std::time::Duration::from_secs(5)
        );
        assert!(f.required("missing").is_err());
        assert_eq!(f.secret("url").unwrap().as_deref(), Some("ldap://x"));
        assert_eq!(f.secret("password").unwrap(), None);
        // Defaults come from the table; repeatable flags add up.
        let f = PluginFlags::parse(&TEST_PLUGIN, args(&["--many", "a", "--many=b"])).unwrap();
        assert_eq!(f.get("timeout"), None);
        assert_eq!(f.value("timeout"), Some("7s"));
        assert_eq!(
            f.duration("timeout").unwrap(),
            std::time::Duration::from_secs(7)
        );
        assert!(!f.switch("start-tls").unwrap());
        assert_eq!(f.values.iter().filter(|(n, _)| n == "many").count(), 2);
        for bad in [
            &["--nope", "x"][..],
            &["--url"],
            &["--url", "a", "--url", "b"],
            &["stray"],
        ] {
            assert!(matches!(
                PluginFlags::parse(&TEST_PLUGIN, args(bad)),
                Err(PluginExit::Usage(_))
            ));
        }
    }

    #[test]
    fn every_builtin_plugin_is_in_the_full_table() {
        for name in super::super::BUILTIN_PLUGINS {
            assert!(ALL.iter().any(|p| p.name == *name), "{name}");
            assert_eq!(missing_feature(name), None);
        }
        assert_eq!(not_built("/usr/bin/auth"), None);
        let built = ALL.iter().filter(|p| missing_feature(p.name).is_none());
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
        let parse = |a: &[&str]| PluginFlags::parse(&TEST_PLUGIN, args(a)).unwrap();
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
                f.secret("password").unwrap().as_deref(),
                Some(expected),
                "{name}"
            );
        }
        let path = file("bin", b"\xff\xfe");
        let err = parse(&["--password-file", &path]).secret("password");
        assert!(matches!(err, Err(PluginExit::Usage(m)) if m.contains("not UTF-8")));
        let missing = dir.join("missing").display().to_string();
        let err = parse(&["--password-file", &missing]).secret("password");
        assert!(matches!(err, Err(PluginExit::Usage(m)) if m.contains(&missing)));
        let path = file("both", b"x");
        let err = parse(&["--password", "x", "--password-file", &path]).secret("password");
        assert!(matches!(err, Err(PluginExit::Usage(m)) if m.contains("exclude each other")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
