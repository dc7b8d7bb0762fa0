//! The scripted brokers: a fast one for throughput and latency (a thread per connection
//! answering every request from pre-encoded responses, so the broker is never the bottleneck),
//! and an idle one for the memory benchmark (answers one request per connection on a
//! short-lived thread, then parks the socket, so 10,000 connections cost it no threads).

use crate::wire;
use std::io::{self, BufReader, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Responses by the client id of the request they answer (which names the workload); anything
/// else gets the ApiVersions response.
pub struct Responses {
    by_client: Vec<(Vec<u8>, Vec<u8>)>,
    fallback: Vec<u8>,
}

impl Responses {
    pub fn new(by_client: Vec<(Vec<u8>, Vec<u8>)>) -> Responses {
        Responses {
            by_client,
            fallback: wire::api_versions_response(),
        }
    }

    fn answer(&self, request: &[u8]) -> &[u8] {
        let client = wire::request_client_id(request);
        self.by_client
            .iter()
            .find(|(c, _)| c == client)
            .map_or(&self.fallback, |(_, r)| r)
    }
}

/// Accepts on a listener until stopped (a connect to itself wakes the blocking accept).
struct Acceptor {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    fn start(mut serve: impl FnMut(TcpStream) + Send + 'static) -> Acceptor {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the scripted broker");
        let addr = listener.local_addr().expect("broker address");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::Acquire) {
                    break;
                }
                if let Ok(conn) = conn {
                    serve(conn);
                }
            }
        });
        Acceptor {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A broker answering every request on its own connection thread.
pub struct FastBroker {
    pub addr: SocketAddr,
    acceptor: Option<Acceptor>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FastBroker {
    /// `responses` is built once the address is known (NodeEndpoints name the broker).
    pub fn start(responses: impl FnOnce(SocketAddr) -> Responses) -> FastBroker {
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let shared: Arc<Mutex<Option<Arc<Responses>>>> = Arc::default();
        let (conns, table) = (Arc::clone(&connections), Arc::clone(&shared));
        let acceptor = Acceptor::start(move |s| {
            let Some(responses) = table.lock().unwrap().clone() else {
                return;
            };
            let mut conns = conns.lock().unwrap();
            // Join the finished ones: a measurement opens up to 64 connections, a run hundreds.
            let (done, live): (Vec<_>, Vec<_>) = conns.drain(..).partition(|t| t.is_finished());
            *conns = live;
            done.into_iter().for_each(|t| drop(t.join()));
            conns.push(thread::spawn(move || serve_fast(s, &responses)));
        });
        *shared.lock().unwrap() = Some(Arc::new(responses(acceptor.addr)));
        FastBroker {
            addr: acceptor.addr,
            acceptor: Some(acceptor),
            connections,
        }
    }
}

impl Drop for FastBroker {
    fn drop(&mut self) {
        drop(self.acceptor.take());
        // Connection threads end when their peers close, which the load generator and the
        // proxies (killed before the broker) do.
        for t in self.connections.lock().unwrap().drain(..) {
            let _ = t.join();
        }
    }
}

fn serve_fast(s: TcpStream, responses: &Responses) {
    let _ = s.set_nodelay(true);
    let Ok(read) = s.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(256 * 1024, read);
    let mut writer = s;
    let mut request = Vec::new();
    while let Ok(true) = answer_one(&mut reader, &mut writer, &mut request, responses) {}
}

/// Reads one request and writes its response; `Ok(false)` when the peer closed cleanly.
fn answer_one(
    reader: &mut impl Read,
    writer: &mut impl Write,
    request: &mut Vec<u8>,
    responses: &Responses,
) -> io::Result<bool> {
    let mut prefix = [0u8; 4];
    match reader.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let size = i32::from_be_bytes(prefix).max(0) as usize;
    request.resize(size, 0);
    reader.read_exact(request)?;
    let response = responses.answer(request);
    let mut head = [0u8; 8];
    head.copy_from_slice(&response[..8]);
    head[wire::RESPONSE_CORRELATION].copy_from_slice(&request[4..8]);
    write_two(writer, &head, &response[8..])?;
    Ok(true)
}

/// Writes `head` then `rest` with as few system calls as the socket allows (no copy of a
/// 1 MiB response to patch its correlation id).
fn write_two(s: &mut impl Write, mut head: &[u8], mut rest: &[u8]) -> io::Result<()> {
    while !head.is_empty() {
        let n = s.write_vectored(&[IoSlice::new(head), IoSlice::new(rest)])?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        if n < head.len() {
            head = &head[n..];
        } else {
            rest = &rest[n - head.len()..];
            head = &[];
        }
    }
    s.write_all(rest)
}

/// A broker for idle connections: each connection's first request is answered on a
/// short-lived thread, then the socket is parked; [`IdleBroker::answer_parked`] answers one
/// more request on every parked socket (the check that all connections are still served).
pub struct IdleBroker {
    pub addr: SocketAddr,
    acceptor: Option<Acceptor>,
    parked: Arc<Mutex<Vec<TcpStream>>>,
}

impl IdleBroker {
    pub fn start() -> IdleBroker {
        let parked: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let responses = Arc::new(Responses::new(Vec::new()));
        let park = Arc::clone(&parked);
        let acceptor = Acceptor::start(move |s| {
            let (park, responses) = (Arc::clone(&park), Arc::clone(&responses));
            // Small stacks: thousands of these may be alive while connections pour in.
            let spawned = thread::Builder::new().stack_size(64 * 1024).spawn(move || {
                let _ = s.set_nodelay(true);
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                let mut request = Vec::new();
                if let Ok(true) = answer_one(&mut &s, &mut &s, &mut request, &responses) {
                    park.lock().unwrap().push(s);
                }
            });
            if let Err(e) = spawned {
                eprintln!("idle broker: cannot start a connection thread: {e}");
            }
        });
        IdleBroker {
            addr: acceptor.addr,
            acceptor: Some(acceptor),
            parked,
        }
    }

    /// How many connections have been answered and parked.
    pub fn parked(&self) -> usize {
        self.parked.lock().unwrap().len()
    }

    /// Answers one request on every parked socket (the requests were sent before); returns how
    /// many were answered.
    pub fn answer_parked(&self) -> usize {
        let responses = Responses::new(Vec::new());
        let mut request = Vec::new();
        let parked = self.parked.lock().unwrap();
        let mut answered = 0;
        for s in parked.iter() {
            // The requests are on their way already; a socket whose client failed gets none.
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            if let Ok(true) = answer_one(&mut &*s, &mut &*s, &mut request, &responses) {
                answered += 1;
            }
        }
        answered
    }

    /// Closes every parked connection.
    pub fn close_all(&self) {
        self.parked.lock().unwrap().clear();
    }
}

impl Drop for IdleBroker {
    fn drop(&mut self) {
        drop(self.acceptor.take());
        self.close_all();
    }
}

/// The argument that makes this binary serve an [`IdleBroker`] as a child process.
pub const IDLE_BROKER_ARG: &str = "--serve-idle-broker";

/// The child-process side: an [`IdleBroker`] driven by lines on stdin (`count`, `answer`,
/// `close`), each answered with one line on stdout; its address is the first line.
pub fn serve_idle_broker_process() {
    let broker = IdleBroker::start();
    let mut out = io::stdout();
    let _ = writeln!(out, "{}", broker.addr);
    let _ = out.flush();
    for line in io::stdin().lines() {
        let Ok(line) = line else { break };
        let reply = match line.trim() {
            "count" => broker.parked().to_string(),
            "answer" => broker.answer_parked().to_string(),
            "close" => {
                broker.close_all();
                "closed".into()
            }
            _ => break,
        };
        let _ = writeln!(out, "{reply}");
        let _ = out.flush();
    }
}

/// An [`IdleBroker`] in a child process (this binary again), so its end of every connection
/// counts against the child's open-files limit, not the harness's: the harness can then hold
/// as many client connections as its own limit allows.
pub struct IdleBrokerProcess {
    child: std::process::Child,
    commands: std::process::ChildStdin,
    replies: BufReader<std::process::ChildStdout>,
    pub addr: SocketAddr,
}

impl IdleBrokerProcess {
    pub fn start() -> IdleBrokerProcess {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().expect("the harness binary");
        let mut child = Command::new(exe)
            .arg(IDLE_BROKER_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the idle broker process");
        let commands = child.stdin.take().expect("stdin");
        let mut replies = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        replies.read_line(&mut line).expect("idle broker address");
        let addr = line.trim().parse().expect("idle broker address");
        IdleBrokerProcess {
            child,
            commands,
            replies,
            addr,
        }
    }

    fn command(&mut self, command: &str) -> String {
        use std::io::BufRead;
        writeln!(self.commands, "{command}").expect("idle broker command");
        let mut line = String::new();
        self.replies
            .read_line(&mut line)
            .expect("idle broker reply");
        line.trim().to_owned()
    }

    /// Connections answered and parked.
    pub fn parked(&mut self) -> usize {
        self.command("count").parse().unwrap_or(0)
    }

    /// Answers one more request on every parked connection; returns how many.
    pub fn answer_parked(&mut self) -> usize {
        self.command("answer").parse().unwrap_or(0)
    }

    pub fn close_all(&mut self) {
        self.command("close");
    }
}

impl Drop for IdleBrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
