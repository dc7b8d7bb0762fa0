//! KRB-ERROR codes (RFC 4120 section 7.5.9) as sentences an operator can act on: which
//! principal, which KDC, what to check.

use super::messages::KrbError;

pub const KDC_ERR_C_PRINCIPAL_UNKNOWN: i32 = 6;
pub const KDC_ERR_S_PRINCIPAL_UNKNOWN: i32 = 7;
pub const KDC_ERR_ETYPE_NOSUPP: i32 = 14;
pub const KDC_ERR_CLIENT_REVOKED: i32 = 18;
pub const KDC_ERR_KEY_EXPIRED: i32 = 23;
pub const KDC_ERR_PREAUTH_FAILED: i32 = 24;
pub const KDC_ERR_PREAUTH_REQUIRED: i32 = 25;
pub const KRB_AP_ERR_BAD_INTEGRITY: i32 = 31;
pub const KRB_AP_ERR_TKT_EXPIRED: i32 = 32;
pub const KRB_AP_ERR_SKEW: i32 = 37;
pub const KRB_AP_ERR_MODIFIED: i32 = 41;
pub const KDC_ERR_WRONG_REALM: i32 = 68;

/// Who asked what of whom, for the message.
pub struct Context<'a> {
    pub client: &'a str,
    pub service: &'a str,
    pub kdc: &'a str,
    /// Where the client's key came from: the keytab path or "--gssapi-password".
    pub key_source: &'a str,
    /// The local clock, seconds since the epoch.
    pub now: i64,
}

/// The advice for a key that is not the principal's (the KDC's PREAUTH_FAILED, or an AS-REP
/// that does not decrypt when the KDC asks for no pre-authentication).
pub fn wrong_key(client: &str, source: &str) -> String {
    let why = if source.starts_with("keytab") {
        "the keytab was exported before the principal was re-keyed (export it again with \
         kadmin ktadd)"
    } else {
        "a wrong password"
    };
    format!("the key from {source} is not {client}'s current key: {why}")
}

/// The KDC's error as a log line.
pub fn explain(e: &KrbError, c: &Context<'_>) -> String {
    let (name, advice) = advice(e, c);
    let mut out = format!(
        "Kerberos KDC {} refused {} for {}: {name} (error {})",
        c.kdc, c.client, c.service, e.code
    );
    if let Some(text) = e.e_text.as_deref().filter(|t| !t.is_empty()) {
        out.push_str(&format!(" \"{}\"", crate::logging::peer_text(text)));
    }
    out.push_str(": ");
    out.push_str(&advice);
    out
}

fn advice(e: &KrbError, c: &Context<'_>) -> (&'static str, String) {
    match e.code {
        KDC_ERR_C_PRINCIPAL_UNKNOWN => (
            "KDC_ERR_C_PRINCIPAL_UNKNOWN",
            format!(
                "the realm has no principal {}: check --gssapi-username and --gssapi-realm \
                 (kadmin: addprinc)",
                c.client
            ),
        ),
        KDC_ERR_S_PRINCIPAL_UNKNOWN => (
            "KDC_ERR_S_PRINCIPAL_UNKNOWN",
            format!(
                "the realm has no service principal {}: check --gssapi-servicename, the broker \
                 host name the proxy dials and --gssapi-spn-host-mapping",
                c.service
            ),
        ),
        KDC_ERR_PREAUTH_FAILED | KRB_AP_ERR_BAD_INTEGRITY => (
            if e.code == KDC_ERR_PREAUTH_FAILED {
                "KDC_ERR_PREAUTH_FAILED"
            } else {
                "KRB_AP_ERR_BAD_INTEGRITY"
            },
            wrong_key(c.client, c.key_source),
        ),
        KRB_AP_ERR_SKEW => (
            "KRB_AP_ERR_SKEW",
            format!(
                "the clocks differ by {} seconds (the KDC says {}, this host {}), more than \
                 the realm allows: synchronise this host's clock (NTP) with the KDC's",
                (e.stime - c.now).abs(),
                crate::net::tls::crl::format_utc(e.stime),
                crate::net::tls::crl::format_utc(c.now)
            ),
        ),
        KDC_ERR_ETYPE_NOSUPP => (
            "KDC_ERR_ETYPE_NOSUPP",
            format!(
                "the KDC has no AES key for {}: this proxy supports aes256-cts-hmac-sha1-96 \
                 and aes128-cts-hmac-sha1-96 only (re-key the principal with those enctypes)",
                c.client
            ),
        ),
        KDC_ERR_CLIENT_REVOKED => (
            "KDC_ERR_CLIENT_REVOKED",
            format!("{} is locked or disabled in the realm", c.client),
        ),
        KDC_ERR_KEY_EXPIRED => (
            "KDC_ERR_KEY_EXPIRED",
            format!("the password of {} has expired: change it", c.client),
        ),
        KRB_AP_ERR_TKT_EXPIRED => (
            "KRB_AP_ERR_TKT_EXPIRED",
            "the ticket expired (the proxy gets a new one on the next login)".into(),
        ),
        KRB_AP_ERR_MODIFIED => (
            "KRB_AP_ERR_MODIFIED",
            "the KDC could not decrypt the request (a key mismatch between KDCs?)".into(),
        ),
        KDC_ERR_WRONG_REALM => (
            "KDC_ERR_WRONG_REALM",
            format!(
                "the KDC does not serve realm {}: check --gssapi-realm and krb5.conf",
                e.realm
            ),
        ),
        _ => ("an error", "see RFC 4120 section 7.5.9".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: i32) -> KrbError {
        KrbError {
            code,
            stime: 1_800_000_000,
            realm: "R.TEST".into(),
            sname: vec!["krbtgt".into(), "R.TEST".into()],
            e_text: Some("text\nfrom kdc".into()),
            e_data: None,
        }
    }

    const CONTEXT: Context<'static> = Context {
        client: "proxy@R.TEST",
        service: "kafka/broker1@R.TEST",
        kdc: "127.0.0.1:88",
        key_source: "keytab /etc/proxy.keytab",
        now: 1_800_003_600,
    };

    #[test]
    fn each_error_names_the_principal_the_kdc_and_a_fix() {
        let text = |code| explain(&error(code), &CONTEXT);
        let unknown = text(6);
        assert!(
            unknown.contains("KDC_ERR_C_PRINCIPAL_UNKNOWN")
                && unknown.contains("127.0.0.1:88")
                && unknown.contains("no principal proxy@R.TEST")
                && unknown.contains("--gssapi-username"),
            "{unknown}"
        );
        // The KDC's text is quoted, its control characters escaped.
        assert!(!unknown.contains('\n'), "{unknown}");
        assert!(text(7).contains("no service principal kafka/broker1@R.TEST"));
        for code in [24, 31] {
            let t = text(code);
            assert!(
                t.contains("keytab /etc/proxy.keytab") && t.contains("re-keyed"),
                "{t}"
            );
        }
        let skew = text(37);
        assert!(
            skew.contains("KRB_AP_ERR_SKEW") && skew.contains("differ by 3600 seconds"),
            "{skew}"
        );
        assert!(text(14).contains("aes256-cts-hmac-sha1-96"));
        assert!(text(99).contains("error 99"));
    }
}
