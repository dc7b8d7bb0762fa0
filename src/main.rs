//! The `kafka-proxy` binary: parse the command line, set up logging, run the command, and
//! turn the outcome into an exit status (0 ok, 1 runtime error, 2 usage error). Everything
//! else lives in the library.

use std::io::Write;
use std::process::ExitCode;

use kafka_proxy::config::{self, Config, Mode};
use kafka_proxy::logging;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mode = match config::parse(args.clone(), |name| std::env::var_os(name)) {
        Ok(mode) => mode,
        Err(err) if kafka_proxy::preflight::requested(&args, |name| std::env::var(name).ok()) => {
            // `server --check`: a flag that does not parse is a failed check (exit 1).
            kafka_proxy::preflight::report_usage_error(&err, &mut std::io::stdout().lock());
            return ExitCode::from(1);
        }
        Err(err) => {
            eprintln!("kafka-proxy: {err}");
            return ExitCode::from(2);
        }
    };
    match mode {
        Mode::Help(text) => print_stdout(&text),
        Mode::Version => print_stdout(&format!("kafka-proxy {}\n", env!("CARGO_PKG_VERSION"))),
        Mode::Plugin { name, args } => match kafka_proxy::plugin::builtin::run(&name, args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("kafka-proxy: {err}");
                ExitCode::from(match err {
                    kafka_proxy::plugin::builtin::PluginExit::Usage(_) => 2,
                    kafka_proxy::plugin::builtin::PluginExit::Failed(_) => 1,
                })
            }
        },
        Mode::Tool(tool) => {
            if let Err(err) = logging::init(
                config::LogFormat::Text,
                logging::JsonFields::default(),
                log::LevelFilter::Info,
            ) {
                eprintln!("kafka-proxy: cannot set up logging: {err}");
                return ExitCode::from(1);
            }
            match kafka_proxy::tools::run(tool) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    log::error!("{err}");
                    ExitCode::from(1)
                }
            }
        }
        Mode::Server(config) => {
            if let Err(err) = logging::init(
                config.log_format,
                config.log_json_fields.clone(),
                config.log_level,
            ) {
                eprintln!("kafka-proxy: cannot set up logging: {err}");
                return ExitCode::from(1);
            }
            if config.check {
                // `--check`: the steps on standard output, no listener opened.
                return match kafka_proxy::preflight::run_to_stdout(*config) {
                    true => ExitCode::SUCCESS,
                    false => ExitCode::from(1),
                };
            }
            log::info!("starting kafka-proxy {}", env!("CARGO_PKG_VERSION"));
            match run_server(*config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    log::error!("{}", error_chain(err.as_ref()));
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// Runs `kafka-proxy server` until it shuts down.
fn run_server(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    // An https:// forward proxy's trust store is read now: a bad one is a startup error.
    kafka_proxy::net::forward::check(&config)?;
    Ok(kafka_proxy::lifecycle::run_server(config)?)
}

/// `error: cause: cause`, each source once.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Writes to standard output; a closed pipe (`kafka-proxy --help | head`) is not an error.
fn print_stdout(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kafka-proxy: cannot write to standard output: {err}");
            ExitCode::from(1)
        }
    }
}
