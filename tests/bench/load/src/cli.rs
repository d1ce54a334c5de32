//! The command line: one subcommand per tool, their flags and defaults.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use scoreticker::config::parse_duration;

#[derive(Parser)]
#[command(name = "scoreticker-load", about = "Load and measurement tool for scoreticker's WebSocket fan-out.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Open N subscribers; measure delivery latency, frames/s, server CPU µs per delivery, RSS per subscriber.
    Subscribe(SubscribeArgs),
    /// N subscribers drop and reconnect at once with `since`; time to resume, missed events.
    Storm(StormArgs),
    /// A synthetic ESPN scoreboard upstream whose scores change every tick.
    Upstream(UpstreamArgs),
    /// The reference broadcaster (the benchmark's floor): threads, one pre-encoded frame,
    /// one non-blocking write per socket; speaks what `subscribe` needs.
    Floor(FloorArgs),
    /// Print the benchmark table (markdown) from the JSON results of the other commands.
    Table(TableArgs),
    /// Wait until the machine is quiet (busy CPU below a bound), so a measurement is
    /// not shared with other work; gives up after --timeout with a warning.
    WaitQuiet(WaitQuietArgs),
}

#[derive(Args, Clone, Debug)]
pub struct WaitQuietArgs {
    /// Busy CPU of the whole machine, in % of one core, that counts as quiet.
    #[arg(long, default_value_t = 15.0)]
    pub max_percent: f64,
    #[arg(long, default_value = "180s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Length of one sample.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub sample: Duration,
}

#[derive(Args, Clone, Debug)]
pub struct ClientArgs {
    /// WebSocket URL, e.g. ws://127.0.0.1:8080/ws?topics=all (topics in the URL subscribe at once;
    /// without them the tool sends a `subscribe` for `all`).
    #[arg(long)]
    pub url: String,
    /// Number of subscribers.
    #[arg(short = 'n', long = "subscribers", default_value_t = 100)]
    pub n: usize,
    /// Loopback source addresses to bind before connecting (round-robin), e.g. 127.0.0.2,127.0.0.3.
    #[arg(long, value_delimiter = ',')]
    pub sources: Vec<Ipv4Addr>,
    /// Use 127.0.0.2 … 127.0.0.(K+1) as source addresses [default: max(2, N/10000 rounded up)].
    #[arg(long)]
    pub sources_count: Option<usize>,
    /// Client processes [default: N/15000 rounded up].
    #[arg(long)]
    pub procs: Option<usize>,
    /// Connection rate limit, e.g. 2000/s [default: none, only --concurrency].
    #[arg(long)]
    pub ramp: Option<String>,
    /// Connection attempts in flight per process while connecting.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// How long one subscriber may take from connect to its snapshot.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Print the result as JSON on stdout (progress goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// A name copied into the result.
    #[arg(long)]
    pub label: Option<String>,
    /// Offer permessage-deflate (`permessage-deflate; client_max_window_bits`, as Chromium
    /// does) and inflate compressed frames; the result reports wire bytes per frame kind
    /// and whether the server accepted.
    #[arg(long)]
    pub deflate: bool,
    #[arg(long, hide = true)]
    pub child: bool,
    #[arg(long, hide = true, default_value_t = 0)]
    pub child_index: usize,
    #[arg(long, hide = true, default_value_t = 1)]
    pub child_count: usize,
}

#[derive(Args, Clone, Debug)]
pub struct SubscribeArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Measurement window (per rate step); 0s measures only connection and idle RSS.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// The server's pid: sample its CPU time and RSS from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Rate steps: before each window, GET the --control URL with `{rate}` replaced.
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<u32>,
    /// Control URL for --rates, e.g. http://127.0.0.1:9000/control?rate={rate}
    #[arg(long)]
    pub control: Option<String>,
    /// Wait after changing the rate before measuring.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub settle: Duration,
    /// Stop stepping rates once a step's p99 latency (ms) exceeds this.
    #[arg(long, default_value_t = 1000.0)]
    pub stop_p99_ms: f64,
    /// A window during which other processes used more CPU than this (% of one core)
    /// is measured again, after the machine is quiet, up to --retries times.
    #[arg(long, default_value_t = 25.0)]
    pub max_other_percent: f64,
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
}

#[derive(Args, Clone, Debug)]
pub struct StormArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// How long every client stays away before all reconnect at once (events keep
    /// coming meanwhile, so most resumes are real replays).
    #[arg(long, default_value = "1200ms", value_parser = parse_duration)]
    pub down: Duration,
    /// How long to keep checking seq continuity after the storm.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub observe: Duration,
    /// Reconnects in flight per process during the storm [default: all at once].
    #[arg(long)]
    pub storm_concurrency: Option<usize>,
    /// The server's pid (its CPU time during the storm is reported).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Reconnect here instead of --url (another node of a cluster): every
    /// client moves at once and resumes with `since` on that node.
    #[arg(long)]
    pub storm_url: Option<String>,
}

#[derive(Args, Clone, Debug)]
pub struct UpstreamArgs {
    /// Address to listen on (port 0: any; the address is printed as JSON on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Games per feed.
    #[arg(long, default_value_t = 20)]
    pub games: usize,
    /// Feeds served, at /feed/<i>/scoreboard (i = 0 … feeds-1).
    #[arg(long, default_value_t = 1)]
    pub feeds: usize,
    /// Feeds whose scores change each tick (settable at /control?rate=F).
    #[arg(long)]
    pub active_feeds: Option<usize>,
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub change_every: Duration,
    /// Games changed per active feed per tick (settable at /control?changes_per_tick=K).
    #[arg(long, default_value_t = 1)]
    pub changes_per_tick: usize,
}

#[derive(Args, Clone, Debug)]
pub struct FloorArgs {
    /// Address to listen on (port 0: any; the address is printed as JSON on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Games in the snapshot (the update frames carry one game each).
    #[arg(long, default_value_t = 20)]
    pub games: usize,
    /// Updates per second (settable at /control?rate=F).
    #[arg(long, default_value_t = 1)]
    pub rate: u64,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 20)]
    pub heartbeat: u64,
}

#[derive(Args, Clone, Debug)]
pub struct TableArgs {
    #[arg(long)]
    pub service_main: Option<PathBuf>,
    #[arg(long)]
    pub service_sat: Option<PathBuf>,
    #[arg(long)]
    pub service_storm: Option<PathBuf>,
    #[arg(long)]
    pub service_idle: Option<PathBuf>,
    /// The service's main window again, its clients offering permessage-deflate (`subscribe --deflate`).
    #[arg(long)]
    pub service_deflate: Option<PathBuf>,
    #[arg(long)]
    pub node_main: Option<PathBuf>,
    #[arg(long)]
    pub node_sat: Option<PathBuf>,
    #[arg(long)]
    pub node_idle: Option<PathBuf>,
    #[arg(long)]
    pub floor_main: Option<PathBuf>,
    #[arg(long)]
    pub floor_sat: Option<PathBuf>,
    #[arg(long)]
    pub floor_idle: Option<PathBuf>,
    #[arg(long, default_value = "scoreticker")]
    pub service_name: String,
    #[arg(long, default_value = "Node ws")]
    pub node_name: String,
    #[arg(long, default_value = "floor (reference broadcaster)")]
    pub floor_name: String,
    /// p99 bound (ms) for the saturation column.
    #[arg(long, default_value_t = 100.0)]
    pub saturation_p99_ms: f64,
    /// p99 bound (ms) for the second saturation column.
    #[arg(long, default_value_t = 1000.0)]
    pub sustained_p99_ms: f64,
}

pub fn parse_rate(s: &str) -> Result<f64, String> {
    let n = s.trim().trim_end_matches("/s");
    n.parse::<f64>().ok().filter(|r| *r > 0.0).ok_or_else(|| format!("`{s}` is not a rate like 2000/s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rates() {
        // Durations are the service's own (`scoreticker::config::parse_duration`).
        let cli = Cli::try_parse_from(["scoreticker-load", "storm", "--url", "ws://127.0.0.1:1/ws", "--down", "1200ms", "--observe", "2m"]).unwrap();
        let Command::Storm(a) = cli.command else { panic!("not storm") };
        assert_eq!(a.down, Duration::from_millis(1200));
        assert_eq!(a.observe, Duration::from_secs(120));
        assert!(Cli::try_parse_from(["scoreticker-load", "wait-quiet", "--timeout", "soon"]).is_err());
        assert_eq!(parse_rate("2000/s").unwrap(), 2000.0);
        assert!(parse_rate("0/s").is_err());
    }
}
