//! Runs the Python client scripts in `tests/clients/` and reads the JSON object each prints.

use crate::harness::Tools;
use crate::json::{self, Value};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a client script printed: its JSON object.
pub struct Outcome {
    pub json: Value,
}

/// Runs `tests/clients/<script> --bootstrap <bootstrap> --timeout <secs> <args...>`, kills it
/// after `timeout` plus a grace period, and returns its JSON. Panics with everything the client
/// printed when it fails, times out, or prints no JSON, so the test log shows what it saw.
pub fn run(
    tools: &Tools,
    script: &str,
    bootstrap: &str,
    args: &[&str],
    timeout: Duration,
) -> Outcome {
    match try_run(tools, script, bootstrap, args, timeout) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`run`], but returns the failure (with the client's output) instead of panicking.
pub fn try_run(
    tools: &Tools,
    script: &str,
    bootstrap: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<Outcome, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let secs = format!("{}", timeout.as_secs_f64());
    let started = Instant::now();
    let mut child = Command::new(&tools.python)
        .arg(dir.join(script))
        .args(["--bootstrap", bootstrap, "--timeout", &secs])
        .args(args)
        .current_dir(&dir)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start {} {script}: {e}", tools.python.display()))?;

    // Drain both pipes on threads so a chatty client never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });

    // The script has its own deadline; give it a grace period to report before killing it.
    let hard = timeout + Duration::from_secs(15);
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(st);
        }
        if started.elapsed() > hard {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    let took = started.elapsed();
    let what = format!("{script} --bootstrap {bootstrap} {}", args.join(" "));
    let details = format!("--- stdout ---\n{stdout}--- stderr ---\n{stderr}--- end ---");

    let Some(status) = status else {
        return Err(format!("{what}: killed after {hard:?}\n{details}"));
    };
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    let json = match line.map(json::parse) {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(format!("{what}: {status}, unreadable JSON: {e}\n{details}")),
        None => return Err(format!("{what}: {status}, printed no JSON\n{details}")),
    };
    if let Some(e) = json.get("error").as_str() {
        return Err(format!("{what}: client error: {e}\n{details}"));
    }
    if !status.success() {
        return Err(format!("{what}: {status}\n{details}"));
    }
    eprintln!("{what}: {took:.1?}: {json}");
    Ok(Outcome { json })
}
