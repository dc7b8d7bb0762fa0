//! The processes under test (the real kafka-proxy binary, HAProxy in TCP mode as the reference
//! cost of a bare TCP hop) and what /proc says about them: CPU seconds, RSS, limits, load.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The kafka-proxy binary: `KAFKA_PROXY_BIN` (a build with symbols, for profiling) or the one
/// cargo built for this bench.
fn proxy_binary() -> String {
    std::env::var("KAFKA_PROXY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kafka-proxy").into())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn wait_listening(addr: SocketAddr, what: &str, child: &mut Child, log: Option<&PathBuf>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let said = log
                .and_then(|f| fs::read_to_string(f).ok())
                .unwrap_or_default();
            panic!("{what} exited before listening on {addr}: {status}\n{said}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {addr}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A running kafka-proxy in front of one broker, killed on drop.
pub struct ProxyProcess {
    child: Child,
    pub addr: SocketAddr,
}

/// The static musl build of kafka-proxy, the binary a release ships, when `scripts/bench.sh`
/// built one (`KAFKA_PROXY_MUSL_BIN`). Its allocator returns freed memory to the system where
/// glibc's keeps it, which shows in the memory benchmark.
pub fn musl_binary() -> Option<String> {
    std::env::var("KAFKA_PROXY_MUSL_BIN")
        .ok()
        .filter(|p| std::path::Path::new(p).is_file())
}

impl ProxyProcess {
    pub fn start(broker: SocketAddr, extra: &[&str]) -> ProxyProcess {
        ProxyProcess::start_binary(&proxy_binary(), broker, extra)
    }

    pub fn start_binary(binary: &str, broker: SocketAddr, extra: &[&str]) -> ProxyProcess {
        let port = free_port();
        let mapping = format!("{broker},127.0.0.1:{port}");
        let mut args = vec![
            "server",
            "--bootstrap-server-mapping",
            &mapping,
            "--log-level",
            "warn",
        ];
        // HTTP is on by default (port 9080): several proxies run at once, so each takes a
        // free port unless the caller turns HTTP off.
        if !extra.contains(&"--http-disable") {
            args.extend(["--http-listen-address", "127.0.0.1:0"]);
        }
        let mut child = Command::new(binary)
            .args(&args)
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .expect("start kafka-proxy");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_listening(addr, "kafka-proxy", &mut child, None);
        ProxyProcess { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HAProxy in TCP mode in front of one broker, from a temporary config; killed on drop.
pub struct Haproxy {
    child: Child,
    pub addr: SocketAddr,
    dir: PathBuf,
}

/// Whether a missing tool fails the run (CI) instead of being skipped; the rule of
/// `tests/e2e/harness.rs`.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The haproxy binary: `HAPROXY_BIN`, else `haproxy` on PATH or in /usr/sbin (Debian puts it
/// there, outside a normal user's PATH).
pub fn haproxy_binary() -> Option<String> {
    if let Ok(bin) = std::env::var("HAPROXY_BIN") {
        return Some(bin);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("haproxy"))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

pub fn haproxy_version() -> String {
    haproxy_binary()
        .and_then(|bin| Command::new(bin).arg("-v").output().ok())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "haproxy not found".into())
}

impl Haproxy {
    /// `threads`: `None` leaves HAProxy's default (one thread per CPU it may run on).
    pub fn start(broker: SocketAddr, threads: Option<usize>, maxconn: usize) -> Option<Haproxy> {
        let Some(bin) = haproxy_binary() else {
            let message = "haproxy not found (Debian package haproxy; scripts/bench.sh installs it, or set HAPROXY_BIN)";
            assert!(!ci(), "{message}");
            eprintln!("skipping the HAProxy path: {message}");
            return None;
        };
        // HAProxy refuses to start when maxconn needs more descriptors than it may open
        // (two per connection).
        let limit = open_files_limit().unwrap_or(1024).min(1 << 30) as usize;
        let maxconn = maxconn.min(limit.saturating_sub(100) / 2).max(16);
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "kafka-proxy-perf-haproxy-{}-{port}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).expect("haproxy temp dir");
        let nbthread = threads.map_or(String::new(), |n| format!("    nbthread {n}\n"));
        // Plain TCP forwarding with defaults otherwise (16 KiB buffers, no splicing): the
        // reference cost of one more TCP hop. No logging, as kafka-proxy logs at warn.
        let config = format!(
            "global\n    maxconn {maxconn}\n{nbthread}\
             defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 10m\n    timeout server 10m\n\
             frontend kafka\n    bind 127.0.0.1:{port}\n    default_backend broker\n\
             backend broker\n    server broker {broker}\n"
        );
        let file = dir.join("haproxy.cfg");
        fs::write(&file, config).expect("haproxy config");
        // Its start-up notices go to a file, shown if it fails.
        let log = dir.join("haproxy.log");
        let mut child = Command::new(bin)
            .arg("-f")
            .arg(&file)
            .arg("-db") // foreground, one process: its pid is the one that works
            .stdin(Stdio::null())
            .stderr(fs::File::create(&log).expect("haproxy log"))
            .spawn()
            .expect("start haproxy");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_listening(addr, "haproxy", &mut child, Some(&log));
        Some(Haproxy { child, addr, dir })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Clock ticks per second of /proc/<pid>/stat times: USER_HZ, 100 on every Linux ABI.
const USER_HZ: f64 = 100.0;

/// User plus system CPU seconds a process has used, over all its threads (live and ended).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state); utime
    // and stime are fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// CPU seconds the whole machine spent busy: user, nice, system, irq and softirq (a process's
/// system time includes the softirq work done in its context, so it must count here too;
/// idle, iowait and steal apart).
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|v| v.parse().ok())
        .collect();
    let busy = [0, 1, 2, 5, 6]
        .iter()
        .map(|&i| fields.get(i))
        .sum::<Option<f64>>()?;
    Some(busy / USER_HZ)
}

/// Cores' worth of CPU that processes other than this harness and the measured hop used
/// while `f` ran: other work on the machine, which skews the figures.
pub fn background_cores<T>(hop: Option<u32>, f: impl FnOnce() -> T) -> (T, f64) {
    let own = || {
        let harness = cpu_seconds(std::process::id()).unwrap_or(0.0);
        harness + hop.and_then(cpu_seconds).unwrap_or(0.0)
    };
    let (busy, mine, start) = (machine_busy_seconds(), own(), Instant::now());
    let result = f();
    let others = machine_busy_seconds()
        .zip(busy)
        .map_or(f64::NAN, |(after, before)| after - before - (own() - mine));
    (result, (others / start.elapsed().as_secs_f64()).max(0.0))
}

/// A field of /proc/<pid>/status, as its first number (VmRSS in KiB, Threads).
pub fn status_field(pid: u32, name: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The soft limit on open files of this process (inherited by the processes it starts).
pub fn open_files_limit() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    if soft == "unlimited" {
        Some(u64::MAX)
    } else {
        soft.parse().ok()
    }
}

/// The 1-minute load average.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// One line about the machine the figures come from.
pub fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    format!("{cores} × {cpu}, Linux {kernel}, {}", haproxy_version())
}

/// The system calls `perf stat` counts: all, then the two a hop forwards with.
const SYSCALL_EVENTS: [&str; 3] = [
    "raw_syscalls:sys_enter",
    "syscalls:sys_enter_recvfrom",
    "syscalls:sys_enter_sendto",
];

/// System calls of a process (every thread, also those started while counting), counted by
/// `perf stat` until [`SyscallCounter::finish`]. `/proc/PID/io` cannot tell: its `syscr` and
/// `syscw` count read(2) and write(2), not the recv(2) and send(2) both hops use.
pub struct SyscallCounter {
    child: Child,
    file: PathBuf,
}

/// System calls counted: all of them, recvfrom, sendto.
#[derive(Clone, Copy, Default)]
pub struct Syscalls {
    pub all: u64,
    pub recv: u64,
    pub send: u64,
}

impl SyscallCounter {
    /// Starts counting, or `None` when `perf` is missing or may not trace (then the tables show
    /// a dash).
    pub fn start(pid: u32) -> Option<SyscallCounter> {
        let file = std::env::temp_dir().join(format!(
            "kafka-proxy-perf-syscalls-{}-{pid}.csv",
            std::process::id()
        ));
        let child = Command::new("perf")
            .args(["stat", "-x", ",", "-o"])
            .arg(&file)
            .args(["-e", &SYSCALL_EVENTS.join(","), "-p"])
            .arg(pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // perf attaches to the threads a little after it starts; the load must not begin before.
        thread::sleep(Duration::from_millis(300));
        Some(SyscallCounter { child, file })
    }

    /// Stops counting (perf writes its counts on SIGINT) and returns them.
    pub fn finish(mut self) -> Option<Syscalls> {
        let interrupted = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !interrupted {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let counts = fs::read_to_string(&self.file).ok()?;
        let _ = fs::remove_file(&self.file);
        let count = |event: &str| {
            counts
                .lines()
                .find(|l| l.split(',').nth(2) == Some(event))
                .and_then(|l| l.split(',').next()?.parse::<u64>().ok())
        };
        Some(Syscalls {
            all: count(SYSCALL_EVENTS[0])?,
            recv: count(SYSCALL_EVENTS[1])?,
            send: count(SYSCALL_EVENTS[2])?,
        })
    }
}
