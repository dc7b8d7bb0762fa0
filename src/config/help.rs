//! `--help` text and the man page, both rendered from the command list and the flag tables,
//! so neither can disagree with what the parser accepts. `man/kafka-proxy.1` is the output of
//! [`man_page`], committed; a test fails when they drift apart (regenerate with
//! `KAFKA_PROXY_REGEN_MAN=1 cargo test --lib man_page`).

use std::fmt::Write;

use super::flags::{Category, Flag, FlagKind, SERVER_FLAGS};
use super::parse::{Command, COMMANDS, SERVER};
use super::plugin_flags::{self, BuiltinPlugin, PluginFlag};

const ABOUT: &str =
    "A Kafka protocol proxy: clients connect to it as if it were the cluster, and it \
                     rewrites the broker addresses in responses so that every connection goes \
                     through the proxy.";

const COMPATIBILITY: &str = "Where server has a flag that the server command of \
                             grepplabs/kafka-proxy also has, the name, form, environment \
                             variable and default are the same, so a command line written for \
                             one works with the other.";

const ENV_NOTE: &str = "Every flag can also be set through the environment variable shown with \
                        it. A flag on the command line wins over its variable; a variable set to \
                        the empty string counts as unset. A repeated flag takes several values \
                        from its variable, separated by spaces (a comma-separated list flag takes \
                        the variable's value whole), and ignores the variable when it is given \
                        on the command line at all. Prefer the environment for passwords: \
                        command lines show in process listings. Not so for the \
                        --auth-*-param values, which become a plugin's command line wherever \
                        they come from: see PLUGINS.";

/// How values are written, for the man page.
const VALUE_FORMATS: &[(&str, &str)] = &[
    (
        "DURATION",
        "Go's duration syntax: a number and a unit, repeated: 15s, 500ms, 1m, 1h30m, 1.5s. \
         Units are ns, us (or µs), ms, s, m and h. 0 needs no unit. Negative durations are \
         rejected.",
    ),
    (
        "BYTES",
        "A whole number of bytes, optionally with a suffix: KB, MB, GB (powers of 1000) or \
         KiB, MiB, GiB (powers of 1024); for example 4096, 64KiB, 100MiB.",
    ),
    (
        "host:port",
        "A host name or IP address and a port, 1 to 65535. IPv6 addresses go in brackets: \
         [::1]:9092.",
    ),
    (
        "switches",
        "A switch alone turns its setting on; --switch=true and --switch=false are accepted \
         too. In the environment: true/false, 1/0 or yes/no.",
    ),
];

/// The upgrade without a refused connection, for the man page (README, "Upgrading").
const UPGRADING: &[&str] = &[
    "Every listener (bootstrap, dynamic, HTTP, debug) binds with SO_REUSEPORT, so a new \
     kafka-proxy process of the same user, started with the same flags, binds the same ports \
     while the old one still runs; a port held by another program is still \"address in use\". \
     While both run, the kernel spreads new connections over the two. Upgrade in this order: \
     start the new process; wait until it is ready (READY=1 to systemd, or 200 from /health on \
     an HTTP address of its own); send SIGTERM to the old one, which stops listening at once, so \
     every new connection goes to the new process, and drains its connections as on any \
     shutdown; its clients reconnect to the new one. Set net.ipv4.tcp_migrate_req=1 (Linux \
     5.14 or later) so that the few connections the kernel had queued for the old process in \
     that instant move to the new one instead of being reset.",
    "With systemd, run a template unit with two instances (kafka-proxy@blue, kafka-proxy@green): \
     start the idle one with the new binary, then stop the running one. With \
     --http-listen-address shared, either process answers /health until the old one exits \
     (503 from the draining one): probe each instance on an address of its own to tell them \
     apart.",
    "Dynamic listeners must get the same port for the same broker in both processes, and be \
     bound before the old one stops: use --deterministic-listeners (port \
     --dynamic-sequential-min-port plus the node id, every listener bound at startup from the \
     first bootstrap broker's metadata), or map every broker with --bootstrap-server-mapping. \
     Sequential ports follow the order in which \
     brokers are first seen, which may differ between the two processes, and random ports \
     (--dynamic-sequential-min-port 0) differ every time: clients holding the old process's \
     ports are refused once it exits, until they fetch metadata again. Without \
     --deterministic-listeners a dynamic listener is bound only when a client first asks the \
     new process for metadata.",
];

const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Success; for server, a clean shutdown."),
    (
        "1",
        "A runtime error, such as a listener that cannot be bound.",
    ),
    (
        "2",
        "A usage error: an unknown command or flag, a missing or invalid value, or flags that \
         conflict.",
    ),
];

const EXAMPLES: &[(&str, &str)] = &[
    (
        "Proxy a broker on 127.0.0.1:9092 through a listener on port 19092; clients bootstrap \
         from 127.0.0.1:19092:",
        "kafka-proxy server --bootstrap-server-mapping \"127.0.0.1:9092,127.0.0.1:19092\"",
    ),
    (
        "Listen on every interface for a three-broker cluster and advertise a public name:",
        "kafka-proxy server \\\n\
         \x20   --bootstrap-server-mapping \"kafka-0:9092,0.0.0.0:32400,proxy.example.com:32400\" \\\n\
         \x20   --bootstrap-server-mapping \"kafka-1:9092,0.0.0.0:32401,proxy.example.com:32401\" \\\n\
         \x20   --bootstrap-server-mapping \"kafka-2:9092,0.0.0.0:32402,proxy.example.com:32402\" \\\n\
         \x20   --dynamic-listeners-disable",
    ),
    (
        "Bootstrap mappings from the environment, with JSON logs:",
        "BOOTSTRAP_SERVER_MAPPING=\"kafka-0:9092,0.0.0.0:32400 kafka-1:9092,0.0.0.0:32401\" \\\n\
         LOG_FORMAT=json kafka-proxy server",
    ),
    (
        "Terminate TLS for clients, connect to brokers over TLS and log in with SASL/SCRAM, \
         the password taken from the environment:",
        "SASL_PASSWORD=\"$(cat /run/secrets/kafka)\" kafka-proxy server \\\n\
         \x20   --bootstrap-server-mapping \"kafka:9093,0.0.0.0:9092,proxy.example.com:9092\" \\\n\
         \x20   --proxy-listener-tls-enable --proxy-listener-cert-file server.pem \\\n\
         \x20   --proxy-listener-key-file server-key.pem \\\n\
         \x20   --tls-enable --tls-ca-chain-cert-file broker-ca.pem \\\n\
         \x20   --sasl-enable --sasl-method SCRAM-SHA-512 --sasl-username proxy",
    ),
    (
        "Give each broker's dynamic listener the port 30000 plus its node id:",
        "kafka-proxy server --bootstrap-server-mapping \"kafka:9092,0.0.0.0:9092\" \\\n\
         \x20   --default-listener-ip 0.0.0.0 --dynamic-sequential-min-port 30000 \\\n\
         \x20   --deterministic-listeners --dynamic-advertised-listener proxy.example.com",
    ),
];

const WIDTH: usize = 80;

/// Appends `text` wrapped at [`WIDTH`] columns, each line indented by `indent` spaces.
fn wrap(out: &mut String, text: &str, indent: usize) {
    let mut col = 0;
    for word in text.split_whitespace() {
        if col > 0 && col + 1 + word.chars().count() > WIDTH {
            out.push('\n');
            col = 0;
        }
        if col == 0 {
            out.extend(std::iter::repeat(' ').take(indent));
            col = indent;
        } else {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += word.chars().count();
    }
    out.push('\n');
}

/// `kafka-proxy --help`.
pub fn top_help() -> String {
    let mut out = format!("kafka-proxy {}\n", env!("CARGO_PKG_VERSION"));
    wrap(&mut out, ABOUT, 0);
    out.push_str("\nUSAGE:\n    kafka-proxy COMMAND [FLAGS]\n\nCOMMANDS:\n");
    let w = COMMANDS.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in COMMANDS {
        let _ = writeln!(out, "    {:w$}    {}", c.name, c.about);
    }
    out.push_str("\nFLAGS:\n    -h, --help       Print this help\n        --version    Print the version\n\n");
    out.push_str("Run 'kafka-proxy COMMAND --help' for the flags of a command.\n");
    out
}

/// `kafka-proxy COMMAND --help`.
pub fn command_help<T>(command: &Command, flags: &[Flag<T>]) -> String {
    let mut out = format!(
        "kafka-proxy {}: {}\n\nUSAGE:\n",
        command.name, command.about
    );
    let _ = writeln!(out, "    kafka-proxy {}\n", command.usage);
    wrap(&mut out, command.description, 0);
    // The description lists every built-in plugin; a build without some says which.
    if command.name == super::parse::PLUGIN.name {
        if let Some(note) = plugin_flags::missing_note() {
            out.push('\n');
            wrap(&mut out, &note, 0);
        }
        out.push_str("\nBUILT-IN PLUGINS:\n");
        let w = plugin_flags::ALL
            .iter()
            .map(|p| p.name.len())
            .max()
            .unwrap_or(0);
        for p in plugin_flags::ALL {
            let _ = writeln!(out, "    {:w$}    {}", p.name, p.about);
        }
        out.push('\n');
        out.push_str("Run 'kafka-proxy plugin NAME --help' for the flags of a plugin.\n");
    }
    out.push('\n');
    if !flags.is_empty() {
        wrap(&mut out, ENV_NOTE, 0);
        out.push('\n');
    }
    for category in Category::ALL {
        let in_category: Vec<&Flag<T>> = flags.iter().filter(|f| f.category == *category).collect();
        if in_category.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{}:", category.heading().to_uppercase());
        for f in in_category {
            let _ = writeln!(out, "    {}", f.synopsis());
            wrap(&mut out, f.help, 8);
            wrap(&mut out, &notes(f), 8);
            out.push('\n');
        }
    }
    out.push_str("OTHER:\n    -h, --help\n        Print this help.\n");
    out
}

/// `kafka-proxy plugin NAME --help`.
pub fn plugin_help(plugin: &BuiltinPlugin) -> String {
    let mut out = format!(
        "kafka-proxy plugin {}: {}\n\nUSAGE:\n",
        plugin.name, plugin.about
    );
    let _ = writeln!(out, "    kafka-proxy plugin {} [FLAGS]\n", plugin.name);
    wrap(&mut out, plugin.description, 0);
    out.push('\n');
    wrap(&mut out, PLUGIN_FLAGS_NOTE, 0);
    if let Some(feature) = plugin_flags::missing_feature(plugin.name) {
        out.push('\n');
        wrap(&mut out, &not_in_build(feature), 0);
    }
    out.push_str("\nFLAGS:\n");
    for f in plugin.flags {
        let _ = writeln!(out, "    {}", f.synopsis());
        wrap(&mut out, f.help, 8);
        let notes = plugin_notes(f);
        if !notes.is_empty() {
            wrap(&mut out, &notes, 8);
        }
        out.push('\n');
    }
    out.push_str("OTHER:\n    -h, --help\n        Print this help.\n");
    out
}

/// Says how a built-in plugin gets its flags; the same words in `--help` and the man page.
const PLUGIN_FLAGS_NOTE: &str = "The server runs a built-in plugin when an --auth-*-command \
                                 names it, with the --auth-*-param values as its flags. Built-in \
                                 plugins read no environment variables.";

fn not_in_build(feature: &str) -> String {
    format!("Not in this build, which was made without the `{feature}` cargo feature.")
}

/// `[required] [repeatable] [default: X]` of a plugin flag, for `--help`.
fn plugin_notes(f: &PluginFlag) -> String {
    let mut notes = Vec::new();
    if f.required {
        notes.push("[required]".to_string());
    }
    if f.kind == FlagKind::Repeated {
        notes.push("[repeatable]".to_string());
    }
    if let Some(d) = f.default {
        notes.push(format!("[default: {d}]"));
    }
    notes.join(" ")
}

/// `[required] [repeatable] [default: X] [env: Y]` for `--help`.
fn notes<T>(f: &Flag<T>) -> String {
    let mut notes = Vec::new();
    if f.required {
        notes.push("[required]".to_string());
    }
    if matches!(f.kind, FlagKind::Repeated | FlagKind::List) {
        notes.push("[repeatable]".to_string());
    }
    if let Some(d) = f.default {
        notes.push(format!("[default: {d}]"));
    }
    notes.push(format!("[env: {}]", f.env));
    notes.join(" ")
}

/// Escapes text for roff: backslashes and hyphens (so flags render and copy as ASCII `-`),
/// and a `.` or `'` at the start of a line, which roff would read as a request.
fn roff(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.starts_with('.') || line.starts_with('\'') {
            out.push_str("\\&");
        }
        for c in line.chars() {
            match c {
                '\\' => out.push_str("\\e"),
                '-' => out.push_str("\\-"),
                c => out.push(c),
            }
        }
    }
    out
}

fn bold(text: &str) -> String {
    format!("\\fB{}\\fR", roff(text))
}

fn italic(text: &str) -> String {
    format!("\\fI{}\\fR", roff(text))
}

fn man_flags<T>(out: &mut String, flags: &[Flag<T>]) {
    for category in Category::ALL {
        let in_category: Vec<&Flag<T>> = flags.iter().filter(|f| f.category == *category).collect();
        if in_category.is_empty() {
            continue;
        }
        let _ = writeln!(out, ".SS {}", roff(category.heading()));
        for f in in_category {
            man_flag(out, f);
        }
    }
}

/// One flag as a man page entry: name, value, help, then required/default/environment.
fn man_flag<T>(out: &mut String, f: &Flag<T>) {
    out.push_str(".TP\n");
    out.push_str(&bold(&format!("--{}", f.name)));
    if !f.value_name.is_empty() {
        let _ = write!(out, " {}", italic(f.value_name));
    }
    out.push('\n');
    let _ = writeln!(out, "{}", roff(f.help));
    out.push_str(".br\n");
    let mut notes = Vec::new();
    if f.required {
        notes.push("Required.".to_string());
    }
    if matches!(f.kind, FlagKind::Repeated | FlagKind::List) {
        notes.push("Repeatable.".to_string());
    }
    if let Some(d) = f.default {
        notes.push(format!("Default: {}.", bold(d)));
    }
    notes.push(format!("Environment: {}.", bold(f.env)));
    let _ = writeln!(out, "{}", notes.join(" "));
}

/// One subsection per built-in plugin with its flags. Every plugin is listed, whatever this
/// build has, so that the committed page is the same for every build; each says which cargo
/// feature it needs.
fn man_builtin_plugins(out: &mut String) {
    out.push_str(".SH BUILT-IN PLUGINS\n");
    let _ = writeln!(out, "{}", roff(PLUGIN_FLAGS_NOTE));
    for p in plugin_flags::ALL {
        let _ = writeln!(
            out,
            ".SS {}",
            roff(&format!("kafka-proxy plugin {} [FLAGS]", p.name))
        );
        let _ = writeln!(out, "{}", roff(p.description));
        if let Some(feature) = p.feature {
            let _ = writeln!(
                out,
                ".PP\nBuilt with the {} cargo feature (on by default).",
                bold(feature)
            );
        }
        for f in p.flags {
            out.push_str(".TP\n");
            out.push_str(&bold(&format!("--{}", f.name)));
            if !f.value_name.is_empty() {
                let _ = write!(out, " {}", italic(f.value_name));
            }
            out.push('\n');
            let _ = writeln!(out, "{}", roff(f.help));
            let mut notes = Vec::new();
            if f.required {
                notes.push("Required.".to_string());
            }
            if f.kind == FlagKind::Repeated {
                notes.push("Repeatable.".to_string());
            }
            if let Some(d) = f.default {
                notes.push(format!("Default: {}.", bold(d)));
            }
            if !notes.is_empty() {
                let _ = writeln!(out, ".br\n{}", notes.join(" "));
            }
        }
    }
}

/// `kafka-proxy tools ...`: one subsection per tool with its flags.
fn man_tools(out: &mut String) {
    use super::tools::{TOOLS, TOOL_COMMANDS};
    out.push_str(".SH TOOLS\n");
    let _ = writeln!(out, "{}", roff(TOOLS.description));
    for (_, command, flags) in TOOL_COMMANDS {
        let _ = writeln!(
            out,
            ".SS {}",
            roff(&format!("kafka-proxy {}", command.usage))
        );
        let _ = writeln!(out, "{}", roff(command.description));
        for f in flags.iter() {
            man_flag(out, f);
        }
    }
}

fn man_command(out: &mut String, command: &Command) {
    out.push_str(".TP\n");
    let _ = writeln!(out, "{}", bold(command.name));
    let _ = writeln!(out, "{}.", roff(command.about));
}

/// The PLUGINS section: the child-process protocol of `--auth-*-command`, with the example
/// plugin shipped in `examples/plugins/`.
const PLUGIN_PROTOCOL: &[&str] = &[
    "--auth-local-command, --auth-gateway-client-command and --auth-gateway-server-command name \
     a plugin, and so do --auth-local-token-command and --sasl-plugin-command: a path to any \
     executable, or a built-in plugin (auth-user, auth-ldap, google-id-provider, google-id-info, \
     unsecured-jwt-provider, oidc-provider, jwt-info), which runs as kafka-proxy \
     plugin NAME. The proxy starts each plugin once, at startup, with its --auth-*-param (or \
     --sasl-plugin-param) values as arguments, and \
     keeps it running; a plugin that exits as it starts (bad parameters, say) is a startup \
     error.",
    "The proxy writes one request per line, a JSON object, to the plugin's standard input and \
     reads one reply per line, a JSON object, from its standard output. Every request has a \
     numeric id and a method; the reply carries the same id and ok (true or false), plus \
     identity (who was authenticated, logged by the proxy), token and expires_at (seconds since \
     the Unix epoch) for get-token, and error (why not, logged by the proxy). Unknown fields are \
     ignored. Lines are at most 1 MiB.",
    "Methods: check-password (local SASL; fields mechanism, username, password), get-token \
     (gateway client: the token to send; it is reused until a minute before expires_at) and \
     verify-token (gateway server, and local OAUTHBEARER; field token; identity is the \
     principal and is required), and get-credentials (--sasl-credentials-plugin-command; \
     field principal: the client's local SASL user or certificate subject), answered with \
     mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER), identity (the upstream \
     user) and token (its password, or the bearer token), or ok false when the principal has \
     no upstream identity (the client is refused). It is asked for every login and \
     re-authentication.",
    "Local OAUTHBEARER (--auth-local-mechanisms with OAUTHBEARER): the proxy completes the \
     client's RFC 7628 exchange itself. The client's first message (n,[a=AUTHZID],^Aauth=Bearer \
     TOKEN^A^A) goes to --auth-local-token-command (else --auth-local-command) as verify-token; \
     the identity of the answer is the connection's principal, shown by the debug endpoint and \
     logged, and an AUTHZID the client gives must equal it. A refused token is answered, as \
     Kafka's broker does, with the challenge {\"status\":\"invalid_token\"}, then, after the \
     client's ^A, with SASL_AUTHENTICATION_FAILED. The built-in jwt-info verifies signed JWTs \
     (RS256, PS256, ES256; never alg none or HMAC) against a JWKS document: for example \
     --auth-local-mechanisms OAUTHBEARER --auth-local-command jwt-info --auth-local-param \
     --jwks-url=https://idp.example/jwks --auth-local-param --issuer=https://idp.example \
     --auth-local-param --audience=kafka. proxy_local_auth_total counts logins by mechanism and \
     result.",
    "get-token also gives the upstream SASL credentials of --sasl-plugin-enable: with \
     --sasl-plugin-mechanism OAUTHBEARER the token is the bearer token sent to brokers \
     (n,,^Aauth=Bearer TOKEN^A^A, RFC 7628); with PLAIN, identity is the user name and token the \
     password. The answer is reused for half the time left until its expires_at (60 seconds \
     without one), so every KIP-368 re-authentication, due at 85% of a broker session that ends \
     no later than the token, carries a fresh token.",
    "Calls are made one at a time. A call waits at most the plugin's --auth-*-timeout for the \
     calls before it to finish; one that waits longer is given up (the client is refused, the \
     plugin was busy) without the plugin being asked or harmed. Once its turn comes, a call has \
     a whole --auth-*-timeout of its own for the answer. A plugin that does not answer within \
     that, exits, or writes a line that is not a reply is killed (with its process group) and \
     the client is refused; the next call starts it again, after a back-off of up to 5 seconds \
     when it keeps dying young. So many clients at once (logins without valid credentials, \
     say) can make logins wait and fail as busy, but cannot get a plugin that answers in time \
     killed. What the plugin writes to standard error is logged a line at a time, at the level \
     the line starts with (ERROR, WARN, INFO, DEBUG, TRACE) or else at info, unless \
     --auth-*-log-level is less verbose. A plugin must never print a password or a token.",
    "A plugin's arguments can be read by every local user (ps, /proc/PID/cmdline): give it \
     secrets in files. The built-in plugins take auth-user --password-file FILE and auth-ldap \
     --bind-passwd-file FILE: the whole file is the password, less one line ending at its end, \
     so it may contain spaces (which --auth-local-param from its environment variable, split \
     at spaces, cannot carry). The inline forms --password and --bind-passwd still work, with \
     a warning in the log. The file is read once, when the plugin starts; it should be \
     readable only by the proxy's user.",
    "A plugin does not inherit the proxy's environment, where its own secrets are \
     (SASL_PASSWORD, TLS_CLIENT_KEY_PASSWORD, PROXY_LISTENER_KEY_PASSWORD, FORWARD_PROXY, ...). \
     It is started with only these of the proxy's variables, those that are set: PATH, HOME, \
     LANG, every LC_*, TZ and TMPDIR; HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (also in \
     lower case), through which google-id-provider and google-id-info reach Google's \
     endpoints, as other HTTP clients do; and SSL_CERT_FILE and SSL_CERT_DIR, where OpenSSL and \
     Go find CA certificates. A plugin that needs another variable can be run through env(1): \
     --auth-local-command /usr/bin/env --auth-local-param NAME=VALUE --auth-local-param \
     /path/to/plugin (the value then shows on the command line: never a secret).",
];

const PLUGIN_EXAMPLE: &str = "\
-> {\"id\":1,\"method\":\"check-password\",\"mechanism\":\"PLAIN\",\"username\":\"alice\",\"password\":\"s1\"}
<- {\"id\":1,\"ok\":true,\"identity\":\"alice\"}
-> {\"id\":2,\"method\":\"get-token\"}
<- {\"id\":2,\"ok\":true,\"token\":\"eyJhbGciOi...\",\"expires_at\":1767225600}
-> {\"id\":3,\"method\":\"verify-token\",\"token\":\"eyJhbGciOi...\"}
<- {\"id\":3,\"ok\":false,\"error\":\"token expired\"}
-> {\"id\":4,\"method\":\"get-credentials\",\"principal\":\"alice\"}
<- {\"id\":4,\"ok\":true,\"mechanism\":\"SCRAM-SHA-512\",\"identity\":\"alice\",\"token\":\"s3cret\"}";

/// A complete password plugin, `examples/plugins/auth-plain.py` in the source tree.
const PLUGIN_SCRIPT: &str = include_str!("../../examples/plugins/auth-plain.py");

fn man_plugins(out: &mut String) {
    out.push_str(".SH PLUGINS\n");
    for (i, paragraph) in PLUGIN_PROTOCOL.iter().enumerate() {
        if i > 0 {
            out.push_str(".PP\n");
        }
        let _ = writeln!(out, "{}", roff(paragraph));
    }
    out.push_str(".PP\nA conversation (-> to the plugin, <- from it):\n");
    let _ = writeln!(out, ".PP\n.RS\n.nf\n{}\n.fi\n.RE", roff(PLUGIN_EXAMPLE));
    out.push_str(".PP\nA complete plugin (examples/plugins/auth-plain.py):\n");
    let _ = writeln!(
        out,
        ".PP\n.RS\n.nf\n{}\n.fi\n.RE",
        roff(PLUGIN_SCRIPT.trim_end())
    );
}

/// The man page, `man/kafka-proxy.1`, in roff (man macros).
pub fn man_page() -> String {
    let mut out = String::new();
    out.push_str(
        ".\\\" Generated by kafka_proxy::config::man_page() from the flag table; do not edit.\n",
    );
    out.push_str(".\\\" Regenerate: KAFKA_PROXY_REGEN_MAN=1 cargo test --lib man_page\n");
    out.push_str(".TH KAFKA\\-PROXY 1 \"\" \"kafka\\-proxy\" \"User Commands\"\n");
    // No hyphenation, ragged right: flag names must not be split or stretched.
    out.push_str(".nh\n.ad l\n");
    out.push_str(".SH NAME\nkafka\\-proxy \\- a Kafka protocol proxy\n");
    out.push_str(".SH SYNOPSIS\n");
    let _ = writeln!(
        out,
        "{} {} {}\n.RI [ FLAGS ]\n.br",
        bold("kafka-proxy server"),
        bold("--bootstrap-server-mapping"),
        italic("BROKER,LISTEN[,ADVERTISED]"),
    );
    let _ = writeln!(out, "{}\n.br", bold("kafka-proxy version"));
    let _ = writeln!(out, "{} [{}]", bold("kafka-proxy help"), italic("COMMAND"));
    out.push_str(".br\n");
    let _ = writeln!(
        out,
        "{} [{} | {}]",
        bold("kafka-proxy"),
        bold("--help"),
        bold("--version")
    );
    out.push_str(".SH DESCRIPTION\n");
    let _ = writeln!(out, "{}", roff(ABOUT));
    out.push_str(".PP\n");
    let _ = writeln!(out, "{}", roff(SERVER.description));
    out.push_str(".PP\n");
    let _ = writeln!(out, "{}", roff(COMPATIBILITY));
    out.push_str(".SH COMMANDS\n");
    for c in COMMANDS {
        man_command(&mut out, c);
    }
    out.push_str(".SH SERVER FLAGS\n");
    let _ = writeln!(out, "{}", roff(ENV_NOTE));
    man_flags(&mut out, SERVER_FLAGS);
    out.push_str(".SS Other\n.TP\n");
    let _ = writeln!(out, "{}, {}", bold("-h"), bold("--help"));
    out.push_str("Prints the help of the command and exits.\n");
    man_plugins(&mut out);
    man_builtin_plugins(&mut out);
    man_tools(&mut out);
    out.push_str(".SH VALUES\n");
    for (term, text) in VALUE_FORMATS {
        let _ = writeln!(out, ".TP\n{}\n{}", italic(term), roff(text));
    }
    out.push_str(".SH UPGRADING\n");
    for (i, paragraph) in UPGRADING.iter().enumerate() {
        if i > 0 {
            out.push_str(".PP\n");
        }
        let _ = writeln!(out, "{}", roff(paragraph));
    }
    out.push_str(".SH EXIT STATUS\n");
    for (code, text) in EXIT_STATUS {
        let _ = writeln!(out, ".TP\n{}\n{}", bold(code), roff(text));
    }
    out.push_str(".SH ENVIRONMENT\n");
    let _ = writeln!(out, "{}", roff(ENV_NOTE));
    for f in SERVER_FLAGS {
        let _ = writeln!(
            out,
            ".TP\n{}\n{}",
            bold(f.env),
            bold(&format!("--{}", f.name))
        );
    }
    out.push_str(".SH EXAMPLES\n");
    for (text, command) in EXAMPLES {
        let _ = writeln!(
            out,
            ".PP\n{}\n.PP\n.RS\n.nf\n{}\n.fi\n.RE",
            roff(text),
            roff(command)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_help_lists_commands() {
        let h = top_help();
        for c in COMMANDS {
            assert!(h.contains(c.name) && h.contains(c.about), "{}", c.name);
        }
        assert!(h.contains("--version") && h.contains("--help"));
    }

    #[test]
    fn server_help_mentions_every_flag_env_and_default() {
        let h = command_help(&SERVER, SERVER_FLAGS);
        for f in SERVER_FLAGS {
            assert!(
                h.contains(&format!("    {}\n", f.synopsis())),
                "--{}",
                f.name
            );
            assert!(h.contains(&format!("[env: {}]", f.env)), "{}", f.env);
            if let Some(d) = f.default {
                assert!(h.contains(&format!("[default: {d}]")), "--{}", f.name);
            }
        }
        assert!(h.contains("[default: 15s] [env: KAFKA_DIAL_TIMEOUT]"));
        assert!(h.contains("[required] [repeatable] [env: BOOTSTRAP_SERVER_MAPPING]"));
        for line in h.lines() {
            assert!(line.chars().count() <= WIDTH, "too long: {line}");
        }
    }

    #[test]
    fn wrapping() {
        let mut out = String::new();
        wrap(&mut out, &"word ".repeat(40), 8);
        assert!(out.lines().count() > 1);
        assert!(out
            .lines()
            .all(|l| l.starts_with("        word") && l.len() <= WIDTH));
    }

    #[test]
    fn roff_escaping() {
        assert_eq!(roff("--a-b"), "\\-\\-a\\-b");
        assert_eq!(roff("a\\b"), "a\\eb");
        assert_eq!(roff(".x\n'y\nz."), "\\&.x\n\\&'y\nz.");
    }

    #[test]
    fn man_page_covers_everything() {
        let m = man_page();
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "COMMANDS",
            "SERVER FLAGS",
            "UPGRADING",
            "EXIT STATUS",
            "ENVIRONMENT",
            "EXAMPLES",
        ] {
            assert!(m.contains(&format!("\n.SH {section}\n")), "{section}");
        }
        for c in COMMANDS {
            let entry = format!(".TP\n\\fB{}\\fR\n{}.\n", roff(c.name), roff(c.about));
            assert!(m.contains(&entry), "{}", c.name);
        }
        for f in SERVER_FLAGS {
            assert!(m.contains(&bold(&format!("--{}", f.name))), "--{}", f.name);
            assert!(
                m.contains(&format!("Environment: {}.", bold(f.env))),
                "{}",
                f.env
            );
            if let Some(d) = f.default {
                assert!(
                    m.contains(&format!("Default: {}.", bold(d))),
                    "--{}",
                    f.name
                );
            }
        }
        assert!(m.contains(&roff(
            "kafka-proxy server --bootstrap-server-mapping \"127.0.0.1:9092,127.0.0.1:19092\""
        )));
        // Only requests and comments start with '.', never text.
        for line in m.lines() {
            assert!(!line.starts_with('\''), "{line}");
            if let Some(rest) = line.strip_prefix('.') {
                let request = rest.split(' ').next().unwrap_or("");
                assert!(
                    [
                        "\\\"", "TH", "SH", "SS", "TP", "PP", "br", "RS", "RE", "nf", "fi", "RI",
                        "nh", "ad",
                    ]
                    .contains(&request),
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn plugin_help_mentions_every_flag_and_default() {
        for p in plugin_flags::ALL {
            let h = plugin_help(p);
            for f in p.flags {
                assert!(
                    h.contains(&format!("    {}\n", f.synopsis())),
                    "--{}",
                    f.name
                );
                if let Some(d) = f.default {
                    assert!(h.contains(&format!("[default: {d}]")), "--{}", f.name);
                }
            }
            for line in h.lines() {
                assert!(line.chars().count() <= WIDTH, "too long: {line}");
            }
        }
        let h = command_help::<()>(&super::super::parse::PLUGIN, &[]);
        for p in plugin_flags::ALL {
            assert!(h.contains(&format!("    {}", p.name)), "{}", p.name);
        }
    }

    #[test]
    fn man_page_lists_builtin_plugin_flags() {
        let m = man_page();
        assert!(m.contains("\n.SH BUILT-IN PLUGINS\n"));
        for p in plugin_flags::ALL {
            let heading = format!(
                ".SS {}\n",
                roff(&format!("kafka-proxy plugin {} [FLAGS]", p.name))
            );
            let section = &m[m.find(&heading).unwrap_or_else(|| panic!("{}", p.name))..];
            let section = &section[..section[heading.len()..]
                .find(".SS")
                .map_or(section.len(), |i| i + heading.len())];
            for f in p.flags {
                assert!(
                    section.contains(&bold(&format!("--{}", f.name))),
                    "{} --{}",
                    p.name,
                    f.name
                );
            }
        }
    }

    /// The committed man page must be what [`man_page`] renders now.
    #[test]
    fn man_page_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/man/kafka-proxy.1");
        let want = man_page();
        if std::env::var_os("KAFKA_PROXY_REGEN_MAN").is_some() {
            std::fs::write(path, &want).expect("write man/kafka-proxy.1");
            return;
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "man/kafka-proxy.1 is out of date with the flag table; regenerate it with\n    \
             KAFKA_PROXY_REGEN_MAN=1 cargo test --lib man_page\nand commit the result"
        );
    }

    /// groff, where installed, renders the page without warnings.
    #[test]
    fn man_page_renders_cleanly() {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let child = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            eprintln!("groff not installed; skipping");
            return;
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(man_page().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
    }
}
