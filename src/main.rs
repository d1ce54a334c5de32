//! The `scoreticker` command: serve the built-in demo, serve a config, or check one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use scoreticker::{app, config, demo};

#[derive(Parser)]
#[command(name = "scoreticker", version, about = "Live sports scores, from upstream feeds to an embeddable ticker widget.",
    long_about = "Live sports scores, from upstream feeds to an embeddable ticker widget.\n\nWith no command, serves the built-in demo (ESPN's World Cup 2026 scoreboard replayed live) on http://127.0.0.1:8080/.")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Plain)]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the feeds of a config file.
    Serve {
        #[arg(long, short, default_value = "/etc/scoreticker/scoreticker.toml")]
        config: PathBuf,
        /// Override the config's `listen` address.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Validate a config file and its feeds directory; print every problem.
    CheckConfig {
        #[arg(long, short, default_value = "/etc/scoreticker/scoreticker.toml")]
        config: PathBuf,
    },
    /// Serve the built-in demo (the default with no command).
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// How long each recorded scoreboard is served before the next.
        #[arg(long, default_value = "3s", value_parser = parse_duration)]
        step: Duration,
        /// How often the demo feed is polled.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        poll: Duration,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Plain,
    Json,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    config::parse_duration(s)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let command = cli.command.unwrap_or(Command::Demo {
        listen: "127.0.0.1:8080".parse().expect("static address"),
        step: Duration::from_secs(3),
        poll: Duration::from_secs(1),
    });
    match command {
        Command::CheckConfig { config: path } => match config::load(&path) {
            Ok(cfg) if !cfg.ignored_feed_files.is_empty() => {
                eprintln!("{}", config::ConfigErrors(cfg.ignored_feed_files.clone()));
                eprintln!("{} problem(s) found", cfg.ignored_feed_files.len());
                ExitCode::FAILURE
            }
            Ok(cfg) => {
                println!("{}: ok ({} feeds from {})", path.display(), cfg.feeds.len(), cfg.feeds_dir.display());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                eprintln!("{} problem(s) found", errors.0.len());
                ExitCode::FAILURE
            }
        },
        Command::Serve { config: path, listen } => {
            let mut cfg = match config::load(&path) {
                Ok(c) => c,
                Err(errors) => {
                    eprintln!("{errors}");
                    eprintln!("refusing to start: {} problem(s) in the configuration", errors.0.len());
                    return ExitCode::FAILURE;
                }
            };
            if let Some(listen) = listen {
                cfg.listen = listen;
            }
            run(async move { app::start(cfg).await })
        }
        Command::Demo { listen, step, poll } => run(async move {
            let upstream = demo::start_replay(step).await?;
            let cfg = demo::config(listen, &upstream, poll)?;
            let running = app::start(cfg).await?;
            println!("scoreticker demo: open http://{}/ (World Cup 2026 replay; Ctrl-C to stop)", running.addr);
            Ok(running)
        }),
    }
}

/// Runs the service on a multi-threaded runtime until a signal.
fn run(start: impl std::future::Future<Output = Result<app::Running, String>>) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async {
        match start.await {
            Ok(running) => {
                running.run_until_signal().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("scoreticker: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hyper=warn,reqwest=warn,tokio_cron_scheduler=warn"));
    use std::io::IsTerminal;
    // Colours only for a person at a terminal, never into journald or a file.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
