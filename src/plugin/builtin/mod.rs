//! The built-in plugins, run as `kafka-proxy plugin NAME [FLAGS]`: each reads its flags, then
//! speaks the plugin protocol ([`super::serve`]) on standard input and output until the proxy
//! closes its input. Diagnostics go to standard error, which the proxy logs; never a password
//! or a token.

pub mod auth_ldap;
pub mod auth_user;
pub mod google_id;

use std::ffi::OsString;

pub const AUTH_USER: &str = "auth-user";
pub const AUTH_LDAP: &str = "auth-ldap";
pub const GOOGLE_ID_PROVIDER: &str = "google-id-provider";
pub const GOOGLE_ID_INFO: &str = "google-id-info";

/// Runs built-in plugin `name` with its flags. `Err` is a message for standard error (exit 2 for
/// a usage error, 1 otherwise).
pub fn run(name: &str, args: Vec<OsString>) -> Result<(), PluginExit> {
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    match name {
        AUTH_USER => auth_user::run(args, stdin, stdout),
        AUTH_LDAP => auth_ldap::run(args, stdin, stdout),
        GOOGLE_ID_PROVIDER => google_id::run_provider(args, stdin, stdout),
        GOOGLE_ID_INFO => google_id::run_info(args, stdin, stdout),
        _ => Err(PluginExit::Usage(format!(
            "unknown plugin {name:?} (built-in plugins: {})",
            super::BUILTIN_PLUGINS.join(", ")
        ))),
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

    pub(crate) fn switch(&self, plugin: &str, name: &str) -> Result<bool, PluginExit> {
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(PluginExit::Usage(format!(
                "plugin {plugin}: --{name}={other}: expected true or false"
            ))),
        }
    }

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
}
