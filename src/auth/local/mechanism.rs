//! The SASL mechanisms of local authentication (`--auth-local-mechanisms`): what each client
//! message is, which plugin request checks it, and the logins counted by mechanism and result.

use super::parse_plain;
use crate::auth::oauthbearer::server::parse_client_first;
use crate::plugin::Request;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616: a user name and password, checked with `check-password`.
    Plain,
    /// RFC 7628: a bearer token, checked with `verify-token`.
    OAuthBearer,
}

impl Mechanism {
    pub const ALL: [Mechanism; 2] = [Mechanism::Plain, Mechanism::OAuthBearer];

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    fn index(mechanism: Option<Mechanism>) -> usize {
        match mechanism {
            Some(Mechanism::Plain) => 0,
            Some(Mechanism::OAuthBearer) => 1,
            None => 2,
        }
    }
}

/// What a client's SASL message asks the plugin, and how to name the client in the log.
pub(super) struct Claim {
    /// `user "alice"` or `an OAUTHBEARER token`, for log lines.
    pub who: String,
    pub request: Request,
    /// The identity when the plugin names none (PLAIN: the user name). A token plugin must
    /// name the principal.
    pub identity: Option<String>,
    /// OAUTHBEARER: the authorization identity the client asked for; it must be the principal.
    pub authzid: Option<String>,
}

/// Reads `message` as `mechanism` prescribes; `Err` says why it is malformed.
pub(super) fn claim(mechanism: Mechanism, message: &[u8]) -> Result<Claim, String> {
    match mechanism {
        Mechanism::Plain => {
            let c = parse_plain(message).map_err(|e| e.to_string())?;
            Ok(Claim {
                who: format!("user {:?}", c.username),
                identity: Some(c.username.clone()),
                authzid: None,
                request: Request::CheckPassword {
                    mechanism: Mechanism::Plain.name().into(),
                    username: c.username,
                    password: c.password,
                },
            })
        }
        Mechanism::OAuthBearer => {
            let first = parse_client_first(message)
                .map_err(|e| format!("malformed OAUTHBEARER message: {e}"))?;
            Ok(Claim {
                who: "an OAUTHBEARER token".into(),
                identity: None,
                authzid: first.authzid,
                request: Request::VerifyToken { token: first.token },
            })
        }
    }
}

/// Local logins by mechanism (or none chosen yet) and result, for the metrics endpoint.
pub struct LoginCounts {
    ok: [AtomicU64; 3],
    failed: [AtomicU64; 3],
}

/// Every local login of this process.
pub static LOGINS: LoginCounts = LoginCounts {
    ok: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
    failed: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
};

impl LoginCounts {
    pub fn count(&self, mechanism: Option<Mechanism>, ok: bool) {
        let row = if ok { &self.ok } else { &self.failed };
        row[Mechanism::index(mechanism)].fetch_add(1, Ordering::Relaxed);
    }

    /// `(mechanism, result, count)` for each mechanism (`none`: the client failed before it
    /// chose one) and result (`ok`, `failed`).
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mechanisms = [Some(Mechanism::Plain), Some(Mechanism::OAuthBearer), None];
        let mut out = Vec::new();
        for m in mechanisms {
            let name = m.map_or("none", Mechanism::name);
            let i = Mechanism::index(m);
            out.push((name, "ok", self.ok[i].load(Ordering::Relaxed)));
            out.push((name, "failed", self.failed[i].load(Ordering::Relaxed)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_of_each_mechanism() {
        let plain = claim(Mechanism::Plain, b"\0alice\0pw").unwrap();
        assert_eq!(plain.who, "user \"alice\"");
        assert_eq!(plain.identity.as_deref(), Some("alice"));
        assert!(
            matches!(plain.request, Request::CheckPassword { ref password, .. } if password == "pw")
        );
        let token = claim(
            Mechanism::OAuthBearer,
            b"n,a=bob,\x01auth=Bearer t0k\x01\x01",
        )
        .unwrap();
        assert_eq!(token.identity, None);
        assert_eq!(token.authzid.as_deref(), Some("bob"));
        assert!(matches!(token.request, Request::VerifyToken { ref token } if token == "t0k"));
        assert!(!format!("{:?}", token.request).contains("t0k"));
        assert!(claim(Mechanism::OAuthBearer, b"\0alice\0pw").is_err());
        assert!(claim(Mechanism::Plain, b"n,,\x01auth=Bearer t\x01\x01").is_err());
        assert_eq!(
            Mechanism::from_name("OAUTHBEARER"),
            Some(Mechanism::OAuthBearer)
        );
        assert_eq!(Mechanism::from_name("oauthbearer"), None);
    }

    #[test]
    fn counts_by_mechanism_and_result() {
        let counts = LoginCounts {
            ok: Default::default(),
            failed: Default::default(),
        };
        counts.count(Some(Mechanism::OAuthBearer), true);
        counts.count(Some(Mechanism::OAuthBearer), false);
        counts.count(Some(Mechanism::OAuthBearer), false);
        counts.count(None, false);
        let snapshot = counts.snapshot();
        assert_eq!(snapshot.len(), 6);
        assert!(snapshot.contains(&("OAUTHBEARER", "ok", 1)));
        assert!(snapshot.contains(&("OAUTHBEARER", "failed", 2)));
        assert!(snapshot.contains(&("PLAIN", "ok", 0)));
        assert!(snapshot.contains(&("none", "failed", 1)));
    }
}
