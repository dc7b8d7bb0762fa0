//! The start of the proxy's own Kerberos client for `--sasl-method GSSAPI`, written on ring
//! (PBKDF2-HMAC-SHA1, HMAC-SHA1) and RustCrypto's `aes` block cipher so that the static musl
//! build keeps building (no MIT/Heimdal C library). Only the AES-CTS-HMAC-SHA1-96 enctypes
//! 17 and 18 (RFC 3962) are to be supported: what a modern KDC issues and the JDK's default.
//!
//! Done: the RFC 3961/3962 key schedule (n-fold, DK, string-to-key). Missing: AES-CTS
//! encryption with HMAC-SHA1-96, the DER messages (AS-REQ/AS-REP, TGS-REQ/TGS-REP, AP-REQ/
//! AP-REP, KRB-ERROR), keytab reading, the GSS-API initial context token and the RFC 4121
//! Wrap tokens of the RFC 4752 security-layer negotiation.

pub mod crypto;
