//! MIT keytab files (format 0x0502, what `kadmin ktadd` and `ktutil` write): the client's
//! long-term key for `--gssapi-auth-type KEYTAB`. The file is read whole (at most
//! [`MAX_KEYTAB`] bytes) and every length is checked against what is left of its entry.

use super::crypto::Key;

/// Keytabs are a few hundred bytes per principal; more than this is not a keytab.
pub const MAX_KEYTAB: usize = 1 << 20;

/// One entry: the principal as `a/b@REALM`, its key version number and key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub principal: String,
    pub kvno: u32,
    /// `None` for an enctype this client does not support (kept to name it in errors).
    pub key: Option<Key>,
    pub enctype: i32,
}

/// Parses the bytes of a keytab file.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    if bytes.len() > MAX_KEYTAB {
        return Err(format!("larger than {MAX_KEYTAB} bytes"));
    }
    let mut r = Reader(bytes);
    match r.take(2) {
        Some([5, 2]) => {}
        Some([5, 1]) => return Err("keytab format 0x0501 (DCE) is not supported".into()),
        _ => return Err("not an MIT keytab (it does not start with 0x0502)".into()),
    }
    let mut entries = Vec::new();
    while !r.0.is_empty() {
        let size = r.u32().ok_or("truncated entry size")? as i32;
        let body = r
            .take(size.unsigned_abs() as usize)
            .ok_or("an entry longer than the file")?;
        if size > 0 {
            entries.push(entry(body).ok_or("a malformed entry")?);
        }
    }
    Ok(entries)
}

fn entry(body: &[u8]) -> Option<Entry> {
    let mut r = Reader(body);
    let count = r.u16()?;
    if count == 0 || count > 8 {
        return None;
    }
    let realm = r.text()?;
    let mut parts = Vec::new();
    for _ in 0..count {
        parts.push(r.text()?);
    }
    let _name_type = r.u32()?;
    let _timestamp = r.u32()?;
    let kvno8 = r.take(1)?[0];
    let enctype = i32::from(r.u16()?);
    let len = usize::from(r.u16()?);
    let key_bytes = r.take(len)?;
    // A 32-bit kvno follows in newer files; zero means "use the 8-bit one".
    let kvno = match r.u32() {
        Some(k) if k != 0 => k,
        _ => u32::from(kvno8),
    };
    Some(Entry {
        principal: format!("{}@{realm}", parts.join("/")),
        kvno,
        key: Key::new(enctype, key_bytes),
        enctype,
    })
}

/// The key for `principal`: the highest kvno's entry with a supported enctype (AES-256 over
/// AES-128 at the same kvno).
pub fn key_for(entries: &[Entry], principal: &str) -> Result<Key, String> {
    let mine: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.principal == principal)
        .collect();
    if mine.is_empty() {
        let listed: Vec<&str> = entries.iter().map(|e| e.principal.as_str()).collect();
        return Err(format!(
            "it has no entry for {principal} (it holds {}): check --gssapi-username and \
             --gssapi-realm, or export the principal's key (kadmin ktadd)",
            if listed.is_empty() {
                "none".to_string()
            } else {
                dedup(listed).join(", ")
            }
        ));
    }
    mine.iter()
        .filter_map(|e| e.key.as_ref().map(|k| (e.kvno, k.number(), k)))
        .max_by_key(|&(kvno, enctype, _)| (kvno, enctype))
        .map(|(_, _, k)| k.clone())
        .ok_or_else(|| {
            let types: Vec<String> = mine.iter().map(|e| e.enctype.to_string()).collect();
            format!(
                "its entries for {principal} have enctypes {} only; this proxy supports \
                 aes256-cts-hmac-sha1-96 (18) and aes128-cts-hmac-sha1-96 (17)",
                dedup(types.iter().map(String::as_str).collect()).join(", ")
            )
        })
}

fn dedup(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v.dedup();
    v
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn text(&mut self) -> Option<String> {
        let len = usize::from(self.u16()?);
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
}

/// One entry to [`build`]: principal parts, realm, kvno, enctype, key.
#[cfg(any(test, feature = "fuzzing"))]
pub type Spec<'a> = (&'a [&'a str], &'a str, u32, i32, &'a [u8]);

/// A keytab file's bytes for `entries`: what the tests and fuzz seeds build.
#[cfg(any(test, feature = "fuzzing"))]
pub fn build(entries: &[Spec<'_>]) -> Vec<u8> {
    let mut out = vec![5, 2];
    for (parts, realm, kvno, enctype, key) in entries {
        let mut e = Vec::new();
        e.extend_from_slice(&(parts.len() as u16).to_be_bytes());
        for s in std::iter::once(realm).chain(parts.iter()) {
            e.extend_from_slice(&(s.len() as u16).to_be_bytes());
            e.extend_from_slice(s.as_bytes());
        }
        e.extend_from_slice(&1u32.to_be_bytes());
        e.extend_from_slice(&0u32.to_be_bytes());
        e.push(*kvno as u8);
        e.extend_from_slice(&(*enctype as u16).to_be_bytes());
        e.extend_from_slice(&(key.len() as u16).to_be_bytes());
        e.extend_from_slice(key);
        e.extend_from_slice(&kvno.to_be_bytes());
        out.extend_from_slice(&(e.len() as u32).to_be_bytes());
        out.extend_from_slice(&e);
    }
    out
}

#[cfg(test)]
mod tests;
