//! A scripted fake broker and a raw Kafka client, for what a real broker cannot be made to do:
//! name brokers that are not in the bootstrap mapping, answer with the wrong correlation id,
//! send garbage, speak TLS, close mid-frame. Frames are built by hand with the library's
//! `Writer`, independently of the decoders under test.

use kafka_proxy::codec::{Reader, Writer};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A request as the fake broker received it.
#[derive(Clone, Debug)]
pub struct Received {
    /// Which connection it came on: 0 for the first the broker accepted, then 1, 2, ...
    pub connection: usize,
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    /// The whole frame after the size prefix.
    pub frame: Vec<u8>,
}

/// What the fake broker does with one request.
pub enum Reply {
    /// Send this frame (without size prefix; the broker adds it).
    Frame(Vec<u8>),
    /// Send these raw bytes as they are.
    Raw(Vec<u8>),
    /// Send nothing (acks=0 Produce).
    Nothing,
    /// Send these raw bytes, then close the connection.
    RawThenClose(Vec<u8>),
    /// Close the connection.
    Close,
    /// Send this frame (without size prefix) after a pause: a slow broker.
    Delayed(Duration, Vec<u8>),
    /// Send these raw bytes one at a time, pausing between them: a broker that trickles.
    Trickle(Duration, Vec<u8>),
}

pub type Script = dyn Fn(&Received) -> Reply + Send + Sync;

/// A broker on a loopback port that answers each request with its script.
pub struct FakeBroker {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeBroker {
    pub fn start(script: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let thread = {
            let received = Arc::clone(&received);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut connections = Vec::new();
                while !stop.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let received = Arc::clone(&received);
                            let script = Arc::clone(&script);
                            let stop = Arc::clone(&stop);
                            let connection = connections.len();
                            connections.push(thread::spawn(move || {
                                serve(stream, connection, &script, &received, &stop)
                            }));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
                for c in connections {
                    let _ = c.join();
                }
            })
        };
        FakeBroker {
            addr,
            received,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    mut stream: TcpStream,
    connection: usize,
    script: &Arc<Script>,
    received: &Mutex<Vec<Received>>,
    stop: &AtomicBool,
) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut raw_mode = 0u32;
    loop {
        let mut prefix = [0u8; 4];
        match read_full(&mut stream, &mut prefix, stop) {
            Ok(true) => {}
            _ => return,
        }
        let size = i32::from_be_bytes(prefix);
        if size < 0 {
            return;
        }
        let mut frame = vec![0u8; size as usize];
        if !matches!(read_full(&mut stream, &mut frame, stop), Ok(true)) {
            return;
        }
        if raw_mode > 0 {
            // Legacy SASL: answer each raw token with an empty raw token.
            raw_mode -= 1;
            received.lock().unwrap().push(Received {
                connection,
                api_key: -1,
                api_version: -1,
                correlation_id: -1,
                frame,
            });
            let _ = stream.write_all(&[0, 0, 0, 0]);
            continue;
        }
        let mut r = Reader::new(&frame);
        let (Ok(api_key), Ok(api_version), Ok(correlation_id)) =
            (r.i16("k"), r.i16("v"), r.i32("c"))
        else {
            return;
        };
        let request = Received {
            connection,
            api_key,
            api_version,
            correlation_id,
            frame: frame.clone(),
        };
        received.lock().unwrap().push(request.clone());
        let reply = script(&request);
        if api_key == 17 && api_version == 0 {
            if let Reply::Frame(f) = &reply {
                // A successful v0 handshake switches this connection to one raw token.
                if f.len() >= 6 && f[4..6] == [0, 0] {
                    raw_mode = 1;
                }
            }
        }
        match reply {
            Reply::Frame(f) => {
                let mut out = (f.len() as i32).to_be_bytes().to_vec();
                out.extend_from_slice(&f);
                if stream.write_all(&out).is_err() {
                    return;
                }
            }
            Reply::Raw(bytes) => {
                if stream.write_all(&bytes).is_err() {
                    return;
                }
            }
            Reply::Nothing => {}
            Reply::RawThenClose(bytes) => {
                let _ = stream.write_all(&bytes);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Reply::Close => {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Reply::Delayed(pause, f) => {
                thread::sleep(pause);
                let mut out = (f.len() as i32).to_be_bytes().to_vec();
                out.extend_from_slice(&f);
                if stream.write_all(&out).is_err() {
                    return;
                }
            }
            Reply::Trickle(pause, bytes) => {
                for byte in bytes {
                    if stop.load(Ordering::Acquire) || stream.write_all(&[byte]).is_err() {
                        return;
                    }
                    thread::sleep(pause);
                }
            }
        }
    }
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on EOF or stop.
fn read_full(stream: &mut TcpStream, buf: &mut [u8], stop: &AtomicBool) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::Acquire) {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// A broker entry for a Metadata response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

pub fn node(id: i32, host: &str, port: u16) -> Node {
    Node {
        id,
        host: host.to_string(),
        port: i32::from(port),
    }
}

/// A Metadata v1 response frame (correlation id, body) naming `nodes`, no topics.
pub fn metadata_v1_response(correlation_id: i32, nodes: &[Node], controller: i32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.i32(correlation_id);
    w.i32(nodes.len() as i32);
    for n in nodes {
        w.i32(n.id);
        w.string_flex(false, &n.host);
        w.i32(n.port);
        w.nullable_string_flex(false, Some("rack-a"));
    }
    w.i32(controller);
    w.i32(0); // no topics
    out
}

/// A Metadata v12 response frame (flexible: response header with tags).
pub fn metadata_v12_response(correlation_id: i32, nodes: &[Node], controller: i32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.i32(correlation_id);
    w.uvarint(0); // response header tags
    w.i32(0); // throttle
    w.array_len(true, nodes.len());
    for n in nodes {
        w.i32(n.id);
        w.string_flex(true, &n.host);
        w.i32(n.port);
        w.nullable_string_flex(true, None);
        w.uvarint(0);
    }
    w.nullable_string_flex(true, Some("fake-cluster"));
    w.i32(controller);
    w.array_len(true, 0); // topics
                          // An unknown top-level tagged field, which must survive the rewrite.
    w.uvarint(1);
    w.uvarint(7);
    w.uvarint(2);
    w.bytes(&[0xca, 0xfe]);
    out
}

/// Parses the brokers out of a Metadata v1 or v12 response frame (after the size prefix).
pub fn parse_metadata_brokers(frame: &[u8], version: i16) -> Vec<Node> {
    let flexible = version >= 9;
    let mut r = Reader::new(frame);
    r.i32("correlation").unwrap();
    if flexible {
        r.skip_tagged_fields("header").unwrap();
    }
    if version >= 3 {
        r.i32("throttle").unwrap();
    }
    let n = r.array_len_nonnull(flexible, 10, "brokers").unwrap();
    let mut nodes = Vec::new();
    for _ in 0..n {
        let id = r.i32("id").unwrap();
        let host = r.string_flex(flexible, "host").unwrap().to_string();
        let port = r.i32("port").unwrap();
        r.nullable_string_flex(flexible, "rack").unwrap();
        if flexible {
            r.skip_tagged_fields("broker").unwrap();
        }
        nodes.push(Node { id, host, port });
    }
    nodes
}

/// A request frame (without size prefix): header v1 (or v2 when `flexible`) and `body`.
pub fn request(
    api_key: i16,
    version: i16,
    correlation_id: i32,
    flexible: bool,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out);
    w.i16(api_key);
    w.i16(version);
    w.i32(correlation_id);
    w.nullable_string_flex(false, Some("fake-client"));
    if flexible {
        w.uvarint(0);
    }
    w.bytes(body);
    out
}

/// A Metadata request for all topics (v1: null topics array; v12: null compact array + flags).
pub fn metadata_request(version: i16, correlation_id: i32) -> Vec<u8> {
    let mut body = Vec::new();
    let mut w = Writer::new(&mut body);
    if version >= 9 {
        w.uvarint(0); // topics: null
        w.bool(false); // allow auto topic creation
        w.bool(false); // include topic authorized operations
        w.uvarint(0); // tags
        request(3, version, correlation_id, true, &body)
    } else {
        w.i32(-1);
        request(3, version, correlation_id, false, &body)
    }
}

/// A TCP connection to `addr` from `from` (on Linux any 127.0.0.0/8 address is loopback).
pub fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    socket
        .bind(&SocketAddr::from((from, 0)).into())
        .expect("bind to a loopback address");
    socket.connect(&addr.into()).expect("connect");
    socket.into()
}

/// A raw Kafka client over one TCP connection.
pub struct RawClient {
    pub stream: TcpStream,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        RawClient { stream }
    }

    /// Connects from `from`, one of the loopback addresses 127.0.0.0/8 (for tests of limits
    /// per source address).
    pub fn connect_from(from: [u8; 4], addr: SocketAddr) -> RawClient {
        let stream = connect_from(from, addr);
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        RawClient { stream }
    }

    pub fn connect_host(host: &str, port: i32) -> RawClient {
        let addr = format!("{host}:{port}");
        let stream = TcpStream::connect(addr.as_str()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        RawClient { stream }
    }

    pub fn send(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let mut out = (frame.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(frame);
        self.stream.write_all(&out)
    }

    /// Reads one frame (without its size prefix); `None` when the connection closed.
    pub fn recv(&mut self) -> Option<Vec<u8>> {
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix).ok()?;
        let size = i32::from_be_bytes(prefix);
        if size < 0 {
            return None;
        }
        let mut frame = vec![0u8; size as usize];
        self.stream.read_exact(&mut frame).ok()?;
        Some(frame)
    }

    /// Whether the proxy closed the connection (EOF or reset) within the read timeout.
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
}
