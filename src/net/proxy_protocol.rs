//! The PROXY protocol (HAProxy's specification, versions 1 and 2): the header an L4 load
//! balancer sends first on each connection it opens to the proxy, naming the client it carries
//! (`--proxy-protocol`). With it the proxy sees the client's own address in its logs, the debug
//! endpoint and the per-address limits instead of the balancer's.
//!
//! The header is read before anything else, within the handshake deadline, and exactly: not a
//! byte of what follows it (a TLS ClientHello, a Kafka request) is consumed. Its size is capped
//! ([`V1_MAX`], [`V2_MAX`]). Only peers in `--proxy-protocol-trusted-cidr` (any peer when none
//! is given) may send one.

use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Instant;

/// `--proxy-protocol`: which header versions a client connection must begin with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Off,
    V1,
    V2,
    Any,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "" => Ok(Mode::Off),
            "v1" => Ok(Mode::V1),
            "v2" => Ok(Mode::V2),
            "any" => Ok(Mode::Any),
            _ => Err("expected off, v1, v2 or any".into()),
        }
    }

    fn allows_v1(self) -> bool {
        matches!(self, Mode::V1 | Mode::Any)
    }

    fn allows_v2(self) -> bool {
        matches!(self, Mode::V2 | Mode::Any)
    }
}

/// The longest version 1 header, `\r\n` included (the specification's bound).
pub const V1_MAX: usize = 107;
/// The longest version 2 header accepted: the 16-byte fixed part and up to 1 KiB of addresses
/// and TLVs (a UNIX address pair is 216 bytes; balancers add TLVs such as an AWS VPC endpoint id
/// or TLS details of a few hundred bytes at most).
pub const V2_MAX: usize = 16 + 1024;

const V1_PREFIX: &[u8] = b"PROXY ";
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// A header's verdict on the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// A client's connection: its address, and the address it reached at the balancer.
    Proxied {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// Version 2 `LOCAL`: the balancer's own connection (a health check); the socket's
    /// addresses stand.
    Local,
    /// Version 1 `UNKNOWN`, or a version 2 family without a TCP address (UNSPEC, UNIX): the
    /// socket's addresses stand, as the specification says.
    Unknown,
}

impl Header {
    /// The client's address: the header's, or `peer` (the socket's) when it names none.
    pub fn client(&self, peer: SocketAddr) -> SocketAddr {
        match self {
            Header::Proxied { source, .. } => *source,
            Header::Local | Header::Unknown => peer,
        }
    }
}

/// Why a connection's header was refused. Each reads as the end of a log line.
#[derive(Debug)]
pub enum HeaderError {
    Io(io::Error),
    Timeout,
    /// The peer closed the connection before a whole header.
    Closed,
    /// The first bytes are neither header (or not one `--proxy-protocol` allows).
    NoHeader {
        allowed: Mode,
    },
    TooLong(usize),
    /// The header ends before its own length says (decoding a slice).
    Truncated,
    UnknownVersion(u8),
    UnknownCommand(u8),
    UnknownFamily(u8),
    Malformed(&'static str),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Io(e) => write!(f, "reading the PROXY protocol header failed: {e}"),
            HeaderError::Timeout => f.write_str("no whole PROXY protocol header in time"),
            HeaderError::Closed => {
                f.write_str("the peer closed the connection before a whole PROXY protocol header")
            }
            HeaderError::NoHeader { allowed } => write!(
                f,
                "the connection does not begin with a PROXY protocol {} header",
                match allowed {
                    Mode::V1 => "v1",
                    Mode::V2 => "v2",
                    _ => "v1 or v2",
                }
            ),
            HeaderError::TooLong(n) => {
                write!(f, "the PROXY protocol header is longer than {n} bytes")
            }
            HeaderError::Truncated => f.write_str("the PROXY protocol header is cut short"),
            HeaderError::UnknownVersion(v) => {
                write!(f, "unknown PROXY protocol v2 version nibble {v:#x}")
            }
            HeaderError::UnknownCommand(c) => {
                write!(f, "unknown PROXY protocol v2 command {c:#x}")
            }
            HeaderError::UnknownFamily(b) => {
                write!(f, "unknown PROXY protocol v2 address family byte {b:#04x}")
            }
            HeaderError::Malformed(what) => write!(f, "malformed PROXY protocol header: {what}"),
        }
    }
}

/// Decodes the header at the start of `buf`, whole: the header and its length. Anything after
/// it is not looked at.
pub fn decode(buf: &[u8], allowed: Mode) -> Result<(Header, usize), HeaderError> {
    if allowed.allows_v1() && buf.starts_with(V1_PREFIX) {
        let end =
            buf.iter()
                .take(V1_MAX)
                .position(|&b| b == b'\n')
                .ok_or(if buf.len() >= V1_MAX {
                    HeaderError::TooLong(V1_MAX)
                } else {
                    HeaderError::Truncated
                })?;
        return Ok((decode_v1(&buf[..=end])?, end + 1));
    }
    if allowed.allows_v2() && buf.starts_with(V2_SIGNATURE) {
        let fixed = buf.get(..16).ok_or(HeaderError::Truncated)?;
        let total = 16 + usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
        if total > V2_MAX {
            return Err(HeaderError::TooLong(V2_MAX));
        }
        let header = buf.get(..total).ok_or(HeaderError::Truncated)?;
        return Ok((decode_v2(header)?, total));
    }
    let could_be = |prefix: &[u8]| prefix.starts_with(&buf[..buf.len().min(prefix.len())]);
    if (allowed.allows_v1() && could_be(V1_PREFIX))
        || (allowed.allows_v2() && could_be(V2_SIGNATURE))
    {
        return Err(HeaderError::Truncated);
    }
    Err(HeaderError::NoHeader { allowed })
}

/// `PROXY TCP4 src dst sport dport\r\n`, `PROXY TCP6 ...`, or `PROXY UNKNOWN ...\r\n`.
fn decode_v1(line: &[u8]) -> Result<Header, HeaderError> {
    let text = line
        .strip_suffix(b"\r\n")
        .ok_or(HeaderError::Malformed("a v1 header must end with CRLF"))?;
    let text = std::str::from_utf8(text).map_err(|_| HeaderError::Malformed("not ASCII"))?;
    let mut words = text.split(' ');
    words.next(); // "PROXY"
    let family = words.next().ok_or(HeaderError::Malformed("no protocol"))?;
    if family == "UNKNOWN" {
        return Ok(Header::Unknown);
    }
    let v6 = match family {
        "TCP4" => false,
        "TCP6" => true,
        _ => {
            return Err(HeaderError::Malformed(
                "the protocol is not TCP4, TCP6 or UNKNOWN",
            ))
        }
    };
    let fields: Vec<&str> = words.collect();
    let [src, dst, sport, dport] = fields[..] else {
        return Err(HeaderError::Malformed(
            "a v1 header has four address fields",
        ));
    };
    let ip = |s: &str| -> Result<IpAddr, HeaderError> {
        let bad = HeaderError::Malformed("an address does not match the protocol");
        if v6 {
            s.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| bad)
        } else {
            s.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| bad)
        }
    };
    Ok(Header::Proxied {
        source: SocketAddr::new(ip(src)?, v1_port(sport)?),
        destination: SocketAddr::new(ip(dst)?, v1_port(dport)?),
    })
}

/// A decimal port, 0 to 65535, digits only.
fn v1_port(s: &str) -> Result<u16, HeaderError> {
    let bad = HeaderError::Malformed("a port is not a number from 0 to 65535");
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    s.parse().map_err(|_| bad)
}

/// The 16-byte fixed part (signature, version and command, family, length) and the rest.
fn decode_v2(header: &[u8]) -> Result<Header, HeaderError> {
    let version = header[12] >> 4;
    if version != 2 {
        return Err(HeaderError::UnknownVersion(version));
    }
    let local = match header[12] & 0x0f {
        0 => true,
        1 => false,
        command => return Err(HeaderError::UnknownCommand(command)),
    };
    let family = header[13];
    if family >> 4 > 3 || family & 0x0f > 2 {
        return Err(HeaderError::UnknownFamily(family));
    }
    if local {
        return Ok(Header::Local);
    }
    let body = &header[16..];
    let short = HeaderError::Malformed("the addresses are longer than the header");
    match family {
        // TCP over IPv4 and IPv6.
        0x11 => {
            let a = body.get(..12).ok_or(short)?;
            let ip = |at: usize| IpAddr::V4(Ipv4Addr::new(a[at], a[at + 1], a[at + 2], a[at + 3]));
            Ok(Header::Proxied {
                source: SocketAddr::new(ip(0), u16::from_be_bytes([a[8], a[9]])),
                destination: SocketAddr::new(ip(4), u16::from_be_bytes([a[10], a[11]])),
            })
        }
        0x21 => {
            let a = body.get(..36).ok_or(short)?;
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&a[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            Ok(Header::Proxied {
                source: SocketAddr::new(ip(0), u16::from_be_bytes([a[32], a[33]])),
                destination: SocketAddr::new(ip(16), u16::from_be_bytes([a[34], a[35]])),
            })
        }
        // UDP is not a Kafka client's connection.
        0x12 | 0x22 => Err(HeaderError::Malformed("a UDP address on a TCP connection")),
        // UNSPEC, UNIX, or an unspecified transport: no TCP address to take.
        _ => Ok(Header::Unknown),
    }
}

/// Reads the header a connection begins with, by `deadline`, consuming exactly its bytes.
/// Leaves the socket's read timeout as it found none (the connection sets its own after).
pub fn read(stream: &TcpStream, allowed: Mode, deadline: Instant) -> Result<Header, HeaderError> {
    let mut buf = Vec::with_capacity(V1_MAX.max(16));
    let mut reader = Deadlined { stream, deadline };
    reader.fill(&mut buf, 8)?;
    if allowed.allows_v1() && buf.starts_with(V1_PREFIX) {
        // Byte by byte up to the newline, so nothing after the header is read.
        while buf.last() != Some(&b'\n') && buf.len() < V1_MAX {
            let next = buf.len() + 1;
            reader.fill(&mut buf, next)?;
        }
    } else if allowed.allows_v2() && buf.starts_with(&V2_SIGNATURE[..8]) {
        reader.fill(&mut buf, 16)?;
        if buf.starts_with(V2_SIGNATURE) {
            let total = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
            if total > V2_MAX {
                return Err(HeaderError::TooLong(V2_MAX));
            }
            reader.fill(&mut buf, total)?;
        }
    }
    let result = decode(&buf, allowed).map(|(header, _)| header);
    let _ = stream.set_read_timeout(None);
    result
}

struct Deadlined<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Deadlined<'_> {
    /// Reads until `buf` holds `len` bytes.
    fn fill(&mut self, buf: &mut Vec<u8>, len: usize) -> Result<(), HeaderError> {
        while buf.len() < len {
            let left = self
                .deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or(HeaderError::Timeout)?;
            self.stream
                .set_read_timeout(Some(left))
                .map_err(HeaderError::Io)?;
            let start = buf.len();
            buf.resize(len, 0);
            match self.stream.read(&mut buf[start..]) {
                Ok(0) => return Err(HeaderError::Closed),
                Ok(n) => buf.truncate(start + n),
                Err(e) => {
                    buf.truncate(start);
                    match e.kind() {
                        io::ErrorKind::Interrupted => {}
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                            return Err(HeaderError::Timeout)
                        }
                        _ => return Err(HeaderError::Io(e)),
                    }
                }
            }
        }
        Ok(())
    }
}

/// `--proxy-protocol-trusted-cidr`: an address block, `a.b.c.d/n` or `x::y/n` (a bare address
/// is a block of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max && p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }

    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let masked = |bits: u128, width: u32| {
            let keep = u32::from(self.prefix);
            if keep == 0 {
                0
            } else {
                bits >> (width - keep)
            }
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), 32) == masked(u32::from(a).into(), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => masked(n.into(), 128) == masked(a.into(), 128),
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The `proxy_protocol_header` fuzz target: any bytes, as every mode; never a panic, and a
/// decoded header never claims more bytes than it was given.
pub fn fuzz_header(data: &[u8]) {
    for mode in [Mode::V1, Mode::V2, Mode::Any] {
        if let Ok((_, len)) = decode(data, mode) {
            assert!(len <= data.len() && len <= V2_MAX.max(V1_MAX));
        }
    }
}

#[cfg(test)]
mod tests;
