//! `siamese evaluate`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use siamese::eval::Criterion;
use siamese::infer::{
    EvalOptions, OneShotReport, PairSetReport, PairSource, ThresholdChoice, TrainedModel,
    calibrate, evaluate_pairs, one_shot,
};

use super::common::{DataArgs, ModelArgs};

/// Flags of `siamese evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Pair sets to score, comma-separated: seed-test (the chapter's test pairs), test (the
    /// same protocol on the official test split, trained classes), unseen (official test
    /// split, classes never trained on), all (those the run's dataset has: Omniglot has no
    /// test, an image folder only seed-test), csv:FILE (lines `left,right,label`,
    /// 1 = same), folder:DIR (one sub-folder per class) [default: seed-test, or none with
    /// --one-shot].
    #[arg(long, value_delimiter = ',')]
    pub pairs: Vec<String>,
    /// Before scoring, fit the threshold on the run's validation pairs (never on the pairs
    /// scored) to the best F1 or accuracy, and store it in the model's model.json.
    #[arg(long, value_name = "f1|accuracy")]
    pub calibrate: Option<String>,
    /// One-shot N-way evaluation: N candidates, one of the query's class; comma-separated for
    /// several N.
    #[arg(long, value_name = "N", value_delimiter = ',')]
    pub one_shot: Vec<usize>,
    /// Episodes per one-shot evaluation.
    #[arg(long, default_value_t = 1000, requires = "one_shot")]
    pub episodes: usize,
    /// Classes one-shot episodes draw from: unseen (official test split, classes never trained
    /// on), seen, all (every test class), alphabet (Omniglot: the evaluation set, every
    /// episode within one alphabet), or folder:DIR.
    #[arg(long, default_value = "unseen", requires = "one_shot")]
    pub one_shot_classes: String,
    /// Seed of the pairs and episodes an evaluation draws (not the training seed).
    #[arg(long, default_value_t = 0)]
    pub eval_seed: u64,
    /// Pairs per batch when computing distances.
    #[arg(long, default_value_t = 512)]
    pub batch_size: usize,
    /// Folder for the distance histograms and ROC curves [default: RUN/eval].
    #[arg(long)]
    pub figures: Option<PathBuf>,
    /// Draw no figures.
    #[arg(long, conflicts_with = "figures")]
    pub no_figures: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Report {
    model: String,
    label_convention: &'static str,
    calibration: Option<Calibration>,
    pair_sets: Vec<PairSetReport>,
    one_shot: Vec<OneShotReport>,
}

#[derive(Debug, Serialize)]
struct Calibration {
    criterion: Criterion,
    threshold: ThresholdChoice,
    value_on_validation: f64,
    validation_pairs: usize,
}

/// The pair sets `--pairs` names, `all` standing for those of the run's dataset.
fn pair_sources(
    names: &[String],
    one_shot: bool,
    model: &TrainedModel,
) -> anyhow::Result<Vec<PairSource>> {
    let mut out = Vec::new();
    if names.is_empty() && !one_shot {
        out.push(PairSource::SeedTest);
    }
    for name in names {
        if name == "all" {
            let all = PairSource::all_for(model);
            let names: Vec<String> = all.iter().map(PairSource::name).collect();
            tracing::info!(
                "--pairs all: {} (the sets the run's dataset has)",
                names.join(", ")
            );
            out.extend(all);
        } else {
            out.push(PairSource::parse(name).map_err(|e| anyhow::anyhow!("--pairs: {e}"))?);
        }
    }
    Ok(out)
}

pub fn run(args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    // The names are checked before the model is read (which may take a while).
    for name in args.pairs.iter().filter(|n| *n != "all") {
        PairSource::parse(name).map_err(|e| anyhow::anyhow!("--pairs: {e}"))?;
    }
    let criterion = match args.calibrate.as_deref() {
        None => None,
        Some("f1") => Some(Criterion::F1),
        Some("accuracy") => Some(Criterion::Accuracy),
        Some(other) => anyhow::bail!("--calibrate: {other:?} is not f1 or accuracy"),
    };
    if args.batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    if !args.one_shot.is_empty() && args.episodes == 0 {
        anyhow::bail!("--episodes must be at least 1");
    }
    let mut model = args.model.open()?;
    let sources = pair_sources(&args.pairs, !args.one_shot.is_empty(), &model)?;
    let figures = if args.no_figures {
        None
    } else {
        Some(
            args.figures
                .clone()
                .unwrap_or_else(|| args.model.model.join("eval")),
        )
    };
    let opts = EvalOptions {
        data: args.data.options(args.model.invert(), args.eval_seed),
        batch: args.batch_size,
        figures,
    };
    let calibration = match criterion {
        Some(criterion) => {
            let (_, value, n) = calibrate(&mut model, criterion, &opts)?;
            tracing::info!(
                "threshold calibrated to {:.4} ({criterion} {value:.4} on {n} validation pairs), stored in {}",
                model.threshold(),
                model.run.file(siamese::train::MODEL_META).display()
            );
            Some(Calibration {
                criterion,
                threshold: ThresholdChoice {
                    value: model.threshold(),
                    source: model.meta.threshold_source.clone(),
                },
                value_on_validation: value,
                validation_pairs: n,
            })
        }
        None => None,
    };
    // Every set and every N is scored; those that fail are named after the figures of the
    // others are printed, and the command then ends with exit status 2.
    let mut pair_sets = Vec::new();
    let mut shots = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for source in &sources {
        tracing::info!("scoring {}", source.name());
        match evaluate_pairs(&model, source, &opts) {
            Ok(report) => pair_sets.push(report),
            Err(e) => failures.push(format!("--pairs {}: {e}", source.name())),
        }
    }
    for &ways in &args.one_shot {
        tracing::info!("{ways}-way one-shot, {} episodes", args.episodes);
        match one_shot(&model, &args.one_shot_classes, ways, args.episodes, &opts) {
            Ok(report) => shots.push(report),
            Err(e) => failures.push(format!("--one-shot {ways}: {e}")),
        }
    }
    let scored = !(pair_sets.is_empty() && shots.is_empty());
    if scored {
        let report = Report {
            model: args.model.model.display().to_string(),
            label_convention: "1 = same, 0 = different; same when distance < threshold",
            calibration,
            pair_sets,
            one_shot: shots,
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_table(&report);
        }
    }
    match failures.len() {
        0 => Ok(ExitCode::SUCCESS),
        1 if !scored => Err(anyhow::anyhow!("{}", failures[0])),
        _ => Err(anyhow::anyhow!(
            "{} of the evaluations asked for failed{}:\n  {}",
            failures.len(),
            if scored {
                " (the figures above are those of the others)"
            } else {
                ""
            },
            failures.join("\n  ")
        )),
    }
}

fn print_table(report: &Report) {
    println!("model: {}", report.model);
    if let Some(c) = &report.calibration {
        println!(
            "calibrated threshold: {:.4} ({} {:.4} on {} validation pairs; stored in model.json)",
            c.threshold.value, c.criterion, c.value_on_validation, c.validation_pairs
        );
    }
    for set in &report.pair_sets {
        println!();
        println!("pair set {}: {}", set.name, set.description);
        println!(
            "  pairs {} ({} same, {} different); threshold {:.4} ({})",
            set.pairs, set.same, set.different, set.threshold.value, set.threshold.source
        );
        let eer = match set.equal_error_distance {
            Some(d) => format!("{} (near distance {d:.4})", set.equal_error_rate),
            None => set.equal_error_rate.to_string(),
        };
        let rows = [
            ("accuracy", set.accuracy.to_string()),
            ("precision", set.precision.to_string()),
            ("recall", set.recall.to_string()),
            ("F1", set.f1.to_string()),
            ("ROC AUC", set.roc_auc.to_string()),
            ("equal error rate", eer),
            ("mean distance, same", set.mean_distance_same.to_string()),
            (
                "mean distance, different",
                set.mean_distance_different.to_string(),
            ),
        ];
        for (name, value) in rows {
            println!("  {name:<26}{value}");
        }
        let c = &set.confusion;
        println!("  confusion                 predicted same  predicted different");
        println!(
            "    labelled same   (1)     {:>14}  {:>19}",
            c.true_same, c.false_different
        );
        println!(
            "    labelled diff.  (0)     {:>14}  {:>19}",
            c.false_same, c.true_different
        );
        for f in &set.figures {
            println!("  figure: {}", f.display());
        }
        println!("  ({:.1} s)", set.seconds);
    }
    for shot in &report.one_shot {
        let r = &shot.result;
        println!();
        println!(
            "one-shot {}-way on {} ({}): accuracy {:.4} (95% CI {:.4}-{:.4}) over {} episodes; chance {:.4} ({:.1} s)",
            r.ways,
            shot.pool,
            if shot.classes.len() <= 12 {
                shot.classes.join(", ")
            } else {
                format!("{} classes", shot.classes.len())
            },
            r.accuracy,
            r.ci95.0,
            r.ci95.1,
            r.episodes,
            r.chance,
            shot.seconds
        );
    }
}
