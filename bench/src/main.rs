//! `lightning-bench`: the redb benchmark's workload on Lightning DB and its peers.
//!
//! The parent process runs each engine in a child process of this same binary
//! (`--engine-child NAME`), so peak memory and CPU time are per engine, and collects the
//! child's results as JSON lines on its standard output. It then writes the report to
//! standard output and to `results/latest.md`, `results/latest.json` and
//! `results/latest.svg`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde::{Deserialize, Serialize};

mod data;
mod engines;
mod report;
mod sys;
mod workload;
mod zipf;

use report::{EngineRun, Report};
use workload::{PhaseGroup, PhaseResult, Workload};

/// Runs the redb-style workload on Lightning DB and its peers and reports times, ratios,
/// memory and CPU per engine.
#[derive(Debug, Clone, Parser)]
#[command(name = "lightning-bench", version, about)]
struct Args {
    /// Pairs in the bulk load (N); reads read N keys, range reads start N/2 times.
    #[arg(long, default_value_t = 1_000_000)]
    elements: usize,

    /// Engines to run, in column order (default: every engine this build has).
    #[arg(long, value_delimiter = ',')]
    engines: Option<Vec<String>>,

    /// Phase groups to run after the bulk load (default: individual, batch, reads, ranges,
    /// threads, removals, compaction, sequential). Outside the default set, run after
    /// those: reverse (full scans and 10-pair ranges, forward and reverse), mixed (zipfian
    /// reads and durable updates, 4 threads), writers (durable commits from 1, 4 and 16
    /// threads), values (fresh databases with --value-sizes values).
    #[arg(long, value_delimiter = ',')]
    phases: Option<Vec<PhaseGroup>>,

    /// Value sizes of the `values` phases, bytes, each in a fresh database.
    #[arg(long, value_delimiter = ',', default_value = "1024,4096,65536")]
    value_sizes: Vec<usize>,

    /// Pairs of each `values` database (default: as many as make the bytes of the default
    /// data set, N × 174 B, at least 1,000 and at most N).
    #[arg(long)]
    value_elements: Option<usize>,

    /// Operations of the `mixed` phase, all threads together.
    #[arg(long, default_value_t = 40_000)]
    mixed_ops: usize,

    /// Reads in the `mixed` phase, percent (the rest are durable updates): 90 by default,
    /// 95 for YCSB-B's shape, 50 for YCSB-A's.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(0..=100))]
    mixed_read_percent: u32,

    /// Skew of the `mixed` phase's zipfian key choice, in (0, 1).
    #[arg(long, default_value_t = 0.99)]
    zipf_theta: f64,

    /// Spinning threads (busy loops of integer arithmetic) the harness runs beside each
    /// engine's whole run, the same for every engine, to measure with the cores busy; the
    /// report says whether the machine was idle or loaded.
    #[arg(long, default_value_t = 0)]
    background_load: usize,

    /// Folder for the databases, one fresh sub-folder per engine (default: a temporary folder
    /// under bench/target, on the same disk as the repository, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,

    /// Cache budget of every engine, MiB.
    #[arg(long, default_value_t = 256)]
    cache_mb: u64,

    /// Seed of the key and value generator.
    #[arg(long, default_value_t = 3)]
    seed: u64,

    /// Stop an engine that runs longer than this many seconds (its finished phases are kept).
    #[arg(long, default_value_t = 3_600)]
    timeout_secs: u64,

    /// Run every engine this many times, alternating the order each round (A B, B A, A B,
    /// ...) so drift in the machine's speed falls on both sides; each figure reported is
    /// the median of the rounds, and latest.json keeps every round (`rounds`). For
    /// comparing close variants, as `--engines lightning,lightning-nostats --repeat 5`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: u32,

    /// Report each timed row as the CPU time the engine's process used during it (every
    /// thread, user and system) instead of wall time: what a change costs in computation,
    /// whatever else the machine runs, without the time spent waiting for the disk.
    #[arg(long)]
    cpu_time: bool,

    /// Folder for latest.md, latest.json and latest.svg.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    results: PathBuf,

    /// Run nothing: rewrite the report (Markdown, JSON, SVG) from a saved latest.json.
    #[arg(long, value_name = "JSON")]
    report_from: Option<PathBuf>,

    /// Keep each engine's database folder after its run.
    #[arg(long)]
    keep: bool,

    /// Internal: run one engine in this process and print JSON lines.
    #[arg(long, hide = true, value_name = "ENGINE")]
    engine_child: Option<String>,

    /// Internal: the child's database folder.
    #[arg(long, hide = true)]
    child_dir: Option<PathBuf>,
}

impl Args {
    fn workload(&self) -> Workload {
        let mut value_sizes: Vec<usize> = Vec::new();
        for &size in &self.value_sizes {
            if !value_sizes.contains(&size) {
                value_sizes.push(size);
            }
        }
        Workload {
            elements: self.elements,
            groups: self
                .phases
                .clone()
                .unwrap_or_else(|| PhaseGroup::ALL.to_vec()),
            value_sizes,
            value_elements: self.value_elements,
            mixed_ops: self.mixed_ops,
            mixed_read_percent: self.mixed_read_percent,
            zipf_theta: self.zipf_theta,
        }
    }

    /// Settings the parser cannot check alone.
    fn check(&self) -> Result<(), String> {
        if self.value_sizes.iter().any(|&s| s == 0 || s > 16 << 20) {
            return Err("--value-sizes must lie between 1 byte and 16 MiB".into());
        }
        if !(self.zipf_theta > 0.0 && self.zipf_theta < 1.0) {
            return Err("--zipf-theta must lie strictly between 0 and 1".into());
        }
        Ok(())
    }
}

/// One line a child prints on its standard output.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ChildMessage {
    /// A finished phase.
    Phase(PhaseResult),
    /// The child's resource usage, last.
    Usage(sys::Usage),
    /// The run failed.
    Error {
        /// What went wrong.
        message: String,
    },
}

fn emit(message: &ChildMessage) {
    if let Ok(line) = serde_json::to_string(message) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// The child: one engine, one folder, results as JSON lines.
fn run_child(args: &Args, engine_name: &str) -> ExitCode {
    let Some(dir) = &args.child_dir else {
        eprintln!("--engine-child needs --child-dir");
        return ExitCode::from(2);
    };
    let workload = args.workload();
    workload::measure_cpu_time(args.cpu_time);
    let data = data::Data::new(args.seed, workload.keys_needed());
    let options = engines::Options {
        cache_bytes: args.cache_mb * 1024 * 1024,
    };
    let private_peak = sys::PrivatePeak::start();
    let mut report_phase = |r: workload::PhaseResult| {
        eprintln!("  {engine_name}: {} {:?}", r.phase, r.measure);
        emit(&ChildMessage::Phase(r));
    };
    let result = engines::open(engine_name, dir, &options).and_then(|mut engine| {
        let outcome = workload::run(&mut *engine, dir, &data, &workload, &mut report_phase);
        drop(engine);
        outcome
    });
    drop(data);
    // The value-size phases, each in a fresh database, with the main engine closed.
    let result = result.and_then(|()| {
        if !workload.runs(PhaseGroup::Values) {
            return Ok(());
        }
        workload::run_value_sizes(
            &|d| engines::open(engine_name, d, &options),
            dir,
            args.seed,
            &workload,
            &mut report_phase,
        )
    });
    if let Err(e) = &result {
        emit(&ChildMessage::Error {
            message: e.to_string(),
        });
    }
    let mut usage = sys::self_usage();
    usage.peak_private_bytes = private_peak.finish();
    emit(&ChildMessage::Usage(usage));
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs one engine in a child process and collects what it reports.
fn run_engine(args: &Args, engine: &str, dir: &Path) -> std::io::Result<EngineRun> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--engine-child")
        .arg(engine)
        .arg("--child-dir")
        .arg(dir)
        .arg("--elements")
        .arg(args.elements.to_string())
        .arg("--cache-mb")
        .arg(args.cache_mb.to_string())
        .arg("--seed")
        .arg(args.seed.to_string())
        .arg("--mixed-ops")
        .arg(args.mixed_ops.to_string())
        .arg("--mixed-read-percent")
        .arg(args.mixed_read_percent.to_string())
        .arg("--zipf-theta")
        .arg(args.zipf_theta.to_string());
    let sizes: Vec<String> = args.value_sizes.iter().map(|s| s.to_string()).collect();
    cmd.arg("--value-sizes").arg(sizes.join(","));
    if let Some(m) = args.value_elements {
        cmd.arg("--value-elements").arg(m.to_string());
    }
    if let Some(phases) = &args.phases {
        let names: Vec<&str> = phases.iter().map(|p| p.name()).collect();
        cmd.arg("--phases").arg(names.join(","));
    }
    if args.cpu_time {
        cmd.arg("--cpu-time");
    }
    // The spinning threads start before the child and stop after it: the same window, the
    // whole of its run, for every engine.
    let load = sys::BackgroundLoad::start(args.background_load);
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("child has no stdout"))?;
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut run = EngineRun {
        engine: engine.to_string(),
        ..EngineRun::default()
    };
    let deadline = started + Duration::from_secs(args.timeout_secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => match serde_json::from_str::<ChildMessage>(&line) {
                Ok(ChildMessage::Phase(r)) => {
                    run.phases.insert(r.phase, r.measure);
                }
                Ok(ChildMessage::Usage(u)) => run.usage = Some(u),
                Ok(ChildMessage::Error { message }) => run.failure = Some(message),
                Err(_) => eprintln!("  {engine}: {line}"),
            },
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                run.failure = Some(format!(
                    "timed out after {} s (--timeout-secs); phases not shown did not finish",
                    args.timeout_secs
                ));
                break;
            }
        }
    }
    let status = child.wait()?;
    let _ = reader.join();
    run.wall_ms = started.elapsed().as_secs_f64() * 1e3;
    let rounds = load.finish();
    if args.background_load > 0 {
        eprintln!(
            "  background load: {} threads spun {rounds} rounds beside {engine}",
            args.background_load
        );
    }
    if !status.success() && run.failure.is_none() {
        run.failure = Some(format!("child exited with {status}"));
    }
    if !args.keep {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(run)
}

/// Writes latest.md, latest.json and latest.svg.
fn write_results(report: &Report, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("latest.md"), report.markdown())?;
    std::fs::write(dir.join("latest.json"), report.json() + "\n")?;
    // The chart needs Lightning DB and at least one peer.
    if report.runs.len() > 1 {
        if let Err(e) = report.svg(&dir.join("latest.svg")) {
            eprintln!("no chart: {e}");
        }
    }
    Ok(())
}

fn run_parent(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut known = engines::all_engines();
    // Opt-in only: Lightning DB with its latency histograms off.
    known.push("lightning-nostats");
    let engines: Vec<String> = match &args.engines {
        None => engines::all_engines()
            .iter()
            .map(|e| e.to_string())
            .collect(),
        Some(list) => list.iter().map(|e| e.trim().to_lowercase()).collect(),
    };
    if let Some(dup) = engines
        .iter()
        .enumerate()
        .find(|(i, e)| engines[..*i].contains(e))
    {
        return Err(format!(
            "engine '{}' is listed twice; --repeat runs each engine several times",
            dup.1
        )
        .into());
    }
    if let Some(bad) = engines.iter().find(|e| !known.contains(&e.as_str())) {
        return Err(format!(
            "unknown engine '{bad}'; this build has {} (RocksDB needs the `rocksdb` feature)",
            known.join(", ")
        )
        .into());
    }
    let _temp;
    let base = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            let parent = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
            std::fs::create_dir_all(&parent)?;
            let temp = tempfile::Builder::new()
                .prefix("bench-data-")
                .tempdir_in(parent)?;
            let path = temp.path().to_path_buf();
            _temp = temp;
            path
        }
    };
    args.check()?;
    let workload = args.workload();
    let phase_names: Vec<String> = workload::all_phase_names(&workload);
    let mut report = Report {
        elements: args.elements,
        cache_mb: args.cache_mb,
        key_len: data::KEY_LEN,
        value_len: data::VALUE_LEN,
        finished_unix: 0,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        phases: Vec::new(),
        runs: Vec::new(),
        background_load: args.background_load,
        notes: workload.notes(),
        rounds: Vec::new(),
    };
    if args.cpu_time {
        report.notes.push(
            "Timed rows are the CPU time each engine's process used during the phase (every \
             thread, user and system; `--cpu-time`), not wall time: time spent waiting for \
             the disk is not in them."
                .to_string(),
        );
    }
    if args.repeat > 1 {
        report.notes.push(format!(
            "Each figure is the median of {} runs per engine, the engines alternating in order \
             round by round (A B, B A, ...); latest.json keeps every round.",
            args.repeat
        ));
    }
    eprintln!(
        "lightning-bench: {} pairs, engines {}, data in {}, {}",
        args.elements,
        engines.join(", "),
        base.display(),
        if args.background_load == 0 {
            "no background load".to_string()
        } else {
            format!(
                "{} spinning threads beside each engine",
                args.background_load
            )
        }
    );
    let mut all: Vec<Vec<EngineRun>> = vec![Vec::new(); engines.len()];
    for round in 0..args.repeat as usize {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..engines.len()).collect()
        } else {
            (0..engines.len()).rev().collect()
        };
        for i in order {
            let engine = &engines[i];
            if args.repeat > 1 {
                eprintln!("{engine} (round {} of {}):", round + 1, args.repeat);
            } else {
                eprintln!("{engine}:");
            }
            let run = run_engine(args, engine, &base.join(engine))?;
            if let Some(f) = &run.failure {
                eprintln!("  {engine} stopped early: {f}");
            }
            all[i].push(run);
        }
        report.runs = all
            .iter()
            .filter(|runs| !runs.is_empty())
            .map(|runs| report::median_run(runs))
            .collect();
        if args.repeat > 1 {
            report.rounds = all.clone();
        }
        // Rows that some engine has, in the canonical order; written after every engine so
        // an interrupted run still leaves its results.
        report.phases = phase_names
            .iter()
            .filter(|p| report.runs.iter().any(|r| r.phases.contains_key(*p)))
            .cloned()
            .collect();
        report.finished_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        write_results(&report, &args.results)?;
    }
    print!("{}", report.markdown());
    eprintln!(
        "written: {}/latest.md, latest.json, latest.svg",
        args.results.display()
    );
    Ok(())
}

/// `--report-from`: the report of an earlier run, written again.
fn rewrite_report(args: &Args, json: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let report: Report = serde_json::from_str(&std::fs::read_to_string(json)?)?;
    write_results(&report, &args.results)?;
    print!("{}", report.markdown());
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(engine) = &args.engine_child {
        return run_child(&args, engine);
    }
    let result = match &args.report_from {
        Some(json) => rewrite_report(&args, json),
        None => run_parent(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
