//! The built-in plugins (`kafka-proxy plugin NAME [FLAGS]`): their names, the cargo features
//! they need, and their flag tables. The plugins parse their flags from these tables (with
//! `PluginFlags`, next to the plugins), and `kafka-proxy plugin NAME --help` and the man page
//! render them, so none of the three can list a flag the others do not.
//!
//! This is configuration, not plugin code: the server's flags refuse a `--auth-*-command` that
//! names a plugin left out of the build, and the help lists every plugin, so the facts live
//! here and the plugins depend on them, not the other way round.

use super::flags::FlagKind;

pub const AUTH_USER: &str = "auth-user";
pub const AUTH_LDAP: &str = "auth-ldap";
pub const GOOGLE_ID_PROVIDER: &str = "google-id-provider";
pub const GOOGLE_ID_INFO: &str = "google-id-info";
pub const UNSECURED_JWT_PROVIDER: &str = "unsecured-jwt-provider";
pub const OIDC_PROVIDER: &str = "oidc-provider";
pub const JWT_INFO: &str = "jwt-info";

/// Where `google-id-provider` exchanges its assertion when neither `--token-url` nor the
/// credentials file's `token_uri` says.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The default `--certs-url` of `google-id-info`.
pub const DEFAULT_CERTS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// The default `--issuer` of `google-id-info`.
pub const DEFAULT_ISSUERS: &str = "accounts.google.com,https://accounts.google.com";

/// A flag of a built-in plugin. Plugins read no environment variables: the proxy starts them
/// with a pruned environment, and their flags come from `--auth-*-param`.
pub struct PluginFlag {
    /// The long name without dashes, e.g. `user-search-base`.
    pub name: &'static str,
    /// The value's placeholder in help; empty for switches.
    pub value_name: &'static str,
    /// The value used when the flag is not given (`None`: no value); read through
    /// `PluginFlags::value` and `PluginFlags::duration`, and shown in help.
    pub default: Option<&'static str>,
    /// One paragraph; `--help` wraps it, the man page fills it.
    pub help: &'static str,
    /// [`FlagKind::Switch`], [`FlagKind::Value`] (at most once) or [`FlagKind::Repeated`].
    pub kind: FlagKind,
    /// Shown as required in help; the plugin itself checks it (some requirements are "this or
    /// that", which a table cannot say).
    pub required: bool,
}

impl PluginFlag {
    /// How the flag and its value are written, e.g. `--url URL`.
    pub fn synopsis(&self) -> String {
        if self.value_name.is_empty() {
            format!("--{}", self.name)
        } else {
            format!("--{} {}", self.name, self.value_name)
        }
    }
}

/// A built-in plugin: its name, the cargo feature it needs, and its flags.
pub struct BuiltinPlugin {
    pub name: &'static str,
    /// The cargo feature that builds it; `None`: always built.
    pub feature: Option<&'static str>,
    /// One line, for `--help`.
    pub about: &'static str,
    /// A paragraph for `--help` and the man page.
    pub description: &'static str,
    pub flags: &'static [PluginFlag],
}

impl BuiltinPlugin {
    pub fn flag(&self, name: &str) -> Option<&'static PluginFlag> {
        self.flags.iter().find(|f| f.name == name)
    }
}

const fn value(
    name: &'static str,
    value_name: &'static str,
    default: Option<&'static str>,
    help: &'static str,
) -> PluginFlag {
    PluginFlag {
        name,
        value_name,
        default,
        help,
        kind: FlagKind::Value,
        required: false,
    }
}

const fn required(name: &'static str, value_name: &'static str, help: &'static str) -> PluginFlag {
    PluginFlag {
        required: true,
        ..value(name, value_name, None, help)
    }
}

const TIMEOUT_HELP: &str = "Each HTTP request must be answered within this.";

pub const AUTH_USER_PLUGIN: BuiltinPlugin = BuiltinPlugin {
    name: AUTH_USER,
    feature: None,
    about: "One static user (local authentication)",
    description: "Answers check-password: a client is let in when its user name and password \
                  are the ones given, compared in constant time.",
    flags: &[
        required("username", "USER", "The user name let in."),
        value(
            "password-file",
            "FILE",
            None,
            "The password, read from FILE when the plugin starts: the whole file, less one \
             line ending at its end. Required, unless --password is given.",
        ),
        value(
            "password",
            "PASSWORD",
            None,
            "The password itself, instead of --password-file. It shows in process listings, \
             so the plugin warns.",
        ),
    ],
};

pub const AUTH_LDAP_PLUGIN: BuiltinPlugin = BuiltinPlugin {
    name: AUTH_LDAP,
    feature: Some("ldap"),
    about: "LDAP passwords (local authentication)",
    description: "Answers check-password with a simple bind to an LDAP server, on a fresh \
                  connection per check. The user's entry is either ATTR=USER,DN (--user-dn, \
                  --user-attr) or found by a search of the subtree under --user-search-base \
                  with --user-filter, as --bind-dn or anonymously, which must find exactly one \
                  entry.",
    flags: &[
        required(
            "url",
            "URL",
            "The server: ldap://host[:port] (port 389 by default) or ldaps://host[:port] \
             (TLS from the start, port 636 by default).",
        ),
        PluginFlag {
            name: "start-tls",
            value_name: "",
            default: None,
            help: "Upgrades an ldap:// connection to TLS with StartTLS before binding.",
            kind: FlagKind::Switch,
            required: false,
        },
        value(
            "ca-cert-file",
            "FILE",
            None,
            "Verifies the server against the CA certificates in this PEM file rather than the \
             built-in web roots.",
        ),
        value(
            "timeout",
            "DURATION",
            Some("10s"),
            "Each check, connection included, must finish within this.",
        ),
        value(
            "user-dn",
            "DN",
            None,
            "Binds as ATTR=USER,DN, the user name escaped as a DN value. Excludes \
             --user-search-base.",
        ),
        value(
            "user-attr",
            "ATTR",
            Some("uid"),
            "The attribute that names the user under --user-dn.",
        ),
        value(
            "user-search-base",
            "DN",
            None,
            "Searches the subtree under DN with --user-filter, then binds as the one entry \
             found. Excludes --user-dn.",
        ),
        value(
            "user-filter",
            "FILTER",
            Some("(uid=%u)"),
            "The filter of --user-search-base; %u stands for the user name, escaped so that it \
             matches only itself.",
        ),
        value(
            "bind-dn",
            "DN",
            None,
            "Binds as DN (with --bind-passwd-file) before the search of --user-search-base; \
             without it the search is anonymous.",
        ),
        value(
            "bind-passwd-file",
            "FILE",
            None,
            "The password of --bind-dn, read from FILE when the plugin starts: the whole file, \
             less one line ending at its end.",
        ),
        value(
            "bind-passwd",
            "PASSWORD",
            None,
            "The password of --bind-dn itself, instead of --bind-passwd-file. It shows in \
             process listings, so the plugin warns.",
        ),
    ],
};

pub const GOOGLE_ID_PROVIDER_PLUGIN: BuiltinPlugin = BuiltinPlugin {
    name: GOOGLE_ID_PROVIDER,
    feature: Some("google-id"),
    about: "Gets Google ID tokens (gateway client)",
    description: "Answers get-token with a Google ID token for a service account: it signs a \
                  JWT assertion with the account's key, exchanges it at the token endpoint, and \
                  reuses the token until shortly before it expires.",
    flags: &[
        required(
            "credentials-file",
            "FILE",
            "The service account's JSON key file.",
        ),
        required(
            "target-audience",
            "AUDIENCE",
            "The audience (aud) of the tokens asked for.",
        ),
        value(
            "token-url",
            "URL",
            None,
            "The token endpoint; by default the token_uri of the credentials file, else \
             https://oauth2.googleapis.com/token.",
        ),
        value("timeout", "DURATION", Some("10s"), TIMEOUT_HELP),
    ],
};

pub const GOOGLE_ID_INFO_PLUGIN: BuiltinPlugin = BuiltinPlugin {
    name: GOOGLE_ID_INFO,
    feature: Some("google-id"),
    about: "Verifies Google ID tokens (gateway server)",
    description: "Answers verify-token: a token is accepted when it is signed (RS256) by one of \
                  the published keys, for one of the audiences, from one of the issuers, not \
                  expired, and its email fully matches one of the --email-regex patterns.",
    flags: &[
        required(
            "audience",
            "AUDIENCE[,AUDIENCE]",
            "The audiences (aud) accepted, separated by commas.",
        ),
        PluginFlag {
            name: "email-regex",
            value_name: "REGEX",
            default: None,
            help: "The emails let in: a token's email must match one of these patterns whole. \
                   Without one any Google account's token would be accepted.",
            kind: FlagKind::Repeated,
            required: true,
        },
        value(
            "certs-url",
            "URL",
            Some(DEFAULT_CERTS_URL),
            "The JWKS document of the signing keys.",
        ),
        value(
            "issuer",
            "ISSUER[,ISSUER]",
            Some(DEFAULT_ISSUERS),
            "The issuers (iss) accepted, separated by commas.",
        ),
        value(
            "refresh-interval",
            "DURATION",
            Some("1h"),
            "Fetches the keys again this often (and on a token signed by a key not seen yet).",
        ),
        value("timeout", "DURATION", Some("10s"), TIMEOUT_HELP),
    ],
};

pub const UNSECURED_JWT_PROVIDER_PLUGIN: BuiltinPlugin = BuiltinPlugin {
    name: UNSECURED_JWT_PROVIDER,
    feature: None,
    about: "Unsigned JWTs (upstream OAUTHBEARER)",
    description: "Answers get-token with a new unsecured JWT (header alg none, empty \
                  signature) with the claims sub, iat and exp, and scope when given: the tokens \
                  Kafka's default OAUTHBEARER validator (OAuthBearerUnsecuredValidatorCallbackHandler) \
                  accepts. For tests and development only: anyone can make such a token.",
    flags: &[
        required("claim-sub", "SUBJECT", "The subject (sub) claim: the principal the broker sees."),
        value(
            "lifetime",
            "DURATION",
            Some("1h"),
            "How long each token is valid: exp is iat plus this.",
        ),
        value(
            "scope",
            "SCOPE",
            None,
            "The scope claim, space-separated scopes as one string; none by default.",
        ),
    ],
};

pub const OIDC_PROVIDER_PLUGIN: BuiltinPlugin = BuiltinPlugin {
    name: OIDC_PROVIDER,
    feature: Some("oidc"),
    about: "OAuth 2 client-credentials tokens",
    description: "Answers get-token with an access token from an OAuth 2 token endpoint \
                  (client-credentials grant, the client authenticated with HTTP Basic), with \
                  expires_at from the answer's expires_in. The credentials file is JSON: \
                  client_id, client_secret, token_url and scopes (a list), as grepplabs' \
                  oidc-provider reads it.",
    flags: &[
        required(
            "credentials-file",
            "FILE",
            "The JSON file with client_id, client_secret, token_url and scopes.",
        ),
        value(
            "target-audience",
            "AUDIENCE",
            None,
            "Sent as the audience parameter of the token request when given.",
        ),
        value(
            "timeout",
            "DURATION",
            Some("10s"),
            "Each token request must be answered within this; a bare number is seconds, as in \
             grepplabs.",
        ),
        PluginFlag {
            name: "credentials-watch",
            value_name: "",
            default: None,
            help: "Reads the credentials file again for each token, so a rotated secret is \
                   used; on unless --credentials-watch=false.",
            kind: FlagKind::Switch,
            required: false,
        },
    ],
};

pub const JWT_INFO_PLUGIN: BuiltinPlugin = BuiltinPlugin {
    name: JWT_INFO,
    feature: Some("oidc"),
    about: "Verifies signed JWTs (local OAUTHBEARER)",
    description: "Answers verify-token: a token is accepted when it is signed (RS256, PS256 or \
                  ES256) by a key of the JWKS document (--jwks-url or --jwks-file) with the \
                  token's key id, its iss is --issuer, its aud holds --audience, it has not \
                  expired (exp) and is already valid (nbf, iat), each within --skew. The \
                  principal is its --claim. alg none, HMAC (HS256...) and every other \
                  algorithm are refused. The keys are read at start, again every \
                  --refresh-interval, and on a token with an unknown key id (at most every 5 \
                  seconds); a failed read keeps the last good keys.",
    flags: &[
        value(
            "jwks-url",
            "URL",
            None,
            "The JWKS document of the signing keys, over HTTP(S). This or --jwks-file is \
             required.",
        ),
        value(
            "jwks-file",
            "FILE",
            None,
            "The JWKS document of the signing keys, in a file.",
        ),
        required("issuer", "ISSUER", "The issuer (iss) a token must have."),
        required(
            "audience",
            "AUDIENCE",
            "The audience a token's aud (a string or a list) must hold.",
        ),
        value(
            "claim",
            "CLAIM",
            Some("sub"),
            "The claim whose value (a string) is the principal.",
        ),
        value(
            "skew",
            "DURATION",
            Some("30s"),
            "Tolerated clock difference for exp, nbf and iat.",
        ),
        value(
            "refresh-interval",
            "DURATION",
            Some("1h"),
            "Reads the keys again this often (and on a token signed by a key not seen yet).",
        ),
        value("timeout", "DURATION", Some("10s"), TIMEOUT_HELP),
    ],
};

/// Every built-in plugin of the full build, so that a build without one can say why it is
/// missing rather than take the name for a path.
pub static ALL: &[BuiltinPlugin] = &[
    AUTH_USER_PLUGIN,
    AUTH_LDAP_PLUGIN,
    GOOGLE_ID_PROVIDER_PLUGIN,
    GOOGLE_ID_INFO_PLUGIN,
    UNSECURED_JWT_PROVIDER_PLUGIN,
    OIDC_PROVIDER_PLUGIN,
    JWT_INFO_PLUGIN,
];

/// The built-in plugins of this build: `--auth-local-command auth-user` runs this binary as
/// `kafka-proxy plugin auth-user PARAMS...`. Those of cargo features left out are not here
/// ([`ALL`] has every one).
pub const BUILTIN_PLUGINS: &[&str] = &[
    AUTH_USER,
    #[cfg(feature = "ldap")]
    AUTH_LDAP,
    #[cfg(feature = "google-id")]
    GOOGLE_ID_PROVIDER,
    #[cfg(feature = "google-id")]
    GOOGLE_ID_INFO,
    UNSECURED_JWT_PROVIDER,
    #[cfg(feature = "oidc")]
    OIDC_PROVIDER,
    #[cfg(feature = "oidc")]
    JWT_INFO,
];

/// The built-in plugin called `name`, built or not.
pub fn find(name: &str) -> Option<&'static BuiltinPlugin> {
    ALL.iter().find(|p| p.name == name)
}

/// The cargo feature that built-in plugin `name` needs when this build was made without it;
/// `None` for a plugin that is built in and for a name that is no built-in plugin.
pub fn missing_feature(name: &str) -> Option<&'static str> {
    find(name)
        .and_then(|p| p.feature)
        .filter(|_| !BUILTIN_PLUGINS.contains(&name))
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
        .filter_map(|p| missing_feature(p.name).map(|f| format!("{} (`{f}` feature)", p.name)))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "Not in this build, which was made without their cargo features: {}.",
            missing.join(", ")
        )
    })
}

/// Whether the arguments of built-in plugin `plugin` ask for its help: `--help` or `-h` among
/// its flags, before anything it would refuse. What the plugin refuses is left to the plugin,
/// which reports it in its own words when it runs.
pub fn asks_for_help(plugin: &BuiltinPlugin, args: &[std::ffi::OsString]) -> bool {
    use lexopt::Arg;
    let mut parser = lexopt::Parser::from_args(args.iter().cloned());
    while let Ok(Some(arg)) = parser.next() {
        match arg {
            Arg::Short('h') | Arg::Long("help") => return true,
            Arg::Long(name) => match plugin.flag(name).map(|f| f.kind) {
                Some(FlagKind::Switch) => {
                    let _ = parser.optional_value();
                }
                Some(_) => {
                    if parser.value().is_err() {
                        return false;
                    }
                }
                None => return false,
            },
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_consistent() {
        let mut names = std::collections::HashSet::new();
        for p in ALL {
            assert!(names.insert(p.name), "{} listed twice", p.name);
            assert!(p.description.ends_with('.'), "{}", p.name);
            let mut flags = std::collections::HashSet::new();
            for f in p.flags {
                assert!(flags.insert(f.name), "{} --{} listed twice", p.name, f.name);
                assert!(f.name != "help", "{}: --help is everyone's", p.name);
                assert!(
                    !f.help.is_empty() && f.help.ends_with('.'),
                    "{} --{}",
                    p.name,
                    f.name
                );
                assert!(!f.help.contains("  "), "{} --{}", p.name, f.name);
                assert_ne!(f.kind, FlagKind::List, "{} --{}", p.name, f.name);
                assert_eq!(
                    f.value_name.is_empty(),
                    f.kind == FlagKind::Switch,
                    "{} --{}",
                    p.name,
                    f.name
                );
                if let Some(d) = f.default {
                    if f.value_name == "DURATION" {
                        super::super::value::parse_duration(d).unwrap();
                    }
                }
            }
        }
    }

    #[test]
    fn help_is_found_among_the_flags() {
        let args = |a: &[&str]| -> Vec<std::ffi::OsString> { a.iter().map(Into::into).collect() };
        let p = &AUTH_LDAP_PLUGIN;
        for yes in [
            &["--help"][..],
            &["-h"],
            &["--url", "ldap://x", "--help"],
            &["--start-tls", "--help"],
            &["--url=ldap://x", "-h", "--nope"],
        ] {
            assert!(asks_for_help(p, &args(yes)), "{yes:?}");
        }
        for no in [
            &[][..],
            &["--url", "--help"],
            &["--nope", "--help"],
            &["stray", "--help"],
            &["--url"],
        ] {
            assert!(!asks_for_help(p, &args(no)), "{no:?}");
        }
    }
}
