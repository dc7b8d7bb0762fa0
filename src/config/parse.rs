//! The command line: subcommands, the lexopt loop, the environment fallback, and usage errors.
//!
//! [`parse`] is a pure function of the arguments and an environment lookup, so tests never
//! touch the process environment. It works in two steps, like ripgrep: first every flag's
//! value is taken from the command line, the environment or its default and checked on its
//! own (stored mostly straight into the [`Config`], see
//! [`ServerArgs`](super::flags::ServerArgs)); then the flags are checked together and the
//! config completed ([`ServerArgs::finish`](super::flags::ServerArgs::finish)).
//!
//! Precedence, per flag: the command line, else the environment variable named in the flag
//! table, else the default. An environment variable set to the empty string counts as unset.
//! A repeated flag given on the command line ignores its environment variable entirely.
//!
//! The values of secret flags (passwords, the `--forward-proxy` URL) never appear in an error
//! message: see [`flags::shown_value`](super::flags::shown_value).

use std::ffi::OsString;
use std::fmt;

use super::flags::{self, Flag, FlagKind, SERVER_FLAGS};
use super::help;
use super::plugin_flags;
use super::value::Reason;
use super::Config;

/// What the program was asked to do.
#[derive(Debug, PartialEq)]
pub enum Mode {
    /// Print this text to standard output and exit 0 (`--help`, `-h`, `help [COMMAND]`).
    Help(String),
    /// Print `kafka-proxy VERSION` and exit 0 (`version`, `--version`).
    Version,
    /// Run the proxy.
    Server(Box<Config>),
    /// Run a tool: `tools socks5-proxy` or `tools http-proxy`.
    Tool(super::tools::Tool),
    /// Run a built-in plugin: `plugin NAME [PLUGIN FLAGS]`; the flags are the plugin's own.
    Plugin { name: String, args: Vec<OsString> },
}

/// A subcommand, as listed in `--help` and the man page.
pub struct Command {
    pub name: &'static str,
    /// One line, for the list of commands.
    pub about: &'static str,
    /// Usage line(s) after `kafka-proxy `.
    pub usage: &'static str,
    /// A paragraph for the command's `--help` and its man page section.
    pub description: &'static str,
}

pub const SERVER: Command = Command {
    name: "server",
    about: "Run the proxy",
    usage: "server --bootstrap-server-mapping MAPPING... [FLAGS]",
    description: "Listens for Kafka clients on the addresses of --bootstrap-server-mapping and \
                  relays their requests to the mapped brokers. Broker addresses in responses \
                  (metadata, coordinators, cluster descriptions) are rewritten to addresses of \
                  the proxy, and a listener is started for each broker the proxy has not seen \
                  before (a dynamic listener), so every connection a client makes goes through \
                  the proxy.",
};

pub const VERSION: Command = Command {
    name: "version",
    about: "Print the version",
    usage: "version",
    description: "Prints kafka-proxy and its version.",
};

pub const PLUGIN: Command = Command {
    name: "plugin",
    about: "Run a built-in plugin (started by the server itself)",
    usage: "plugin NAME [PLUGIN FLAGS]",
    description: "Runs a built-in plugin, speaking the plugin protocol (see PLUGINS in the man \
                  page) on standard input and output. The server starts these itself when a \
                  --auth-*-command names one: auth-user (--username, --password-file or \
                  --password), auth-ldap (--url, --start-tls, --ca-cert-file, --timeout, and \
                  --user-dn with --user-attr, or --bind-dn, --bind-passwd-file or \
                  --bind-passwd, --user-search-base and --user-filter), google-id-provider (--credentials-file, --target-audience, \
                  --token-url, --timeout) and google-id-info (--audience, --email-regex: \
                  required and repeatable, the emails let in; --certs-url, --issuer, \
                  --refresh-interval, --timeout).",
};

pub const HELP: Command = Command {
    name: "help",
    about: "Print help for kafka-proxy or one of its commands",
    usage: "help [COMMAND]",
    description: "Prints the help of COMMAND, or of kafka-proxy when no command is given.",
};

/// Every subcommand. To add one: a `Command` here, an arm in [`parse`], and, if it has
/// flags, a flag table and a section in `help.rs`.
pub static COMMANDS: &[Command] = &[SERVER, VERSION, HELP, PLUGIN, super::tools::TOOLS];

/// Where a flag's value came from; named in error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    CommandLine,
    Env(&'static str),
    Default,
}

/// A mistake in how the program was invoked. Every one exits with status 2.
#[derive(Debug, PartialEq, Eq)]
pub enum UsageError {
    /// A flag the command does not have.
    UnknownFlag {
        command: Option<&'static str>,
        flag: String,
    },
    /// A first argument that is not a command.
    UnknownCommand(String),
    /// No command was given.
    MissingCommand,
    /// A positional argument where none is taken.
    UnexpectedArgument {
        command: Option<&'static str>,
        arg: String,
    },
    /// A flag that takes a value came last.
    MissingValue { flag: &'static str },
    /// A switch given a value on the command line that is not a boolean, or a value given
    /// to a flag that takes none.
    InvalidValue {
        flag: &'static str,
        value: String,
        origin: Origin,
        reason: Reason,
    },
    /// A required flag is neither on the command line nor in the environment.
    MissingFlag {
        command: &'static str,
        flag: &'static str,
        env: &'static str,
    },
    /// Flags that are valid alone but not together.
    Conflict {
        command: &'static str,
        flag: &'static str,
        reason: String,
    },
    /// An argument or environment value that is not valid UTF-8.
    NotUnicode { what: String },
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let help_hint = |f: &mut fmt::Formatter<'_>, command: Option<&str>| match command {
            Some(c) => write!(f, "\nRun 'kafka-proxy {c} --help' for its flags."),
            None => write!(f, "\nRun 'kafka-proxy --help' for usage."),
        };
        match self {
            UsageError::UnknownFlag { command, flag } => {
                write!(f, "unknown flag {flag}")?;
                help_hint(f, *command)
            }
            UsageError::UnknownCommand(c) => {
                let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
                write!(f, "unknown command {c:?} (commands: {})", names.join(", "))?;
                help_hint(f, None)
            }
            UsageError::MissingCommand => {
                let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
                write!(f, "a command is required: {}", names.join(", "))?;
                help_hint(f, None)
            }
            UsageError::UnexpectedArgument { command, arg } => {
                write!(f, "unexpected argument {arg:?}")?;
                help_hint(f, *command)
            }
            UsageError::MissingValue { flag } => write!(f, "--{flag} needs a value"),
            UsageError::InvalidValue {
                flag,
                value,
                origin,
                reason,
            } => {
                write!(f, "invalid value {value:?} for --{flag}")?;
                match origin {
                    Origin::CommandLine => {}
                    Origin::Env(var) => write!(f, " (from environment variable {var})")?,
                    Origin::Default => write!(f, " (built-in default)")?,
                }
                write!(f, ": {reason}")
            }
            UsageError::MissingFlag { command, flag, env } => {
                write!(f, "--{flag} is required (or set {env})")?;
                help_hint(f, Some(command))
            }
            UsageError::Conflict {
                command,
                flag,
                reason,
            } => {
                write!(f, "--{flag} {reason}")?;
                help_hint(f, Some(command))
            }
            UsageError::NotUnicode { what } => write!(f, "{what} is not valid UTF-8"),
        }
    }
}

impl std::error::Error for UsageError {}

/// Parses the arguments (without the program name) with `env` as the environment.
pub fn parse<I, E>(args: I, env: E) -> Result<Mode, UsageError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
    E: Fn(&str) -> Option<OsString>,
{
    let mut parser = lexopt::Parser::from_args(args);
    use lexopt::Arg;
    // Top-level flags come before the command.
    let command = match parser.next().map_err(|e| lexopt_error(e, None))? {
        None => return Err(UsageError::MissingCommand),
        Some(Arg::Short('h')) | Some(Arg::Long("help")) => {
            no_attached_value(&mut parser, "--help")?;
            return Ok(Mode::Help(help::top_help()));
        }
        Some(Arg::Long("version")) => {
            no_attached_value(&mut parser, "--version")?;
            return Ok(Mode::Version);
        }
        Some(Arg::Value(v)) => utf8(v, "a command")?,
        Some(other) => {
            return Err(UsageError::UnknownFlag {
                command: None,
                flag: arg_text(&other),
            })
        }
    };
    match command.as_str() {
        "server" => {
            let Some(args) = read_flags(&mut parser, &SERVER, SERVER_FLAGS, &env)? else {
                return Ok(Mode::Help(help::command_help(&SERVER, SERVER_FLAGS)));
            };
            let config = args.finish().map_err(|c| UsageError::Conflict {
                command: SERVER.name,
                flag: c.flag,
                reason: c.reason,
            })?;
            Ok(Mode::Server(Box::new(config)))
        }
        "plugin" => {
            let name = match parser
                .next()
                .map_err(|e| lexopt_error(e, Some(PLUGIN.name)))?
            {
                None | Some(Arg::Short('h')) | Some(Arg::Long("help")) => {
                    return Ok(Mode::Help(help::command_help::<()>(&PLUGIN, &[])))
                }
                Some(Arg::Value(v)) => utf8(v, "a plugin name")?,
                Some(other) => {
                    return Err(UsageError::UnknownFlag {
                        command: Some(PLUGIN.name),
                        flag: arg_text(&other),
                    })
                }
            };
            let args: Vec<OsString> = parser
                .raw_args()
                .map_err(|e| lexopt_error(e, Some(PLUGIN.name)))?
                .collect();
            // Only the help is handled here; the plugin reads its flags itself, and refuses
            // bad ones in its own words.
            if let Some(plugin) = plugin_flags::find(&name) {
                if plugin_flags::asks_for_help(plugin, &args) {
                    return Ok(Mode::Help(help::plugin_help(plugin)));
                }
            }
            Ok(Mode::Plugin { name, args })
        }
        "tools" => super::tools::parse(&mut parser, &env),
        "version" => match read_flags::<()>(&mut parser, &VERSION, &[], &env)? {
            Some(()) => Ok(Mode::Version),
            None => Ok(Mode::Help(help::command_help::<()>(&VERSION, &[]))),
        },
        "help" => {
            let topic = match parser
                .next()
                .map_err(|e| lexopt_error(e, Some(HELP.name)))?
            {
                None => return Ok(Mode::Help(help::top_help())),
                Some(Arg::Value(v)) => utf8(v, "a command")?,
                Some(other) => {
                    return Err(UsageError::UnknownFlag {
                        command: Some(HELP.name),
                        flag: arg_text(&other),
                    })
                }
            };
            if topic == super::tools::TOOLS.name {
                return super::tools::parse_help(&mut parser);
            }
            if let Some(extra) = parser
                .next()
                .map_err(|e| lexopt_error(e, Some(HELP.name)))?
            {
                return Err(UsageError::UnexpectedArgument {
                    command: Some(HELP.name),
                    arg: arg_text(&extra),
                });
            }
            match topic.as_str() {
                "server" => Ok(Mode::Help(help::command_help(&SERVER, SERVER_FLAGS))),
                "version" => Ok(Mode::Help(help::command_help::<()>(&VERSION, &[]))),
                "help" => Ok(Mode::Help(help::command_help::<()>(&HELP, &[]))),
                "plugin" => Ok(Mode::Help(help::command_help::<()>(&PLUGIN, &[]))),
                _ => Err(UsageError::UnknownCommand(topic)),
            }
        }
        _ => Err(UsageError::UnknownCommand(command)),
    }
}

/// Reads the rest of the command line as flags of `flags`, then fills in the environment and
/// the defaults. `Ok(None)` means `--help` was asked for (which wins over any other flag).
pub(super) fn read_flags<T: Default>(
    parser: &mut lexopt::Parser,
    command: &Command,
    flags: &'static [Flag<T>],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Option<T>, UsageError> {
    use lexopt::Arg;
    // First collect the command line: a bad value must not hide a later --help.
    let mut given: Vec<(&'static Flag<T>, String)> = Vec::new();
    while let Some(arg) = parser
        .next()
        .map_err(|e| lexopt_error(e, Some(command.name)))?
    {
        let name = match arg {
            Arg::Short('h') | Arg::Long("help") => return Ok(None),
            Arg::Long(name) => name.to_string(),
            other => {
                let text = arg_text(&other);
                return Err(match other {
                    Arg::Value(_) => UsageError::UnexpectedArgument {
                        command: Some(command.name),
                        arg: text,
                    },
                    _ => UsageError::UnknownFlag {
                        command: Some(command.name),
                        flag: text,
                    },
                });
            }
        };
        let Some(flag) = flags.iter().find(|f| f.name == name) else {
            return Err(UsageError::UnknownFlag {
                command: Some(command.name),
                flag: format!("--{name}"),
            });
        };
        let value = match flag.kind {
            FlagKind::Switch => match parser.optional_value() {
                Some(v) => utf8(v, &format!("the value of --{}", flag.name))?,
                None => "true".to_string(),
            },
            FlagKind::Value | FlagKind::Repeated | FlagKind::List => match parser.value() {
                Ok(v) => utf8(v, &format!("the value of --{}", flag.name))?,
                Err(_) => return Err(UsageError::MissingValue { flag: flag.name }),
            },
        };
        given.push((flag, value));
    }

    let mut args = T::default();
    for flag in flags {
        if given.iter().any(|(f, _)| std::ptr::eq(*f, flag)) {
            continue;
        }
        let from_env = match env(flag.env) {
            Some(v) if !v.is_empty() => {
                Some(utf8(v, &format!("environment variable {}", flag.env))?)
            }
            _ => None,
        };
        match (from_env, flag.default) {
            (Some(v), _) => {
                let values: Vec<&str> = match flag.kind {
                    FlagKind::Repeated => v.split_whitespace().collect(),
                    FlagKind::Switch | FlagKind::Value | FlagKind::List => vec![v.as_str()],
                };
                for one in values {
                    apply(flag, &mut args, one, Origin::Env(flag.env))?;
                }
            }
            (None, Some(default)) => apply(flag, &mut args, default, Origin::Default)?,
            (None, None) if flag.required => {
                return Err(UsageError::MissingFlag {
                    command: command.name,
                    flag: flag.name,
                    env: flag.env,
                })
            }
            (None, None) => {}
        }
    }
    for (flag, value) in &given {
        apply(flag, &mut args, value, Origin::CommandLine)?;
    }
    Ok(Some(args))
}

/// Stores one value, naming the flag, the value (secrets hidden) and its origin in any error.
fn apply<T>(
    flag: &'static Flag<T>,
    args: &mut T,
    value: &str,
    origin: Origin,
) -> Result<(), UsageError> {
    (flag.apply)(args, value).map_err(|reason| UsageError::InvalidValue {
        flag: flag.name,
        value: flags::shown_value(flag.name, value),
        origin,
        reason,
    })
}

/// Rejects `--flag=value` for a top-level flag that takes no value.
fn no_attached_value(parser: &mut lexopt::Parser, flag: &str) -> Result<(), UsageError> {
    match parser.optional_value() {
        None => Ok(()),
        Some(v) => Err(UsageError::UnexpectedArgument {
            command: None,
            arg: format!("{flag}={}", v.to_string_lossy()),
        }),
    }
}

pub(super) fn utf8(v: OsString, what: &str) -> Result<String, UsageError> {
    v.into_string().map_err(|_| UsageError::NotUnicode {
        what: what.to_string(),
    })
}

pub(super) fn arg_text(arg: &lexopt::Arg<'_>) -> String {
    match arg {
        lexopt::Arg::Short(c) => format!("-{c}"),
        lexopt::Arg::Long(l) => format!("--{l}"),
        lexopt::Arg::Value(v) => v.to_string_lossy().into_owned(),
    }
}

/// The lexopt errors that `next()` can return, in our words.
pub(super) fn lexopt_error(e: lexopt::Error, command: Option<&'static str>) -> UsageError {
    match e {
        lexopt::Error::NonUnicodeValue(_) => UsageError::NotUnicode {
            what: "an argument".into(),
        },
        other => UsageError::UnexpectedArgument {
            command,
            arg: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
