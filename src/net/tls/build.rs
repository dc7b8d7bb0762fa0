//! Building rustls configurations from the flags: the listener's `ServerConfig` (certificate,
//! client CA, CRL, cipher suites, curves) and the broker side's `ClientConfig` (trust roots,
//! client certificate, insecure mode). Each build reads its files afresh, so the reloader calls
//! the same functions.

use super::keys::{self, Source};
use super::TlsError;
use crate::config::{BrokerTlsConfig, ListenerTlsConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
    SupportedCipherSuite,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Cipher suite names as IANA, Go and grepplabs/kafka-proxy (OpenSSL-like) spell them. Suites
/// rustls does not implement (CBC, 3DES, RSA key exchange) are listed with `None` so their
/// names get a precise error rather than "unknown".
const CIPHER_SUITES: &[(&[&str], Option<SupportedCipherSuite>)] = &[
    (
        &["TLS_AES_128_GCM_SHA256"],
        Some(cipher_suite::TLS13_AES_128_GCM_SHA256),
    ),
    (
        &["TLS_AES_256_GCM_SHA384"],
        Some(cipher_suite::TLS13_AES_256_GCM_SHA384),
    ),
    (
        &["TLS_CHACHA20_POLY1305_SHA256"],
        Some(cipher_suite::TLS13_CHACHA20_POLY1305_SHA256),
    ),
    (
        &[
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
        ],
        Some(cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        &[
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
        ],
        Some(cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        &[
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
            "ECDHE-ECDSA-WITH-CHACHA20-POLY1305",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
        ],
        Some(cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    (
        &[
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "ECDHE-RSA-AES128-GCM-SHA256",
        ],
        Some(cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        &[
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384",
        ],
        Some(cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        &[
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
            "ECDHE-RSA-WITH-CHACHA20-POLY1305",
            "ECDHE-RSA-CHACHA20-POLY1305",
        ],
        Some(cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    (
        &[
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "TLS_RSA_WITH_AES_256_CBC_SHA",
            "TLS_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
            "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
            "ECDHE-RSA-AES256-CBC-SHA",
            "ECDHE-RSA-AES128-CBC-SHA",
            "ECDHE-ECDSA-AES256-CBC-SHA",
            "ECDHE-ECDSA-AES128-CBC-SHA",
            "RSA-AES256-CBC-SHA",
            "RSA-AES128-CBC-SHA",
            "ECDHE-RSA-3DES-EDE-CBC-SHA",
            "RSA-3DES-EDE-CBC-SHA",
        ],
        None,
    ),
];

/// Chooses cipher suites by name. Like Go (and so grepplabs), TLS 1.3 suites stay at their
/// defaults unless some are named; naming only TLS 1.3 suites turns TLS 1.2 off.
pub fn cipher_suites(names: &[String]) -> Result<Vec<SupportedCipherSuite>, TlsError> {
    let defaults = rustls::crypto::ring::DEFAULT_CIPHER_SUITES;
    if names.is_empty() {
        return Ok(defaults.to_vec());
    }
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    for name in names {
        let name = name.trim();
        let entry = CIPHER_SUITES
            .iter()
            .find(|(names, _)| names.iter().any(|n| n.eq_ignore_ascii_case(name)));
        match entry {
            Some((_, Some(suite))) => {
                if !chosen.contains(suite) {
                    chosen.push(*suite);
                }
            }
            Some((_, None)) => {
                return Err(TlsError::new(format!(
                    "--proxy-listener-cipher-suites: {name} is not supported (rustls implements \
                     no CBC, 3DES or RSA key exchange suites); valid: {}",
                    valid_cipher_names()
                )))
            }
            None => {
                return Err(TlsError::new(format!(
                    "--proxy-listener-cipher-suites: unknown cipher suite {name:?}; valid: {}",
                    valid_cipher_names()
                )))
            }
        }
    }
    let is13 = |s: &SupportedCipherSuite| s.version() == &rustls::version::TLS13;
    if !chosen.iter().any(is13) {
        chosen.extend(defaults.iter().filter(|s| is13(s)));
    }
    Ok(chosen)
}

fn valid_cipher_names() -> String {
    CIPHER_SUITES
        .iter()
        .filter(|(_, suite)| suite.is_some())
        .map(|(names, _)| names.join(" / "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Chooses key exchange groups by name. P521 is not available in ring: named with others it is
/// skipped with a warning; named alone it is an error.
pub fn curves(names: &[String]) -> Result<Vec<&'static dyn SupportedKxGroup>, TlsError> {
    if names.is_empty() {
        return Ok(rustls::crypto::ring::DEFAULT_KX_GROUPS.to_vec());
    }
    let mut chosen: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    let mut skipped = Vec::new();
    for name in names {
        let name = name.trim();
        let group: &'static dyn SupportedKxGroup = match name.to_ascii_uppercase().as_str() {
            "X25519" => kx_group::X25519,
            "P256" | "P-256" | "CURVEP256" | "SECP256R1" => kx_group::SECP256R1,
            "P384" | "P-384" | "CURVEP384" | "SECP384R1" => kx_group::SECP384R1,
            "P521" | "P-521" | "CURVEP521" | "SECP521R1" => {
                skipped.push(name.to_string());
                continue;
            }
            _ => {
                return Err(TlsError::new(format!(
                    "--proxy-listener-curve-preferences: unknown curve {name:?}; valid: X25519, \
                     P256, P384 (P521 is not available with the ring crypto provider)"
                )))
            }
        };
        if !chosen.iter().any(|g| g.name() == group.name()) {
            chosen.push(group);
        }
    }
    if chosen.is_empty() {
        return Err(TlsError::new(
            "--proxy-listener-curve-preferences: P521 is not available with the ring crypto \
             provider; add X25519, P256 or P384",
        ));
    }
    if !skipped.is_empty() {
        log::warn!(
            "--proxy-listener-curve-preferences: {} is not available with the ring crypto \
             provider; using the other curves",
            skipped.join(", ")
        );
    }
    Ok(chosen)
}

/// The files a listener configuration reads, for the reloader.
pub fn listener_files(config: &ListenerTlsConfig) -> Vec<PathBuf> {
    let mut files = vec![config.cert_file.clone(), config.key_file.clone()];
    files.extend(config.ca_chain_cert_file.iter().cloned());
    files.extend(config.crl_file.iter().cloned());
    files
}

/// The files a broker-side configuration reads, for the reloader.
pub fn broker_files(config: &BrokerTlsConfig) -> Vec<PathBuf> {
    let mut files = Vec::new();
    files.extend(config.ca_chain_cert_file.iter().cloned());
    files.extend(config.client_cert_file.iter().cloned());
    files.extend(config.client_key_file.iter().cloned());
    files
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A certificate chain and its key, checked to belong together.
fn cert_and_key(
    cert: Source<'_>,
    key: Source<'_>,
    password: Option<&crate::config::Secret>,
    password_flag: &'static str,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let certs = keys::load_certs(cert)?;
    let key_der = keys::load_key(key, password, password_flag)?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .map_err(|e| TlsError::new(format!("{}: {e}", key.path.display())))?;
    keys_match(&certs, signing.as_ref()).map_err(|e| {
        TlsError::new(format!(
            "certificate {} (--{}) and key {} (--{}) do not match: {e}",
            cert.path.display(),
            cert.flag,
            key.path.display(),
            key.flag
        ))
    })?;
    Ok(Arc::new(CertifiedKey::new(certs, signing)))
}

/// Checks that the first certificate of the chain carries the key's public half. rustls'
/// `CertifiedKey::keys_match` parses the certificate with webpki, which refuses X.509 v1
/// certificates; our own DER walk reads any version.
fn keys_match(
    certs: &[CertificateDer<'static>],
    key: &dyn rustls::sign::SigningKey,
) -> Result<(), String> {
    let first = certs
        .first()
        .ok_or("the certificate file holds no certificate")?;
    let spki = super::subject::public_key_info_of(first)
        .map_err(|e| format!("the first certificate: {e}"))?;
    match key.public_key() {
        Some(public) if public.as_ref() == spki => Ok(()),
        Some(_) => Err("the first certificate holds another public key".into()),
        None => Err("the key's public half cannot be derived to compare".into()),
    }
}

fn roots_from(source: Source<'_>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in keys::load_certs(source)? {
        roots.add(cert).map_err(|e| {
            TlsError::new(format!(
                "{} (--{}): not a usable CA certificate: {e}",
                source.path.display(),
                source.flag
            ))
        })?;
    }
    Ok(roots)
}

/// The listener's server configuration.
pub fn server_config(config: &ListenerTlsConfig) -> Result<ServerConfig, TlsError> {
    let mut provider = provider();
    provider.cipher_suites = cipher_suites(&config.cipher_suites)?;
    provider.kx_groups = curves(&config.curve_preferences)?;
    let has13 = provider
        .cipher_suites
        .iter()
        .any(|s| s.version() == &rustls::version::TLS13);
    let has12 = provider
        .cipher_suites
        .iter()
        .any(|s| s.version() == &rustls::version::TLS12);
    let mut versions = Vec::new();
    if has13 {
        versions.push(&rustls::version::TLS13);
    }
    if has12 {
        versions.push(&rustls::version::TLS12);
    }
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError::new(format!("listener TLS settings: {e}")))?;
    let builder = match &config.ca_chain_cert_file {
        Some(ca) => {
            let roots = roots_from(Source {
                path: ca,
                flag: "proxy-listener-ca-chain-cert-file",
            })?;
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            if let Some(crl) = &config.crl_file {
                verifier = verifier.with_crls(keys::load_crls(Source {
                    path: crl,
                    flag: "proxy-listener-crl-file",
                })?);
            }
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::new(format!("listener client verification: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => {
            if config.crl_file.is_some() {
                return Err(TlsError::new(
                    "--proxy-listener-crl-file needs --proxy-listener-ca-chain-cert-file (a CRL \
                     only matters when client certificates are verified)",
                ));
            }
            builder.with_no_client_auth()
        }
    };
    let certified = cert_and_key(
        Source {
            path: &config.cert_file,
            flag: "proxy-listener-cert-file",
        },
        Source {
            path: &config.key_file,
            flag: "proxy-listener-key-file",
        },
        config.key_password.as_ref(),
        "proxy-listener-key-password",
    )?;
    Ok(builder.with_cert_resolver(Arc::new(OneCertificate(certified))))
}

/// Our one certificate and key, for every handshake on either side. rustls' own
/// `with_single_cert`/`with_client_auth_cert` would re-check the pair with webpki, which
/// refuses X.509 v1 certificates; [`keys_match`] has checked it already.
#[derive(Debug)]
struct OneCertificate(Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for OneCertificate {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

impl rustls::client::ResolvesClientCert for OneCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// What the broker side uses for each new connection.
#[derive(Debug)]
pub struct BrokerMaterial {
    pub client: Arc<ClientConfig>,
    /// The end-entity certificate of `--tls-client-cert-file`, for `--tls-same-client-cert-enable`.
    pub client_cert: Option<CertificateDer<'static>>,
}

/// Where the OS keeps its CA bundle: `SSL_CERT_FILE` first (as OpenSSL and Go read it), then the
/// usual paths of Debian/Ubuntu/Alpine, Fedora/RHEL and others.
fn system_ca_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SSL_CERT_FILE") {
        return Some(PathBuf::from(path));
    }
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/ssl/cert.pem",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.is_file())
    .map(Path::to_path_buf)
}

/// The broker-side client configuration.
pub fn client_material(config: &BrokerTlsConfig) -> Result<BrokerMaterial, TlsError> {
    let provider = Arc::new(provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::new(format!("broker TLS settings: {e}")))?;
    let builder = if config.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert { provider }))
    } else {
        let mut roots = RootCertStore::empty();
        if let Some(ca) = &config.ca_chain_cert_file {
            roots = roots_from(Source {
                path: ca,
                flag: "tls-ca-chain-cert-file",
            })?;
        }
        if config.system_cert_pool {
            let file = system_ca_file().ok_or_else(|| {
                TlsError::new(
                    "--tls-system-cert-pool: no system CA bundle found (set SSL_CERT_FILE, or \
                     install ca-certificates)",
                )
            })?;
            let certs = keys::load_certs(Source {
                path: &file,
                flag: "tls-system-cert-pool",
            })?;
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsError::new(format!(
                    "--tls-system-cert-pool: {} holds no usable CA certificate",
                    file.display()
                )));
            }
        }
        if config.ca_chain_cert_file.is_none() && !config.system_cert_pool {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        builder.with_root_certificates(roots)
    };
    let (client, client_cert) = match (&config.client_cert_file, &config.client_key_file) {
        (Some(cert), Some(key)) => {
            let certified = cert_and_key(
                Source {
                    path: cert,
                    flag: "tls-client-cert-file",
                },
                Source {
                    path: key,
                    flag: "tls-client-key-file",
                },
                config.client_key_password.as_ref(),
                "tls-client-key-password",
            )?;
            let leaf = certified.cert.first().cloned();
            let client = builder.with_client_cert_resolver(Arc::new(OneCertificate(certified)));
            (client, leaf)
        }
        (None, None) => (builder.with_no_client_auth(), None),
        (Some(_), None) => {
            return Err(TlsError::new(
                "--tls-client-cert-file needs --tls-client-key-file",
            ))
        }
        (None, Some(_)) => {
            return Err(TlsError::new(
                "--tls-client-key-file needs --tls-client-cert-file",
            ))
        }
    };
    Ok(BrokerMaterial {
        client: Arc::new(client),
        client_cert,
    })
}

/// `--tls-insecure-skip-verify`: any broker certificate is accepted (no chain, name or expiry
/// check). Handshake signatures are still verified, so the peer must hold the key of the
/// certificate it sent; that proves nothing about who it is.
#[derive(Debug)]
struct AcceptAnyServerCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cipher_suite_names() {
        let suites = cipher_suites(&names(&[
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        ]))
        .unwrap();
        // The three named, then the TLS 1.3 defaults (Go does not let TLS 1.3 be configured).
        assert_eq!(suites.len(), 6);
        assert_eq!(
            suites[0],
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        );
        let only13 = cipher_suites(&names(&["TLS_AES_128_GCM_SHA256"])).unwrap();
        assert_eq!(only13, vec![cipher_suite::TLS13_AES_128_GCM_SHA256]);
        let err = cipher_suites(&names(&["TLS_BOGUS"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown cipher suite") && err.contains("TLS_AES_128_GCM_SHA256"));
        let err = cipher_suites(&names(&["RSA-AES128-CBC-SHA"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not supported"), "{err}");
        assert_eq!(cipher_suites(&[]).unwrap().len(), 9);
    }

    #[test]
    fn curve_names() {
        assert_eq!(curves(&names(&["P256", "x25519"])).unwrap().len(), 2);
        assert_eq!(curves(&names(&["P384", "P521"])).unwrap().len(), 1);
        assert!(curves(&names(&["P521"]))
            .unwrap_err()
            .to_string()
            .contains("not available"));
        assert!(curves(&names(&["P999"])).is_err());
    }
}
