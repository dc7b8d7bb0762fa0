//! When a certificate revocation list stops being current: its `nextUpdate` (RFC 5280 5.1.2.5).
//! rustls checks revocations against a CRL but, by default, not whether the CRL is stale; a
//! stale CRL silently hides every revocation made since, so `--proxy-listener-crl-file` refuses
//! one whose `nextUpdate` has passed.

use super::der::{self, Der, DerError};

const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The `nextUpdate` of a DER CRL in seconds since the Unix epoch; `None` when it has none.
pub fn next_update(crl: &[u8]) -> Result<Option<i64>, DerError> {
    let mut list = Der::new(crl).sequence("CertificateList")?;
    let mut tbs = list.sequence("TBSCertList")?;
    if tbs.peek_tag() == Some(der::INTEGER) {
        tbs.any()?; // version (v2)
    }
    tbs.sequence("signature algorithm")?;
    tbs.sequence("issuer")?;
    time(&mut tbs)?; // thisUpdate
    match tbs.peek_tag() {
        Some(UTC_TIME | GENERALIZED_TIME) => time(&mut tbs).map(Some),
        _ => Ok(None),
    }
}

/// Reads a UTCTime (`YYMMDDHHMMSSZ`, years 1950-2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
pub(crate) fn time(der: &mut Der<'_>) -> Result<i64, DerError> {
    let bad = DerError("time");
    let (tag, text) = der.any()?;
    let digits = match (tag, text) {
        (UTC_TIME, [d @ .., b'Z']) if d.len() == 12 => d,
        (GENERALIZED_TIME, [d @ .., b'Z']) if d.len() == 14 => d,
        _ => return Err(bad),
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad);
    }
    let num = |r: std::ops::Range<usize>| {
        digits[r]
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'))
    };
    let (year, rest) = if tag == UTC_TIME {
        let yy = num(0..2);
        (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
    } else {
        (num(0..4), 4)
    };
    let field = |i: usize| num(rest + 2 * i..rest + 2 * i + 2);
    let (month, day, hour, minute, second) = (field(0), field(1), field(2), field(3), field(4));
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad);
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `secs` since the epoch as `YYYY-MM-DD HH:MM:SS UTC`, for error messages.
pub fn format_utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Inverse of days_from_civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        assert!(content.len() < 128);
        [&[tag, content.len() as u8][..], content].concat()
    }

    /// A CRL with the fields `next_update` reads (no signature: it is not verified here).
    pub fn crl(this_update: &[u8], next_update: Option<&[u8]>) -> Vec<u8> {
        let mut tbs = tlv(der::INTEGER, &[1]);
        tbs.extend(tlv(der::SEQUENCE, &tlv(der::OID, &[0x2a, 0x86, 0x48])));
        tbs.extend(tlv(der::SEQUENCE, &[]));
        tbs.extend(tlv(UTC_TIME, this_update));
        if let Some(next) = next_update {
            let tag = if next.len() == 15 {
                GENERALIZED_TIME
            } else {
                UTC_TIME
            };
            tbs.extend(tlv(tag, next));
        }
        let mut list = tlv(der::SEQUENCE, &tbs);
        list.extend(tlv(der::SEQUENCE, &tlv(der::OID, &[0x2a, 0x86, 0x48])));
        list.extend(tlv(0x03, &[0]));
        tlv(der::SEQUENCE, &list)
    }

    #[test]
    fn reads_next_update() {
        let c = crl(b"250101000000Z", Some(b"260101120000Z"));
        assert_eq!(next_update(&c), Ok(Some(1_767_268_800)));
        assert_eq!(format_utc(1_767_268_800), "2026-01-01 12:00:00 UTC");
        let c = crl(b"250101000000Z", Some(b"20991231235959Z"));
        assert_eq!(
            format_utc(next_update(&c).unwrap().unwrap()),
            "2099-12-31 23:59:59 UTC"
        );
        assert_eq!(next_update(&crl(b"250101000000Z", None)), Ok(None));
        // UTCTime years 50-99 are 19xx.
        let c = crl(b"500101000000Z", Some(b"500102000000Z"));
        assert_eq!(
            format_utc(next_update(&c).unwrap().unwrap()),
            "1950-01-02 00:00:00 UTC"
        );
        for bad in [
            &b"26010112000Z"[..],
            b"2601011200000",
            b"261301120000Z",
            b"26010a120000Z",
        ] {
            assert!(
                next_update(&crl(b"250101000000Z", Some(bad))).is_err(),
                "{bad:?}"
            );
        }
        assert!(next_update(b"\x30\x03\x02\x01").is_err());
    }

    /// `--proxy-listener-crl-file` with a CRL past its nextUpdate is refused, saying when it
    /// expired; a current one loads.
    #[test]
    fn an_expired_crl_is_refused_at_load() {
        use base64::Engine as _;
        let dir = std::env::temp_dir().join(format!("kafka-proxy-crl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let load = |name: &str, der: &[u8]| {
            let pem = format!(
                "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
                base64::engine::general_purpose::STANDARD.encode(der)
            );
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            let source = super::super::keys::Source {
                path: &path,
                flag: "proxy-listener-crl-file",
            };
            super::super::keys::load_crls(source)
                .map(|c| c.len())
                .map_err(|e| e.to_string())
        };
        let err = load("old.pem", &crl(b"200101000000Z", Some(b"200201000000Z"))).unwrap_err();
        assert!(
            err.contains("(--proxy-listener-crl-file): CRL 1 expired at 2020-02-01 00:00:00 UTC"),
            "{err}"
        );
        assert!(err.contains("stale CRL"), "{err}");
        assert_eq!(
            load("new.pem", &crl(b"200101000000Z", Some(b"20991231000000Z"))),
            Ok(1)
        );
        assert_eq!(load("none.pem", &crl(b"200101000000Z", None)), Ok(1));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
