//! Flag definitions (clap derive): they mirror the flags and validate only shapes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Chaos-engineering experiments against real services.
#[derive(Debug, Parser)]
#[command(
    name = "chaoskit-host",
    version,
    about = "Run chaos-engineering experiments against real services",
    long_about = "Run chaos-engineering experiments described in scenario files (TOML, YAML or JSON): \
start or reach a target, drive it with HTTP, TCP or command steps while injectors add faults, \
check invariants with validators, and write a verdict with text, JSON, JUnit and HTML reports.",
    after_help = "Examples:\n  chaoskit-host run examples/scenarios/demo.toml\n  chaoskit-host validate scenario.yaml --resolved\n  chaoskit-host report chaoskit-report/journal.json --format html > report.html\n\nEnvironment:\n  CHAOSKIT_CACHE_DIR  where compiled plugins are kept between runs (`off`: nowhere)\n  CHAOSKIT_COMPILER   `winch` (default on x86-64: loads sooner) or `cranelift` (faster code)\n\nExit codes: 0 PASS or UNSTABLE, 1 FAIL, 2 usage/configuration/plugin error, 130 interrupted."
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// More logs (-v info, -vv debug); `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Report format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human summary.
    Text,
    /// The JSON journal (schema chaoskit.report/v2).
    Json,
    /// JUnit XML.
    Junit,
    /// Self-contained HTML with charts.
    Html,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario and write its reports.
    #[command(
        after_help = "Examples:\n  chaoskit-host run examples/scenarios/demo.toml\n  chaoskit-host run scenario.toml --seed 42 --repeat 1000 --concurrency 8\n  chaoskit-host run scenario.yaml --duration 10m --report-dir out --format junit > junit.xml\n  chaoskit-host run examples/scenarios/demo.toml --plugin plugins/flaky-dependency \\\n      --plugin-config plugins/flaky-dependency='{\"end_rate\": 0.05}'\n  chaoskit-host run scenario.toml --plugin plugins/target/wasm32-wasip2/release/latency_spike.wasm --watch\n  chaoskit-host run scenario.toml --metrics-addr 127.0.0.1:9464\n  chaoskit-host run scenario.toml --seed 7 --shard 2/4 --report-dir shard-2\n\nReports (journal.json, report.txt, junit.xml, report.html) are written to --report-dir,\nalso after Ctrl-C. Exit codes: 0 PASS or UNSTABLE, 1 FAIL, 2 usage/configuration/plugin\nerror, 130 interrupted."
    )]
    Run(RunArgs),
    /// Check a scenario file without running it.
    #[command(
        after_help = "Examples:\n  chaoskit-host validate examples/scenarios/demo.toml\n  chaoskit-host validate scenario.yaml --resolved > resolved.json\n\nMakes every check `run` makes before it starts anything (the file, the values, and each\nplugin's configuration), with the same messages. Exit codes: 0 valid, 2 invalid (the error\nnames the file, line, column and key)."
    )]
    Validate(ValidateArgs),
    /// Render a finished run's journal again, or merge the journals of a sharded run.
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = "Examples:\n  chaoskit-host report chaoskit-report/journal.json\n  chaoskit-host report chaoskit-report/journal.json --format html -o report.html\n  chaoskit-host report merge shard-*/journal.json -o journal.json\n\nExit codes: 0 rendered, 2 not a readable journal."
    )]
    Report(ReportArgs),
    /// Run a failing iteration of a journal again, with the decisions it had.
    #[command(
        after_help = "Examples:\n  chaoskit-host replay chaoskit-report/journal.json scenario.toml --iteration 57 --times 100\n  chaoskit-host replay chaoskit-report/schedule-iteration-57.json scenario.toml\n  chaoskit-host replay journal.json scenario.toml --iteration 57 --seeded   # draw again from the seed\n\nThe scenario file must be given: a journal names its scenario, but what runs is your choice\n(without it, replay says which file the journal names and the command to run it). A changed\nscenario file or plugin is refused unless --force. Exit codes: 0 reproduced every time, 1 did not always\nreproduce, 2 bad journal, scenario or flags."
    )]
    Replay(ReplayArgs),
    /// Find the smallest set of a failing iteration's faults that still breaks it.
    #[command(
        after_help = "Examples:\n  chaoskit-host shrink chaoskit-report/journal.json scenario.toml --iteration 57\n  chaoskit-host shrink journal.json scenario.toml --iteration 57 --max-replays 100 -o minimal.json\n\nDelta debugging over the iteration's decisions (drop subsets, then shorten delays and\nlatencies), each candidate checked by one replay. Writes a schedule that `replay` accepts.\nExit codes: 0 shrunk (or already minimal), 1 the failure did not reproduce, 2 bad input."
    )]
    Shrink(ShrinkArgs),
    /// Run a chaos proxy with a Toxiproxy-compatible HTTP API.
    #[command(
        after_help = "Examples:\n  chaoskit-host proxy\n  chaoskit-host proxy --listen 127.0.0.1:8474 --config proxies.json --seed 7\n  toxiproxy-cli -h 127.0.0.1:8474 create -l 127.0.0.1:26379 -u 127.0.0.1:6379 redis\n\nThe API speaks Toxiproxy's paths, JSON and status codes, so its clients work unchanged.\n--config takes the JSON array that POST /populate takes. Ctrl-C stops the server and\ncloses every proxied connection. Exit codes: 0 stopped, 2 bad flags or config."
    )]
    Proxy(ProxyArgs),
    /// Work with WebAssembly plugins.
    #[command(
        after_help = "Examples:\n  chaoskit-host plugin inspect plugins/target/wasm32-wasip2/release/latency_spike.wasm"
    )]
    Plugin(PluginArgs),
}

/// Plugins given on the command line (`run` and `validate`).
#[derive(Debug, Args, Default)]
pub struct PluginFlags {
    /// Load a WebAssembly plugin: a component (.wasm) or a plugin crate directory
    /// (repeatable); added to the scenario's `[[plugins]]`.
    #[arg(long = "plugin", value_name = "X.wasm")]
    pub plugins: Vec<PathBuf>,
    /// The JSON configuration of a plugin, as `PATH='{"key": value}'` where PATH is written
    /// as in `--plugin` (or a scenario plugin's path); repeatable.
    #[arg(long = "plugin-config", value_name = "PATH=JSON", value_parser = parse_plugin_config)]
    pub plugin_configs: Vec<PluginConfigFlag>,
    /// Grant a plugin a capability, as `PATH=GRANT` where PATH is written as in `--plugin` (or
    /// a scenario plugin's path) and GRANT as in a scenario's `grants` (`stdio`, `random:os`,
    /// `clocks:wall`, `fs:ro:DIR`, `fs:rw:DIR`, `http:HOST:PORT`, `tcp:HOST:PORT`, `env:NAME`);
    /// repeatable. A relative DIR is relative to the working directory.
    #[arg(long = "grant", value_name = "PATH=GRANT", value_parser = parse_grant_flag)]
    pub grants: Vec<GrantFlag>,
}

/// One `--grant PATH=GRANT`.
#[derive(Clone, Debug)]
pub struct GrantFlag {
    /// The plugin path as written.
    pub path: PathBuf,
    /// The grant, checked to parse.
    pub grant: String,
}

fn parse_grant_flag(s: &str) -> Result<GrantFlag, String> {
    let Some((path, grant)) = s.split_once('=') else {
        return Err("expected PATH=GRANT, e.g. plugins/x.wasm=fs:ro:./schedules".into());
    };
    crate::grant::Grant::parse(grant)?;
    Ok(GrantFlag { path: PathBuf::from(path), grant: grant.to_string() })
}

/// One `--plugin-config PATH=JSON`.
#[derive(Clone, Debug)]
pub struct PluginConfigFlag {
    /// The plugin path as written.
    pub path: PathBuf,
    /// The configuration, checked to be JSON.
    pub json: String,
}

fn parse_plugin_config(s: &str) -> Result<PluginConfigFlag, String> {
    let Some((path, json)) = s.split_once('=') else {
        return Err("expected PATH=JSON, e.g. plugins/flaky-dependency='{\"end_rate\": 0.05}'".into());
    };
    if let Err(e) = serde_json::from_str::<serde_json::Value>(json) {
        return Err(format!("the configuration of `{path}` is not JSON: {e}"));
    }
    Ok(PluginConfigFlag { path: PathBuf::from(path), json: json.to_string() })
}

/// `run` flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (.toml, .yaml, .yml or .json).
    pub scenario: PathBuf,
    /// Plugins from the command line.
    #[command(flatten)]
    pub plugins: PluginFlags,
    /// Seed every random decision (overrides the file); rerun with a report's seed to replay it.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Iterations to run (overrides the file).
    #[arg(long, conflicts_with = "duration")]
    pub repeat: Option<u64>,
    /// Run for this long instead, e.g. 30s or 10m (overrides the file).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Iterations in flight at once (overrides the file).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Run only shard I of N (0-based): the iterations whose index is I modulo N, with the
    /// scenario's seed, so the shards' journals merge into the single run's report
    /// (`report merge`). With --duration, each shard runs that long.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::Shard>,
    /// Where reports and target logs go.
    #[arg(long, default_value = "chaoskit-report")]
    pub report_dir: PathBuf,
    /// What to print on stdout when the run ends.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Reload plugins when their files change.
    #[arg(long)]
    pub watch: bool,
    /// No progress bar and no summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Serve Prometheus metrics on this address during the run (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Keep serving the final metrics this long after the run ends, so the last scrape sees
    /// them (with --metrics-addr), e.g. 30s.
    #[arg(long, value_parser = parse_duration, default_value = "15s", value_name = "DURATION")]
    pub metrics_grace: Duration,
    /// Also write the final metrics in Prometheus text format to this file (for
    /// node-exporter's textfile collector), atomically.
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
}

/// `validate` flags.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Print the resolved scenario (defaults applied, paths resolved) as JSON on stdout.
    #[arg(long)]
    pub resolved: bool,
    /// Plugins from the command line, checked as `run` would load them.
    #[command(flatten)]
    pub plugins: PluginFlags,
}

/// `report` flags.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// `report merge`.
    #[command(subcommand)]
    pub command: Option<ReportCommand>,
    /// A journal written by `run` (journal.json).
    pub journal: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Write to this file (atomically) instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// `report` commands.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge the journals of every shard of a run (`run --shard I/N`) into one journal and
    /// one verdict, decided again from the merged data with the same thresholds.
    #[command(
        after_help = "Examples:\n  chaoskit-host report merge shard-*/journal.json -o journal.json\n  chaoskit-host report merge /journals/*.json -o merged/journal.json --format text\n\nRefuses journals of different scenarios, seeds or shard counts, and missing or duplicate\nshards. Writes the merged journal (JSON) to -o and prints the --format rendering.\nExit codes: 0 merged verdict PASS or UNSTABLE, 1 FAIL, 2 journals that do not merge."
    )]
    Merge(MergeArgs),
}

/// `report merge` flags.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' journals (one per shard, any order).
    #[arg(required = true)]
    pub journals: Vec<PathBuf>,
    /// Where to write the merged journal (JSON, atomically).
    #[arg(short, long)]
    pub output: PathBuf,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// `replay` flags.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A journal written by `run` (journal.json) or a schedule written by `shrink`.
    pub input: PathBuf,
    /// The scenario file to run (required to run anything: without it the command says which
    /// file the journal names, and exits 2).
    pub scenario: Option<PathBuf>,
    /// The failing iteration to replay (required with a journal).
    #[arg(long)]
    pub iteration: Option<u64>,
    /// How many times to replay it.
    #[arg(long, default_value_t = 1)]
    pub times: u32,
    /// Draw the decisions again from the seed instead of applying the journaled ones, and
    /// report whether they match.
    #[arg(long)]
    pub seeded: bool,
    /// Replay even if the scenario file or a plugin differs from the journal's.
    #[arg(long)]
    pub force: bool,
}

/// `shrink` flags.
#[derive(Debug, Args)]
pub struct ShrinkArgs {
    /// A journal written by `run` (journal.json), or a schedule to shrink further.
    pub input: PathBuf,
    /// The scenario file to run (required to run anything: without it the command says which
    /// file the journal names, and exits 2).
    pub scenario: Option<PathBuf>,
    /// The failing iteration to shrink (required with a journal).
    #[arg(long)]
    pub iteration: Option<u64>,
    /// Most replays to spend.
    #[arg(long, default_value_t = 50)]
    pub max_replays: u32,
    /// Where to write the minimal schedule (default: beside the input,
    /// `schedule-iteration-K.json`).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Shrink even if the scenario file or a plugin differs from the journal's.
    #[arg(long)]
    pub force: bool,
}

/// `proxy` flags.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address of the HTTP API (loopback by default; bind another address deliberately).
    #[arg(long, default_value = "127.0.0.1:8474", value_name = "ADDR")]
    pub listen: String,
    /// Proxies to create at start: a JSON array in the format of `POST /populate`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Seed of the toxics' random draws (jitter, toxicity, slice sizes); replayable.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A Wasm `toxic` plugin (.wasm): adds a toxic type named after the file stem (repeatable).
    #[arg(long = "plugin", value_name = "FILE")]
    pub plugins: Vec<PathBuf>,
    /// Hot-reload the `--plugin` files when they change: new connections get the new version,
    /// open ones finish on the old.
    #[arg(long)]
    pub watch: bool,
}

/// `plugin` commands.
#[derive(Debug, Args)]
pub struct PluginArgs {
    /// The plugin command.
    #[command(subcommand)]
    pub command: PluginCommand,
}

/// Plugin commands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show what a plugin is: injector or validator, its imports, exports and sizes.
    #[command(
        after_help = "Examples:\n  cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml\n  chaoskit-host plugin inspect plugins/target/wasm32-wasip2/release/latency_spike.wasm\n\nExit codes: 0 inspected, 2 not a loadable plugin."
    )]
    Inspect {
        /// The component (.wasm).
        path: PathBuf,
    },
    /// Create a plugin project that builds with one command and runs with `run --plugin`.
    #[command(
        after_help = "Examples:\n  chaoskit-host plugin new slow-db --kind injector\n  chaoskit-host plugin new error-budget --kind validator --lang python --dir plugins\n\nThe project holds the plugin, a README with its build command, a configuration schema\nand a scenario.toml to try it. Rust projects depend on chaoskit-plugin-sdk from crates.io;\nJavaScript (componentize-js) and Python (componentize-py) projects carry their helper\nmodule and the contract. Exit codes: 0 created, 2 bad name or existing directory."
    )]
    New {
        /// Project and package name: lowercase letters, digits and `-` (e.g. `slow-db`).
        name: String,
        /// What the plugin is.
        #[arg(long, value_enum)]
        kind: PluginKind,
        /// The language it is written in.
        #[arg(long, value_enum, default_value_t = PluginLang::Rust)]
        lang: PluginLang,
        /// Directory the project directory (`DIR/NAME`) is created in.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
}

/// The world of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginKind {
    /// Asked at chaos points whether to add a fault.
    Injector,
    /// Told what happened in each iteration; says pass or fail.
    Validator,
}

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginLang {
    /// Rust, with chaoskit-plugin-sdk (`cargo build --target wasm32-wasip2`).
    Rust,
    /// JavaScript, with componentize-js (node and npm).
    Js,
    /// Python, with componentize-py.
    Python,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::spec::units::parse_duration(s)
}
