//! Turning the engines' results into a Markdown report, a JSON file and an SVG chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::sys::Usage;
use crate::workload::Measure;

/// The engine every ratio is taken against.
pub const BASELINE: &str = "lightning";

/// Everything one engine's child process reported.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EngineRun {
    /// Engine name.
    pub engine: String,
    /// Phase results by row name.
    pub phases: BTreeMap<String, Measure>,
    /// Peak memory and CPU time of the child process.
    pub usage: Option<Usage>,
    /// Wall time of the whole child process, milliseconds.
    pub wall_ms: f64,
    /// Why the run stopped early, if it did (error text or a timeout).
    pub failure: Option<String>,
}

/// A whole benchmark run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Pairs in the bulk load.
    pub elements: usize,
    /// Cache budget per engine, MiB.
    pub cache_mb: u64,
    /// Key length, bytes.
    pub key_len: usize,
    /// Value length, bytes.
    pub value_len: usize,
    /// When the run ended (seconds since the Unix epoch).
    pub finished_unix: u64,
    /// Cores the machine has.
    pub cores: usize,
    /// Rows, in order.
    pub phases: Vec<String>,
    /// Engines, in column order.
    pub runs: Vec<EngineRun>,
    /// Spinning threads the harness ran beside every engine (`--background-load`); 0: the
    /// machine was otherwise idle.
    #[serde(default)]
    pub background_load: usize,
    /// What the report says about the phase groups outside the default set that ran.
    #[serde(default)]
    pub notes: Vec<String>,
    /// With `--repeat`: every run of every engine (one list per engine, in `runs`' order),
    /// of which `runs` holds the medians.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<Vec<EngineRun>>,
}

/// One engine's runs folded into one: each phase's median time or size (over the runs
/// that have it), the median run's resource usage and wall time, the first failure.
pub fn median_run(runs: &[EngineRun]) -> EngineRun {
    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
    let first = &runs[0];
    if runs.len() == 1 {
        return first.clone();
    }
    let mut phases = BTreeMap::new();
    let names: std::collections::BTreeSet<&String> =
        runs.iter().flat_map(|r| r.phases.keys()).collect();
    for name in names {
        let measures: Vec<&Measure> = runs.iter().filter_map(|r| r.phases.get(name)).collect();
        let times: Vec<f64> = measures
            .iter()
            .filter_map(|m| match m {
                Measure::Time { ms } => Some(*ms),
                _ => None,
            })
            .collect();
        let sizes: Vec<f64> = measures
            .iter()
            .filter_map(|m| match m {
                Measure::Size { bytes } => Some(*bytes as f64),
                _ => None,
            })
            .collect();
        let m = if !times.is_empty() {
            Measure::Time { ms: median(times) }
        } else if !sizes.is_empty() {
            Measure::Size {
                bytes: median(sizes).round() as u64,
            }
        } else {
            Measure::NotAvailable
        };
        phases.insert(name.clone(), m);
    }
    let mut by_wall: Vec<&EngineRun> = runs.iter().collect();
    by_wall.sort_by(|a, b| a.wall_ms.total_cmp(&b.wall_ms));
    let middle = by_wall[by_wall.len() / 2];
    EngineRun {
        engine: first.engine.clone(),
        phases,
        usage: middle.usage,
        wall_ms: middle.wall_ms,
        failure: runs.iter().find_map(|r| r.failure.clone()),
    }
}

/// A time for people: `850 ms`, `12.3 s`.
fn fmt_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 1_000.0 {
        format!("{ms:.0} ms")
    } else if ms < 100_000.0 {
        format!("{:.2} s", ms / 1e3)
    } else {
        format!("{:.0} s", ms / 1e3)
    }
}

/// Bytes for people: `210.3 MiB`.
fn fmt_bytes(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

/// A row name short enough for the chart's axis.
fn short_label(phase: &str) -> String {
    // The value-size rows: `bulk load (4 KiB values)` becomes `4K load`.
    if let Some(rest) = phase.strip_suffix(" values)") {
        if let Some((what, size)) = rest.split_once(" (") {
            let size = size.replace(" KiB", "K").replace(" B", "B");
            let what = match what {
                "bulk load" => "load",
                "random reads #1" => "read 1",
                "random reads #2" => "read 2",
                "range reads" => "range",
                other => other,
            };
            return format!("{size} {what}");
        }
    }
    if phase.starts_with("zipfian ") {
        return "zipf mix".into();
    }
    if let Some(threads) = phase
        .strip_prefix("durable writes (")
        .and_then(|r| r.split(' ').next())
    {
        return format!("{threads} wr");
    }
    match phase {
        "bulk load" => "bulk",
        "individual writes" => "single",
        "batch writes" => "batch",
        "random reads #1" => "read 1",
        "random reads #2" => "read 2",
        "range reads #1" => "range 1",
        "range reads #2" => "range 2",
        "random reads (4 threads)" => "4 thr",
        "random reads (8 threads)" => "8 thr",
        "random reads (16 threads)" => "16 thr",
        "random reads (32 threads)" => "32 thr",
        "resident memory after reads" => "memory",
        "private memory after reads" => "private",
        "removals" => "remove",
        "compaction" => "compact",
        "size before compaction" => "size",
        "size after compaction" => "size cmp",
        "full scan (forward)" => "scan",
        "full scan (reverse)" => "rev scan",
        "range reads (forward)" => "fwd rng",
        "range reads (reverse)" => "rev rng",
        other => other,
    }
    .to_string()
}

/// The number a measure is compared by (lower is better), if any.
fn value_of(m: &Measure) -> Option<f64> {
    match m {
        Measure::Time { ms } => Some(*ms),
        Measure::Size { bytes } => Some(*bytes as f64),
        Measure::NotAvailable => None,
    }
}

fn fmt_measure(m: &Measure) -> String {
    match m {
        Measure::Time { ms } => fmt_ms(*ms),
        Measure::Size { bytes } => fmt_bytes(*bytes),
        Measure::NotAvailable => "n/a".into(),
    }
}

impl Report {
    fn cell<'a>(&self, run: &'a EngineRun, phase: &str) -> Option<&'a Measure> {
        run.phases.get(phase)
    }

    /// What an engine shows for a phase it has no result for.
    fn missing(run: &EngineRun) -> String {
        if run.failure.is_some() {
            "failed".into()
        } else {
            "-".into()
        }
    }

    fn baseline(&self) -> Option<&EngineRun> {
        self.runs.iter().find(|r| r.engine == BASELINE)
    }

    /// Engine time (or size) divided by Lightning DB's, per phase and engine.
    pub fn ratios(&self) -> BTreeMap<String, BTreeMap<String, f64>> {
        let mut out = BTreeMap::new();
        let Some(base) = self.baseline() else {
            return out;
        };
        for phase in &self.phases {
            let Some(b) = self.cell(base, phase).and_then(value_of) else {
                continue;
            };
            if b <= 0.0 {
                continue;
            }
            let row: BTreeMap<String, f64> = self
                .runs
                .iter()
                .filter_map(|r| {
                    let v = self.cell(r, phase).and_then(value_of)?;
                    Some((r.engine.clone(), v / b))
                })
                .collect();
            out.insert(phase.clone(), row);
        }
        out
    }

    /// With `--repeat`: per phase and engine, the ratio to Lightning DB of each round's run
    /// (round i of the engine over round i of Lightning DB, run next to it), as the median
    /// of those ratios and their range. A paired figure: drift between rounds cancels.
    pub fn paired_ratios(&self) -> BTreeMap<String, BTreeMap<String, (f64, f64, f64)>> {
        let mut out = BTreeMap::new();
        let Some(base_i) = self.runs.iter().position(|r| r.engine == BASELINE) else {
            return out;
        };
        let Some(base_rounds) = self.rounds.get(base_i) else {
            return out;
        };
        for phase in &self.phases {
            let mut row = BTreeMap::new();
            for rounds in &self.rounds {
                let mut ratios: Vec<f64> = rounds
                    .iter()
                    .zip(base_rounds)
                    .filter_map(|(r, b)| {
                        let v = r.phases.get(phase).and_then(value_of)?;
                        let w = b.phases.get(phase).and_then(value_of)?;
                        (w > 0.0).then(|| v / w)
                    })
                    .collect();
                if ratios.is_empty() {
                    continue;
                }
                ratios.sort_by(f64::total_cmp);
                let n = ratios.len();
                let median = if n % 2 == 1 {
                    ratios[n / 2]
                } else {
                    (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
                };
                if let Some(r) = rounds.first() {
                    row.insert(r.engine.clone(), (median, ratios[0], ratios[n - 1]));
                }
            }
            if !row.is_empty() {
                out.insert(phase.clone(), row);
            }
        }
        out
    }

    /// The table of [`Self::paired_ratios`], when there are rounds.
    fn paired_table(&self, s: &mut String) {
        let paired = self.paired_ratios();
        if paired.is_empty() || self.rounds.iter().all(|r| r.len() < 2) {
            return;
        }
        let _ = writeln!(
            s,
            "\n### Paired ratio to Lightning DB over the {} rounds (median of each round's \
             ratio, and their range)\n",
            self.rounds.first().map_or(0, Vec::len)
        );
        let engines: Vec<&str> = self.runs.iter().map(|r| r.engine.as_str()).collect();
        let _ = writeln!(s, "| phase | {} |", engines.join(" | "));
        let _ = writeln!(s, "|---|{}", "---:|".repeat(engines.len()));
        for phase in &self.phases {
            let Some(row) = paired.get(phase) else {
                continue;
            };
            let cells: Vec<String> = self
                .runs
                .iter()
                .map(|r| match row.get(&r.engine) {
                    Some((m, lo, hi)) => format!("{m:.3} ({lo:.2} to {hi:.2})"),
                    None => Self::missing(r),
                })
                .collect();
            let _ = writeln!(s, "| {phase} | {} |", cells.join(" | "));
        }
    }

    /// The report as Markdown: times, ratios and resources.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let engines: Vec<&str> = self.runs.iter().map(|r| r.engine.as_str()).collect();
        let header = |s: &mut String, first: &str| {
            let _ = writeln!(s, "| {first} | {} |", engines.join(" | "));
            let _ = writeln!(s, "|---|{}", "---:|".repeat(engines.len()));
        };
        let _ = writeln!(
            s,
            "## Lightning DB and peers: {} pairs ({}-byte random keys, {}-byte random values), \
             cache {} MiB each\n",
            self.elements, self.key_len, self.value_len, self.cache_mb
        );
        let _ = writeln!(
            s,
            "Durable commits everywhere; each engine in its own child process and fresh \
             directory; {} cores. Lower is better; the best of each row is in bold.\n",
            self.cores
        );
        if self.background_load == 0 {
            let _ = writeln!(s, "Machine idle: no background load.\n");
        } else {
            let _ = writeln!(
                s,
                "**Machine loaded**: {} busy-spinning threads in the harness beside each \
                 engine's whole run (the same window for every engine), on {} cores.\n",
                self.background_load, self.cores
            );
        }
        for note in &self.notes {
            let _ = writeln!(s, "- {note}");
        }
        if !self.notes.is_empty() {
            s.push('\n');
        }
        header(&mut s, "phase");
        for phase in &self.phases {
            let best = self
                .runs
                .iter()
                .filter_map(|r| self.cell(r, phase).and_then(value_of))
                .fold(f64::INFINITY, f64::min);
            let cells: Vec<String> = self
                .runs
                .iter()
                .map(|r| match self.cell(r, phase) {
                    Some(m) => {
                        let text = fmt_measure(m);
                        if value_of(m) == Some(best) {
                            format!("**{text}**")
                        } else {
                            text
                        }
                    }
                    None => Self::missing(r),
                })
                .collect();
            let _ = writeln!(s, "| {phase} | {} |", cells.join(" | "));
        }

        let ratios = self.ratios();
        if !ratios.is_empty() {
            let _ = writeln!(
                s,
                "\n### Ratio to Lightning DB (engine / Lightning DB; above 1: Lightning DB is \
                 faster or smaller, below 1: the peer is)\n"
            );
            header(&mut s, "phase");
            for phase in &self.phases {
                let Some(row) = ratios.get(phase) else {
                    continue;
                };
                let cells: Vec<String> = self
                    .runs
                    .iter()
                    .map(|r| match row.get(&r.engine) {
                        Some(x) if *x < 1.0 => format!("**{x:.2}**"),
                        Some(x) => format!("{x:.2}"),
                        None => Self::missing(r),
                    })
                    .collect();
                let _ = writeln!(s, "| {phase} | {} |", cells.join(" | "));
            }
            let _ = writeln!(s, "\n(Bold: the peer beats Lightning DB.)");
        }
        self.paired_table(&mut s);

        let _ = writeln!(s, "\n### Resources per engine (whole child process)\n");
        header(&mut s, "");
        let row = |f: &dyn Fn(&EngineRun) -> String| -> String {
            self.runs.iter().map(f).collect::<Vec<_>>().join(" | ")
        };
        let _ = writeln!(
            s,
            "| peak RSS | {} |",
            row(&|r| r.usage.map_or("-".into(), |u| fmt_bytes(u.peak_rss_bytes)))
        );
        let _ = writeln!(
            s,
            "| peak private memory above the keys | {} |",
            row(&|r| r
                .usage
                .map_or("-".into(), |u| fmt_bytes(u.peak_private_bytes)))
        );
        let _ = writeln!(
            s,
            "| CPU user | {} |",
            row(&|r| r.usage.map_or("-".into(), |u| fmt_ms(u.cpu_user_ms)))
        );
        let _ = writeln!(
            s,
            "| CPU system | {} |",
            row(&|r| r.usage.map_or("-".into(), |u| fmt_ms(u.cpu_sys_ms)))
        );
        let _ = writeln!(s, "| wall time | {} |", row(&|r| fmt_ms(r.wall_ms)));
        for r in &self.runs {
            if let Some(f) = &r.failure {
                let _ = writeln!(s, "\n**{}** stopped early: {f}", r.engine);
            }
        }
        s
    }

    /// The report as pretty JSON, with the ratios.
    pub fn json(&self) -> String {
        #[derive(Serialize)]
        struct WithRatios<'a> {
            #[serde(flatten)]
            report: &'a Report,
            ratios_to_lightning: BTreeMap<String, BTreeMap<String, f64>>,
        }
        serde_json::to_string_pretty(&WithRatios {
            report: self,
            ratios_to_lightning: self.ratios(),
        })
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Draws the ratios as grouped bars on a log scale around 1 (Lightning DB) into an SVG.
    pub fn svg(&self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let ratios = self.ratios();
        let phases: Vec<&String> = self
            .phases
            .iter()
            .filter(|p| ratios.contains_key(*p))
            .collect();
        let peers: Vec<&str> = self
            .runs
            .iter()
            .map(|r| r.engine.as_str())
            .filter(|e| *e != BASELINE)
            .collect();
        if phases.is_empty() || peers.is_empty() {
            return Err("no ratios to draw (Lightning DB or its peers have no results)".into());
        }
        let values = ratios.values().flat_map(|row| row.values().copied());
        let (lo, hi) = values
            .filter(|v| *v > 0.0)
            .fold((1.0f64, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = (lo / 1.5, hi * 1.5);

        let plot_width = 80 + 72 * phases.len() as u32;
        let root = SVGBackend::new(path, (plot_width + 140, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let (plot, legend) = root.split_horizontally(plot_width);
        let mut chart = ChartBuilder::on(&plot)
            .caption(
                format!(
                    "Engine time (or size) / Lightning DB's, {} pairs{}: above 1 = Lightning DB better",
                    self.elements,
                    if self.background_load == 0 {
                        String::new()
                    } else {
                        format!(", loaded ({} spinning threads)", self.background_load)
                    }
                ),
                ("sans-serif", 17),
            )
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            // The y axis is log10(ratio), labelled with the ratio itself: plotters' own log
            // scale labels only the powers of ten.
            .build_cartesian_2d(0f64..phases.len() as f64, lo.log10()..hi.log10())?;
        let names: Vec<String> = phases.iter().map(|p| short_label(p)).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(phases.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - x.floor() - 0.5).abs() < 1e-6 && i < names.len() {
                    names[i].to_string()
                } else {
                    String::new()
                }
            })
            .x_label_style(("sans-serif", 12))
            .y_labels(12)
            .y_label_formatter(&|y| {
                let ratio = 10f64.powf(*y);
                if ratio >= 10.0 {
                    format!("{ratio:.0}")
                } else if ratio >= 1.0 {
                    format!("{ratio:.1}")
                } else {
                    format!("{ratio:.2}")
                }
            })
            .y_desc("engine / Lightning DB (log scale)")
            .draw()?;

        let colors = [
            RGBColor(0xe4, 0x57, 0x56),
            RGBColor(0x4c, 0x78, 0xa8),
            RGBColor(0x54, 0xa2, 0x4b),
            RGBColor(0xf5, 0x8d, 0x18),
            RGBColor(0x72, 0xb7, 0xb2),
            RGBColor(0xb2, 0x79, 0xa2),
            RGBColor(0x9d, 0x75, 0x5d),
        ];
        let bar = 0.8 / peers.len() as f64;
        for (j, peer) in peers.iter().enumerate() {
            let color = colors[j % colors.len()];
            let bars: Vec<Rectangle<(f64, f64)>> = phases
                .iter()
                .enumerate()
                .filter_map(|(i, phase)| {
                    let r = *ratios.get(*phase)?.get(*peer)?;
                    if r <= 0.0 {
                        return None;
                    }
                    let x0 = i as f64 + 0.1 + j as f64 * bar;
                    Some(Rectangle::new(
                        [(x0, 0.0), (x0 + bar * 0.9, r.log10())],
                        color.filled(),
                    ))
                })
                .collect();
            chart.draw_series(bars)?;
            // The legend, outside the plot on the right.
            let y = 60 + 24 * j as i32;
            legend.draw(&Rectangle::new([(10, y), (24, y + 14)], color.filled()))?;
            legend.draw(&Text::new(peer.to_string(), (32, y), ("sans-serif", 14)))?;
        }
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (phases.len() as f64, 0.0)],
            BLACK.stroke_width(2),
        )))?;
        let y = 60 + 24 * peers.len() as i32;
        legend.draw(&PathElement::new(
            vec![(10, y + 7), (24, y + 7)],
            BLACK.stroke_width(2),
        ))?;
        legend.draw(&Text::new("lightning = 1", (32, y), ("sans-serif", 14)))?;
        root.present()?;
        Ok(())
    }
}
