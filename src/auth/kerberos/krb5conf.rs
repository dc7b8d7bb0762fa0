//! The part of krb5.conf (`--gssapi-krb5`) this client reads: `[libdefaults] default_realm`
//! and each realm's `kdc = host[:port]` lines in `[realms]`, tried in order. Everything else
//! (dns_lookup_kdc, enctype lists, `[domain_realm]`, includes) is ignored: the KDCs must be
//! listed, and the enctypes are AES-CTS-HMAC-SHA1 whatever the file says.

use crate::config::HostPort;

/// A krb5.conf is a few KiB.
const MAX_CONF: u64 = 1 << 20;
/// KDC lines kept per realm.
const MAX_KDCS: usize = 16;
pub const KDC_PORT: u16 = 88;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Krb5Conf {
    pub default_realm: Option<String>,
    /// (realm, its KDCs in file order).
    pub realms: Vec<(String, Vec<HostPort>)>,
}

impl Krb5Conf {
    pub fn read(path: &std::path::Path) -> Result<Krb5Conf, String> {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_CONF).read_to_string(&mut text))
            .map_err(|e| format!("cannot read {} (--gssapi-krb5): {e}", path.display()))?;
        Ok(Krb5Conf::parse(&text))
    }

    pub fn parse(text: &str) -> Krb5Conf {
        let mut conf = Krb5Conf::default();
        let mut section = String::new();
        let mut realm: Option<usize> = None;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_ascii_lowercase();
                realm = None;
                continue;
            }
            if line.starts_with('}') {
                realm = None;
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match section.as_str() {
                "libdefaults" if key == "default_realm" => {
                    conf.default_realm = Some(value.to_string());
                }
                "realms" if value.starts_with('{') => {
                    conf.realms.push((key.to_string(), Vec::new()));
                    realm = Some(conf.realms.len() - 1);
                }
                "realms" if key == "kdc" => {
                    if let Some(kdcs) = realm.map(|i| &mut conf.realms[i].1) {
                        if let (Some(kdc), true) = (parse_kdc(value), kdcs.len() < MAX_KDCS) {
                            kdcs.push(kdc);
                        }
                    }
                }
                _ => {}
            }
        }
        conf
    }

    /// The KDCs of `realm` (realm names are case-sensitive), or why there are none.
    pub fn kdcs(&self, realm: &str, path: &std::path::Path) -> Result<Vec<HostPort>, String> {
        match self.realms.iter().find(|(r, _)| r == realm) {
            Some((_, kdcs)) if !kdcs.is_empty() => Ok(kdcs.clone()),
            _ => Err(format!(
                "{} lists no KDC for realm {realm}{} (add `{realm} = {{ kdc = host:port }}` \
                 under [realms]; DNS lookup of KDCs is not supported)",
                path.display(),
                match &self.default_realm {
                    Some(d) if d != realm =>
                        format!(" (its default_realm is {d}: --gssapi-realm?)"),
                    _ => String::new(),
                }
            )),
        }
    }
}

/// `host`, `host:port`, `[v6]:port`; a `tcp/` or `udp/` prefix is dropped.
fn parse_kdc(value: &str) -> Option<HostPort> {
    let value = value
        .strip_prefix("tcp/")
        .or_else(|| value.strip_prefix("udp/"))
        .unwrap_or(value);
    if let Some(rest) = value.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => KDC_PORT,
        };
        return Some(HostPort {
            host: host.to_string(),
            port,
        });
    }
    let (host, port) = match value.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()?),
        _ => (value, KDC_PORT),
    };
    (!host.is_empty()).then(|| HostPort {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_realms_and_kdcs_in_order() {
        let conf = Krb5Conf::parse(
            "# comment\n[libdefaults]\n default_realm = EXAMPLE.TEST\n dns_lookup_kdc = true\n\
             [realms]\n EXAMPLE.TEST = {\n  kdc = kdc1.example.test:8888\n  kdc = tcp/kdc2\n  \
             admin_server = x\n }\n OTHER = {\n kdc = [::1]:99\n }\n[domain_realm]\n kdc = no\n",
        );
        assert_eq!(conf.default_realm.as_deref(), Some("EXAMPLE.TEST"));
        let p = std::path::Path::new("k.conf");
        let kdcs = conf.kdcs("EXAMPLE.TEST", p).unwrap();
        assert_eq!(kdcs[0].to_string(), "kdc1.example.test:8888");
        assert_eq!((kdcs[1].host.as_str(), kdcs[1].port), ("kdc2", 88));
        assert_eq!(conf.kdcs("OTHER", p).unwrap()[0].host, "::1");
        let e = conf.kdcs("MISSING", p).unwrap_err();
        assert!(e.contains("no KDC for realm MISSING"), "{e}");
        assert!(e.contains("default_realm is EXAMPLE.TEST"), "{e}");
    }
}
