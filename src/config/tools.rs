//! `kafka-proxy tools socks5-proxy` and `kafka-proxy tools http-proxy`: their commands, flag
//! tables (the same [`Flag`] type as the server's, so `--help`, the man page and the
//! environment fallback work alike) and the validated [`Tool`] they run with (in `src/tools/`).

use std::ffi::OsString;

use super::flags::{Category, Flag, FlagKind};
use super::help;
use super::parse::{arg_text, lexopt_error, read_flags, utf8, Command, Mode, UsageError};
use super::value::{self, PortZero, Reason};
use super::{HostPort, Secret};

pub const TOOLS: Command = Command {
    name: "tools",
    about: "Run a small SOCKS5 or HTTP CONNECT forward proxy",
    usage: "tools socks5-proxy|http-proxy --addr HOST:PORT [FLAGS]",
    description: "Small forward proxies, for testing --forward-proxy and for users who need \
                  one. socks5-proxy speaks SOCKS5 (RFC 1928, CONNECT only) with optional \
                  username/password authentication (RFC 1929); http-proxy answers HTTP \
                  CONNECT with optional Basic authentication (Proxy-Authorization). Both \
                  relay to any host the client names, so bind them to a trusted network. Run \
                  'kafka-proxy tools socks5-proxy --help' or 'kafka-proxy tools http-proxy \
                  --help' for their flags.",
};

pub const SOCKS5_PROXY: Command = Command {
    name: "tools socks5-proxy",
    about: "A SOCKS5 proxy, optionally with username/password",
    usage: "tools socks5-proxy --addr HOST:PORT [FLAGS]",
    description: "Listens on --addr and relays each SOCKS5 CONNECT to the host the client names \
                  (a host name is resolved here), one thread per connection. With --username \
                  and --password, clients must authenticate with them (RFC 1929) and clients \
                  that do not are refused.",
};

pub const HTTP_PROXY: Command = Command {
    name: "tools http-proxy",
    about: "An HTTP CONNECT proxy, optionally with Basic auth",
    usage: "tools http-proxy --addr HOST:PORT [FLAGS]",
    description: "Listens on --addr and answers HTTP CONNECT host:port requests by relaying the \
                  connection to that host, one thread per connection. Other methods are \
                  answered 405. With --username and --password, requests must carry \
                  Proxy-Authorization: Basic with them; others are answered 407.",
};

/// The tools, with their commands and flag tables, for help and the man page.
pub static TOOL_COMMANDS: &[(ToolKind, &Command, &[Flag<ToolArgs>])] = &[
    (ToolKind::Socks5Proxy, &SOCKS5_PROXY, SOCKS5_PROXY_FLAGS),
    (ToolKind::HttpProxy, &HTTP_PROXY, HTTP_PROXY_FLAGS),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolKind {
    Socks5Proxy,
    HttpProxy,
}

impl ToolKind {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ToolKind::Socks5Proxy => "socks5-proxy",
            ToolKind::HttpProxy => "http-proxy",
        }
    }
}

/// A tool to run, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tool {
    pub kind: ToolKind,
    /// `--addr`.
    pub listen: HostPort,
    /// `--username` and `--password`; clients must present them when set.
    pub credentials: Option<Credentials>,
    /// `--verbose`: a log line per connection.
    pub verbose: bool,
    /// `--allow-link-local-targets`: tunnels to 169.254.0.0/16 and fe80::/10 (where cloud
    /// metadata services answer) are refused unless set.
    pub allow_link_local_targets: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

/// Low-level arguments of a tool: each flag's value, checked on its own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolArgs {
    pub addr: Option<HostPort>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub verbose: bool,
    pub allow_open_proxy: bool,
    pub allow_link_local_targets: bool,
}

/// Why a tool's flags cannot run together.
struct Conflict {
    flag: &'static str,
    reason: String,
}

impl ToolArgs {
    fn into_tool(self, kind: ToolKind) -> Result<Tool, Conflict> {
        let conflict = |flag, reason: &str| Conflict {
            flag,
            reason: reason.to_string(),
        };
        let listen = self.addr.ok_or_else(|| conflict("addr", "is required"))?;
        let credentials = match (self.username, self.password) {
            (None, None) => None,
            (Some(_), None) => return Err(conflict("username", "needs --password too")),
            (None, Some(_)) => return Err(conflict("password", "needs --username too")),
            (Some(username), Some(password)) => {
                // SOCKS5 carries each in a one-byte length (RFC 1929); HTTP Basic cannot have
                // a ':' in the user name (RFC 7617). The same limits for both tools keep one
                // pair of credentials usable with either. The password is never quoted.
                if username.is_empty() || username.len() > 255 {
                    return Err(conflict("username", "must be 1 to 255 bytes long"));
                }
                if username.contains(':') || username.chars().any(char::is_control) {
                    return Err(conflict(
                        "username",
                        "cannot contain ':' or control characters",
                    ));
                }
                let len = password.expose().len();
                if len == 0 || len > 255 {
                    return Err(conflict("password", "must be 1 to 255 bytes long"));
                }
                if password.expose().chars().any(char::is_control) {
                    return Err(conflict("password", "cannot contain control characters"));
                }
                Some(Credentials { username, password })
            }
        };
        if credentials.is_none() && !value::is_loopback(&listen.host) && !self.allow_open_proxy {
            return Err(conflict(
                "addr",
                "listens beyond loopback with no --username and --password: anyone who can \
                 reach it could tunnel anywhere through it (an open proxy); set credentials, \
                 listen on 127.0.0.1, or pass --allow-open-proxy",
            ));
        }
        Ok(Tool {
            kind,
            listen,
            credentials,
            verbose: self.verbose,
            allow_link_local_targets: self.allow_link_local_targets,
        })
    }
}

const FALSE: Option<&str> = Some("false");

fn addr(a: &mut ToolArgs, s: &str) -> Result<(), Reason> {
    // `:port` listens on every interface, as with the server's listen addresses.
    let all = format!("0.0.0.0{s}");
    let s = if s.starts_with(':') { all.as_str() } else { s };
    a.addr = Some(value::parse_host_port(s, PortZero::Allowed)?);
    Ok(())
}

fn username(a: &mut ToolArgs, s: &str) -> Result<(), Reason> {
    a.username = Some(s.to_string());
    Ok(())
}

fn password(a: &mut ToolArgs, s: &str) -> Result<(), Reason> {
    // Stored as given and checked in `into_tool`, whose messages never quote it.
    a.password = Some(Secret(s.to_string()));
    Ok(())
}

fn verbose(a: &mut ToolArgs, s: &str) -> Result<(), Reason> {
    a.verbose = value::parse_bool(s)?;
    Ok(())
}

fn allow_open_proxy(a: &mut ToolArgs, s: &str) -> Result<(), Reason> {
    a.allow_open_proxy = value::parse_bool(s)?;
    Ok(())
}

fn allow_link_local_targets(a: &mut ToolArgs, s: &str) -> Result<(), Reason> {
    a.allow_link_local_targets = value::parse_bool(s)?;
    Ok(())
}

/// One flag table per tool: the same flags, each with its own environment variables.
macro_rules! tool_flags {
    ($prefix:literal, $what:literal) => {
        &[
            Flag {
                name: "addr",
                value_name: "HOST:PORT",
                env: concat!($prefix, "_ADDR"),
                default: None,
                help: concat!(
                    "Address to listen on for ",
                    $what,
                    " clients, e.g. 127.0.0.1:1080. Port 0 picks a free port (logged at \
                     startup)."
                ),
                category: Category::Listeners,
                kind: FlagKind::Value,
                required: true,
                apply: addr,
            },
            Flag {
                name: "username",
                value_name: "USER",
                env: concat!($prefix, "_USERNAME"),
                default: None,
                help: "User name clients must authenticate with; needs --password.",
                category: Category::Client,
                kind: FlagKind::Value,
                required: false,
                apply: username,
            },
            Flag {
                name: "password",
                value_name: "PASSWORD",
                env: concat!($prefix, "_PASSWORD"),
                default: None,
                help: "Password clients must authenticate with; needs --username. Set it \
                       through the environment variable to keep it out of process listings.",
                category: Category::Client,
                kind: FlagKind::Value,
                required: false,
                apply: password,
            },
            Flag {
                name: "verbose",
                value_name: "",
                env: concat!($prefix, "_VERBOSE"),
                default: FALSE,
                help: "Logs every connection: client, target, outcome and bytes relayed.",
                category: Category::Logging,
                kind: FlagKind::Switch,
                required: false,
                apply: verbose,
            },
            Flag {
                name: "allow-open-proxy",
                value_name: "",
                env: concat!($prefix, "_ALLOW_OPEN_PROXY"),
                default: FALSE,
                help: "Allows listening beyond loopback without --username and --password, \
                       which makes an open proxy; refused otherwise.",
                category: Category::Listeners,
                kind: FlagKind::Switch,
                required: false,
                apply: allow_open_proxy,
            },
            Flag {
                name: "allow-link-local-targets",
                value_name: "",
                env: concat!($prefix, "_ALLOW_LINK_LOCAL_TARGETS"),
                default: FALSE,
                help: "Allows tunnels to link-local addresses (169.254.0.0/16, fe80::/10), \
                       where cloud metadata services and their credentials answer; refused \
                       otherwise.",
                category: Category::Client,
                kind: FlagKind::Switch,
                required: false,
                apply: allow_link_local_targets,
            },
        ]
    };
}

pub static SOCKS5_PROXY_FLAGS: &[Flag<ToolArgs>] = tool_flags!("SOCKS5_PROXY", "SOCKS5");
pub static HTTP_PROXY_FLAGS: &[Flag<ToolArgs>] = tool_flags!("HTTP_PROXY", "HTTP CONNECT");

/// `kafka-proxy tools --help`.
pub fn tools_help() -> String {
    help::command_help::<()>(&TOOLS, &[])
}

/// Parses what follows `tools`: the tool's name, then its flags.
pub(super) fn parse(
    parser: &mut lexopt::Parser,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Mode, UsageError> {
    use lexopt::Arg;
    let name = match parser
        .next()
        .map_err(|e| lexopt_error(e, Some(TOOLS.name)))?
    {
        None | Some(Arg::Short('h')) | Some(Arg::Long("help")) => {
            return Ok(Mode::Help(tools_help()))
        }
        Some(Arg::Value(v)) => utf8(v, "a tool name")?,
        Some(other) => {
            return Err(UsageError::UnknownFlag {
                command: Some(TOOLS.name),
                flag: arg_text(&other),
            })
        }
    };
    let Some(&(kind, command, flags)) = TOOL_COMMANDS.iter().find(|(k, ..)| k.name() == name)
    else {
        return Err(UsageError::UnexpectedArgument {
            command: Some(TOOLS.name),
            arg: name,
        });
    };
    let Some(args) = read_flags(parser, command, flags, env)? else {
        return Ok(Mode::Help(help::command_help(command, flags)));
    };
    let tool = args.into_tool(kind).map_err(|c| UsageError::Conflict {
        command: command.name,
        flag: c.flag,
        reason: c.reason,
    })?;
    Ok(Mode::Tool(tool))
}

/// Parses what follows `help tools`: nothing (the help of `tools`) or a tool's name.
pub(super) fn parse_help(parser: &mut lexopt::Parser) -> Result<Mode, UsageError> {
    use lexopt::Arg;
    fn next(parser: &mut lexopt::Parser) -> Result<Option<lexopt::Arg<'_>>, UsageError> {
        parser.next().map_err(|e| lexopt_error(e, Some(TOOLS.name)))
    }
    let name = match next(parser)? {
        None => return Ok(Mode::Help(tools_help())),
        Some(Arg::Value(v)) => utf8(v, "a tool name")?,
        Some(other) => {
            return Err(UsageError::UnexpectedArgument {
                command: Some(TOOLS.name),
                arg: arg_text(&other),
            })
        }
    };
    if let Some(extra) = next(parser)? {
        return Err(UsageError::UnexpectedArgument {
            command: Some(TOOLS.name),
            arg: arg_text(&extra),
        });
    }
    match TOOL_COMMANDS.iter().find(|(k, ..)| k.name() == name) {
        Some((_, command, flags)) => Ok(Mode::Help(help::command_help(command, flags))),
        None => Err(UsageError::UnexpectedArgument {
            command: Some(TOOLS.name),
            arg: name,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use std::collections::HashMap;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Mode, UsageError> {
        let env: HashMap<String, OsString> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        parse(args.iter().copied(), |k| env.get(k).cloned())
    }

    fn tool(args: &[&str], env: &[(&str, &str)]) -> Tool {
        match run(args, env) {
            Ok(Mode::Tool(t)) => t,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn error(args: &[&str], env: &[(&str, &str)]) -> String {
        match run(args, env) {
            Err(e) => e.to_string(),
            other => panic!("{args:?} accepted: {other:?}"),
        }
    }

    #[test]
    fn tables_are_consistent() {
        for (kind, command, flags) in TOOL_COMMANDS {
            assert_eq!(command.name, format!("tools {}", kind.name()));
            let prefix = kind.name().to_uppercase().replace('-', "_");
            for f in flags.iter() {
                assert_eq!(
                    f.env,
                    format!("{prefix}_{}", f.name.to_uppercase().replace('-', "_")),
                    "--{}",
                    f.name
                );
                assert!(
                    f.help.ends_with('.') && !f.help.contains("  "),
                    "--{}",
                    f.name
                );
                if let Some(d) = f.default {
                    (f.apply)(&mut ToolArgs::default(), d).unwrap();
                }
            }
        }
    }

    #[test]
    fn both_tools_parse() {
        let t = tool(&["tools", "socks5-proxy", "--addr", "127.0.0.1:1080"], &[]);
        assert_eq!(
            t,
            Tool {
                kind: ToolKind::Socks5Proxy,
                listen: HostPort {
                    host: "127.0.0.1".into(),
                    port: 1080
                },
                credentials: None,
                verbose: false,
                allow_link_local_targets: false,
            }
        );
        let t = tool(
            &[
                "tools",
                "http-proxy",
                "--addr=:0",
                "--username",
                "u",
                "--verbose",
            ],
            &[("HTTP_PROXY_PASSWORD", "p w")],
        );
        assert_eq!(t.kind, ToolKind::HttpProxy);
        assert_eq!(t.listen.host, "0.0.0.0");
        assert_eq!(t.listen.port, 0);
        assert!(t.verbose);
        let c = t.credentials.unwrap();
        assert_eq!((c.username.as_str(), c.password.expose()), ("u", "p w"));
        // Each tool reads its own variables.
        let t = tool(
            &["tools", "socks5-proxy"],
            &[
                ("SOCKS5_PROXY_ADDR", "[::1]:1"),
                ("HTTP_PROXY_VERBOSE", "1"),
            ],
        );
        assert_eq!(t.listen.host, "::1");
        assert!(!t.verbose);
    }

    /// Beyond loopback without credentials the tools would be open proxies: refused, in words,
    /// unless --allow-open-proxy says so.
    #[test]
    fn an_open_proxy_must_be_asked_for() {
        for addr in [
            ":1080",
            "0.0.0.0:1080",
            "192.0.2.7:1080",
            "[::]:1080",
            "proxy.example:1",
        ] {
            let e = error(&["tools", "socks5-proxy", "--addr", addr], &[]);
            assert!(
                e.starts_with("--addr listens beyond loopback"),
                "{addr}: {e}"
            );
            assert!(
                e.contains("open proxy") && e.contains("--allow-open-proxy"),
                "{e}"
            );
        }
        let open = tool(
            &["tools", "http-proxy", "--addr", ":0", "--allow-open-proxy"],
            &[],
        );
        assert_eq!(open.listen.host, "0.0.0.0");
        for addr in ["127.0.0.1:0", "127.0.0.2:0", "[::1]:0", "localhost:0"] {
            tool(&["tools", "http-proxy", "--addr", addr], &[]);
        }
        let t = tool(
            &[
                "tools",
                "socks5-proxy",
                "--addr",
                "127.0.0.1:0",
                "--allow-link-local-targets",
            ],
            &[],
        );
        assert!(t.allow_link_local_targets);
    }

    #[test]
    fn help_and_errors() {
        for args in [&["tools"][..], &["tools", "--help"], &["help", "tools"]] {
            match run(args, &[]) {
                Ok(Mode::Help(h)) => {
                    assert!(h.contains("socks5-proxy") && h.contains("http-proxy"))
                }
                other => panic!("{args:?}: {other:?}"),
            }
        }
        for args in [
            &["tools", "http-proxy", "--help"][..],
            &["help", "tools", "http-proxy"],
        ] {
            match run(args, &[]) {
                Ok(Mode::Help(h)) => {
                    assert!(h.contains("--addr HOST:PORT") && h.contains("HTTP_PROXY_PASSWORD"));
                    assert!(h.lines().all(|l| l.chars().count() <= 80), "{h}");
                }
                other => panic!("{args:?}: {other:?}"),
            }
        }
        assert_eq!(
            error(&["tools", "socks4-proxy"], &[]),
            "unexpected argument \"socks4-proxy\"\nRun 'kafka-proxy tools --help' for its flags."
        );
        assert!(error(&["tools", "socks5-proxy"], &[]).starts_with("--addr is required"));
        assert!(error(&["tools", "http-proxy", "--addr", "x"], &[])
            .starts_with("invalid value \"x\" for --addr: "));
        assert!(error(
            &[
                "tools",
                "socks5-proxy",
                "--addr",
                "127.0.0.1:1",
                "--username",
                "u"
            ],
            &[]
        )
        .starts_with("--username needs --password too"));
        let e = error(
            &[
                "tools",
                "socks5-proxy",
                "--addr",
                "127.0.0.1:1",
                "--username",
                "u",
            ],
            &[("SOCKS5_PROXY_PASSWORD", &"x".repeat(300))],
        );
        assert!(
            e.starts_with("--password must be 1 to 255 bytes long"),
            "{e}"
        );
        assert!(!e.contains("xxx"));
        assert!(error(
            &[
                "tools",
                "http-proxy",
                "--addr",
                "127.0.0.1:1",
                "--username",
                "a:b",
                "--password",
                "p"
            ],
            &[]
        )
        .starts_with("--username cannot contain ':'"));
        assert!(error(
            &["tools", "http-proxy", "--addr", "127.0.0.1:1", "--nope"],
            &[]
        )
        .contains("Run 'kafka-proxy tools http-proxy --help'"));
    }
}
