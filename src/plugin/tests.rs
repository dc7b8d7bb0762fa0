use super::*;
use std::io::Cursor;
use std::sync::Arc;

fn script(body: &str, timeout: Duration) -> PluginSpec {
    PluginSpec {
        role: "test".into(),
        program: "/bin/sh".into(),
        args: vec!["-c".into(), body.into()],
        log_level: log::LevelFilter::Info,
        timeout,
    }
}

fn check(user: &str) -> Request {
    Request::CheckPassword {
        mechanism: "PLAIN".into(),
        username: user.into(),
        password: "secret-password".into(),
    }
}

/// A shell plugin answering every request with ok and the request's id.
const ECHO_OK: &str = r#"while IFS= read -r line; do
    id=$(printf '%s' "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
    printf '{"id":%s,"ok":true,"identity":"u"}\n' "$id"
done"#;

#[test]
fn wire_format() {
    let line = serde_json::to_string(&Envelope {
        id: 7,
        body: &check("alice"),
    })
    .unwrap();
    assert_eq!(
        line,
        r#"{"id":7,"method":"check-password","mechanism":"PLAIN","username":"alice","password":"secret-password"}"#
    );
    let line = serde_json::to_string(&Envelope {
        id: 8,
        body: &Request::GetToken {},
    })
    .unwrap();
    assert_eq!(line, r#"{"id":8,"method":"get-token"}"#);
    assert_eq!(
        parse_reply(br#"{"id":3,"ok":true,"token":"t","expires_at":12,"extra":1}"#).unwrap(),
        (
            3,
            Reply {
                ok: true,
                token: Some("t".into()),
                expires_at: Some(12),
                ..Reply::default()
            }
        )
    );
    assert!(parse_reply(b"hello").is_err());
    assert!(parse_reply(br#"{"ok":true}"#).is_err(), "id is required");
    assert!(parse_reply(br#"{"id":1}"#).is_err(), "ok is required");
    assert!(parse_reply(br#"{"id":1,"ok":"yes"}"#).is_err());
}

#[test]
fn debug_hides_secrets() {
    let text = format!("{:?}", check("alice"));
    assert!(!text.contains("secret-password"), "{text}");
    let reply = Reply {
        ok: true,
        token: Some("tok-secret".into()),
        ..Reply::default()
    };
    assert!(!format!("{reply:?}").contains("tok-secret"));
    let text = format!(
        "{:?}",
        Request::VerifyToken {
            token: "tok-secret".into()
        }
    );
    assert!(!text.contains("tok-secret"));
}

#[test]
fn stderr_levels() {
    assert_eq!(line_level("[ERROR] ldap down"), Some(log::Level::Error));
    assert_eq!(line_level("warning: slow"), Some(log::Level::Warn));
    assert_eq!(line_level("DEBUG x"), Some(log::Level::Debug));
    assert_eq!(line_level("refused user 'bob'"), None);
    assert_eq!(line_level(""), None);
}

#[test]
fn capped_lines() {
    let mut r = Cursor::new(b"short\nthis line is long\nend".to_vec());
    let mut line = Vec::new();
    assert_eq!(
        read_line_capped(&mut r, &mut line, 8).unwrap(),
        LineRead::Line
    );
    assert_eq!(line, b"short");
    assert_eq!(
        read_line_capped(&mut r, &mut line, 8).unwrap(),
        LineRead::TooLong
    );
    assert_eq!(line, b"this lin");
    assert_eq!(
        read_line_capped(&mut r, &mut line, 8).unwrap(),
        LineRead::Line
    );
    assert_eq!(line, b"end");
    assert_eq!(
        read_line_capped(&mut r, &mut line, 8).unwrap(),
        LineRead::Eof
    );
}

#[test]
fn serve_answers_and_survives_garbage() {
    let input = concat!(
        r#"{"id":1,"method":"check-password","username":"a","password":"b"}"#,
        "\n",
        "garbage\n",
        r#"{"id":3,"method":"launch-missiles"}"#,
        "\n\n",
        r#"{"id":4,"method":"get-token"}"#,
        "\n"
    );
    let mut out = Vec::new();
    serve(input.as_bytes(), &mut out, |req| match req {
        Request::CheckPassword { username, .. } => Reply::yes(username),
        _ => Reply::no("nope"),
    })
    .unwrap();
    let lines: Vec<(u64, Reply)> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| parse_reply(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], (1, Reply::yes("a")));
    assert_eq!(lines[1].0, 0);
    assert!(!lines[1].1.ok);
    assert_eq!(lines[2].0, 3);
    assert!(!lines[2].1.ok);
    assert_eq!(lines[3], (4, Reply::no("nope")));
}

#[test]
fn resolves_builtins_to_this_executable() {
    let spec = PluginSpec::resolve(
        "auth-local",
        "auth-user",
        &["--username".into(), "u".into()],
        log::LevelFilter::Info,
        Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(spec.program, std::env::current_exe().unwrap());
    assert_eq!(spec.args, ["plugin", "auth-user", "--username", "u"]);
    let spec = PluginSpec::resolve(
        "auth-local",
        "/usr/bin/x",
        &[],
        log::LevelFilter::Info,
        Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(spec.program, PathBuf::from("/usr/bin/x"));
    assert!(spec.args.is_empty());
}

#[test]
fn calls_a_script_from_many_threads() {
    let plugin = Arc::new(Plugin::start(script(ECHO_OK, Duration::from_secs(5))).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let plugin = Arc::clone(&plugin);
            thread::spawn(move || {
                for _ in 0..5 {
                    let reply = plugin.call(&check("u")).unwrap();
                    assert!(reply.ok);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn start_failure_names_the_program() {
    let mut spec = script("", Duration::from_secs(1));
    spec.program = "/nonexistent/plugin".into();
    let err = Plugin::start(spec).err().unwrap();
    assert!(err.to_string().contains("/nonexistent/plugin"), "{err}");
    // A plugin that exits at once (say, on bad parameters) fails the start too.
    let err = Plugin::start(script(
        "echo 'bad flag' >&2; exit 2",
        Duration::from_secs(1),
    ))
    .err()
    .unwrap();
    assert!(err.to_string().contains("exited as it started"), "{err}");
}

#[test]
fn a_hung_plugin_times_out_and_is_replaced() {
    // Answers the first request only after a long sleep (in a child process, which must be
    // killed with the group), then behaves.
    let body = format!(
        r#"if [ ! -e "$MARK" ]; then touch "$MARK"; sleep 30; fi
        {ECHO_OK}"#
    );
    let mark = std::env::temp_dir().join(format!("plugin-hung-{}", std::process::id()));
    let _ = std::fs::remove_file(&mark);
    let mut spec = script(
        &body.replace("$MARK", &mark.display().to_string()),
        Duration::from_millis(300),
    );
    spec.args[1] = spec.args[1].clone();
    let plugin = Plugin::start(spec).unwrap();
    let t0 = Instant::now();
    assert!(matches!(
        plugin.call(&check("u")),
        Err(PluginError::Timeout(_))
    ));
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    // Restarted (the child lived briefly: after the back-off).
    thread::sleep(INITIAL_BACKOFF * 2);
    let reply = plugin.call(&check("u")).unwrap();
    assert!(reply.ok);
    let _ = std::fs::remove_file(&mark);
}

/// Like [`ECHO_OK`], answering each request after `delay` (a `sleep` argument).
fn slow_ok(delay: &str) -> String {
    ECHO_OK.replace("printf '{", &format!("sleep {delay}; printf '{{"))
}

#[test]
fn a_queued_call_has_its_own_timeout() {
    // Answers in 400 ms, timeout 700 ms: the second of two concurrent calls waits about
    // 400 ms for its turn, and then still gets a whole 700 ms for the answer (with one
    // deadline for both, it had 300 ms left, timed out, and the child was killed).
    let plugin =
        Arc::new(Plugin::start(script(&slow_ok("0.4"), Duration::from_millis(700))).unwrap());
    let pid = plugin.pid();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let plugin = Arc::clone(&plugin);
            thread::spawn(move || plugin.call(&check("u")).map(|r| r.ok))
        })
        .collect();
    for t in threads {
        assert!(matches!(t.join().unwrap(), Ok(true)));
    }
    assert_eq!(plugin.pid(), pid, "the child was not replaced");
}

#[test]
fn a_crowd_of_calls_does_not_kill_a_healthy_plugin() {
    // 200 concurrent calls to a plugin answering in 50 ms with a 1 s timeout: about 20 are
    // answered, the others give up waiting for their turn. None of that is the plugin's
    // fault, so the same child answers the next call at once.
    let plugin = Arc::new(Plugin::start(script(&slow_ok("0.05"), Duration::from_secs(1))).unwrap());
    let pid = plugin.pid();
    let started = Instant::now();
    let threads: Vec<_> = (0..200)
        .map(|_| {
            let plugin = Arc::clone(&plugin);
            thread::spawn(move || plugin.call(&check("u")))
        })
        .collect();
    let (mut answered, mut busy) = (0, 0);
    for t in threads {
        match t.join().unwrap() {
            Ok(reply) => {
                assert!(reply.ok);
                answered += 1;
            }
            Err(PluginError::Busy(_)) => busy += 1,
            Err(e) => panic!("a call failed other than as busy: {e}"),
        }
    }
    assert!(answered >= 5, "{answered} answered");
    assert!(
        busy > 0,
        "every call was answered: the test did not crowd the plugin"
    );
    // Waiters are bounded: the crowd is done within two timeouts.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let t0 = Instant::now();
    assert!(plugin.call(&check("u")).unwrap().ok);
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(plugin.pid(), pid, "the child was not replaced");
}

#[test]
fn the_environment_is_an_allow_list() {
    use std::ffi::OsString;
    let vars = [
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "LC_TIME",
        "TZ",
        "TMPDIR",
        "HTTPS_PROXY",
        "no_proxy",
        "SASL_PASSWORD",
        "TLS_CLIENT_KEY_PASSWORD",
        "PROXY_LISTENER_KEY_PASSWORD",
        "FORWARD_PROXY",
        "AUTH_LOCAL_PARAM",
        "NOTIFY_SOCKET",
        "LD_PRELOAD",
        "LCX",
    ]
    .map(|name| (OsString::from(name), OsString::from("v")));
    let kept: Vec<String> = plugin_env(vars)
        .into_iter()
        .map(|(name, _)| name.into_string().unwrap())
        .collect();
    assert_eq!(
        kept,
        [
            "PATH",
            "HOME",
            "LANG",
            "LC_ALL",
            "LC_TIME",
            "TZ",
            "TMPDIR",
            "HTTPS_PROXY",
            "no_proxy"
        ]
    );
    // What a child really starts with (its /proc/PID/environ, before the shell adds
    // anything): allowed names only, though `cargo test` runs this with CARGO_* set.
    let body = r#"names=$(tr '\0' '\n' < /proc/$$/environ | cut -d= -f1 | tr '\n' ' ')
        while IFS= read -r line; do
            id=$(printf '%s' "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
            printf '{"id":%s,"ok":true,"identity":"%s"}\n' "$id" "$names"
        done"#;
    let plugin = Plugin::start(script(body, Duration::from_secs(5))).unwrap();
    let names = plugin.call(&check("u")).unwrap().identity.unwrap();
    for name in names.split_whitespace() {
        assert!(passed_to_plugins(name), "the child got {name}: {names}");
    }
    if std::env::var_os("PATH").is_some() {
        assert!(names.split_whitespace().any(|n| n == "PATH"), "{names}");
    }
}

#[test]
fn a_dead_plugin_is_restarted() {
    let plugin = Plugin::start(script(ECHO_OK, Duration::from_secs(5))).unwrap();
    assert!(plugin.call(&check("u")).unwrap().ok);
    let pid = plugin.pid().unwrap();
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    // The death is noticed before writing, and a new process answers.
    assert!(plugin.call(&check("u")).unwrap().ok);
    assert_ne!(plugin.pid(), Some(pid));
}

#[test]
fn dying_during_a_call_fails_the_call() {
    let plugin = Plugin::start(script("read -r line; exit 3", Duration::from_secs(5))).unwrap();
    match plugin.call(&check("u")) {
        Err(PluginError::Exited(status)) => assert!(status.contains('3'), "{status}"),
        other => panic!("{other:?}"),
    }
    // Restarted for the next call (the first child lived longer than the back-off), which
    // the new child dies on too; having died young, it is not restarted at once.
    assert!(matches!(
        plugin.call(&check("u")),
        Err(PluginError::Exited(_))
    ));
    assert!(matches!(
        plugin.call(&check("u")),
        Err(PluginError::Restarting(_))
    ));
}

#[test]
fn garbage_and_wrong_ids_fail_closed() {
    let plugin = Plugin::start(script(
        "read -r line; echo 'hello there'; sleep 5",
        Duration::from_secs(5),
    ))
    .unwrap();
    assert!(matches!(
        plugin.call(&check("u")),
        Err(PluginError::Protocol(_))
    ));
    // A reply with another id is not taken as the answer: the call times out.
    let plugin = Plugin::start(script(
        r#"read -r line; echo '{"id":999,"ok":true}'; sleep 5"#,
        Duration::from_millis(300),
    ))
    .unwrap();
    assert!(matches!(
        plugin.call(&check("u")),
        Err(PluginError::Timeout(_))
    ));
    // An overlong line.
    let plugin = Plugin::start(script(
        "read -r line; head -c 1100000 /dev/zero | tr '\\0' a; echo; sleep 5",
        Duration::from_secs(5),
    ))
    .unwrap();
    assert!(matches!(
        plugin.call(&check("u")),
        Err(PluginError::Protocol(_))
    ));
}
