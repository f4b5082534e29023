//! `siamese search`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use rayon::prelude::*;
use serde::Serialize;
use siamese::index::{EmbeddingIndex, Neighbour, canonical_source};
use siamese::infer::embed_sources;

use super::common::{DataArgs, DeviceArgs};

/// Flags of `siamese search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The index file `siamese index` wrote.
    #[arg(long, value_name = "FILE")]
    pub index: PathBuf,
    /// The run folder of the model that embeds the queries [default: the one the index was
    /// built with]; its weights must be those the index was built with.
    #[arg(long, value_name = "RUN")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// What to look up, in the forms `embed` takes (image files, folders, dataset splits,
    /// `SOURCE#N`; recordings for a pseudo-Siamese model, whose index may hold images).
    #[arg(required = true, value_name = "QUERIES")]
    pub queries: Vec<String>,
    /// Neighbours per query.
    #[arg(short, default_value_t = 5)]
    pub k: usize,
    /// Leave out neighbours that are the query itself (the same source), for a query set that
    /// is also in the index.
    #[arg(long)]
    pub skip_self: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Images per batch when embedding the queries.
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    index: PathBuf,
    model: PathBuf,
    /// The model's threshold: a neighbour nearer than this is judged the same.
    threshold: f32,
    k: usize,
    /// Whether the model is pseudo-Siamese (recordings matched with images only).
    pseudo: bool,
    queries: Vec<QueryResult>,
    /// Queries that carry a label and found neighbours (the retrieval figures use these).
    labelled_queries: usize,
    /// Queries that found fewer than k neighbours (a labelled one's precision is over those
    /// found).
    short_of_k: usize,
    /// Queries left with no neighbour at all (left out of the figures): an index too small,
    /// or for a pseudo-Siamese model one with none of the other kind of input.
    without_neighbours: usize,
    /// Mean share of a labelled query's neighbours that carry its label.
    precision_at_k: Option<f64>,
    /// Share of labelled queries whose nearest neighbour carries their label.
    nearest_neighbour_accuracy: Option<f64>,
}

#[derive(Debug, Serialize)]
struct QueryResult {
    source: String,
    label: String,
    neighbours: Vec<Found>,
}

#[derive(Debug, Serialize)]
struct Found {
    rank: usize,
    row: usize,
    source: String,
    label: String,
    distance: f32,
    same: bool,
}

pub fn run(args: SearchArgs) -> anyhow::Result<ExitCode> {
    if args.k == 0 {
        anyhow::bail!("-k must be at least 1");
    }
    if args.batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    let index = EmbeddingIndex::read(&args.index).context("--index")?;
    let run = match &args.model {
        Some(run) => run.clone(),
        None => {
            let run = index.model().run.clone();
            if !run.is_dir() {
                anyhow::bail!(
                    "the index {} was built with the model in {}, which is not there now; pass \
                     --model with the run folder's new place",
                    args.index.display(),
                    run.display()
                );
            }
            run
        }
    };
    let model = args.device.open(&run)?;
    index
        .check_model(&model)
        .with_context(|| format!("--index {}", args.index.display()))?;
    let (prep, data) = args.data.for_inputs(&model, args.device.invert);
    let queries = embed_sources(&model, &args.queries, &prep, &data, args.batch_size)?;
    let threshold = model.threshold();
    // A pseudo-Siamese model's recordings are matched with images only, and back.
    let pseudo = model.net.is_pseudo();
    let rows_for = |query: usize| index.rows_for(pseudo, query < queries.recordings);
    // Rows that are a query (the same file, wherever it was named from) are asked for on top
    // of k, then left out.
    let query_keys: Vec<String> = queries
        .sources
        .iter()
        .map(|s| canonical_source(s))
        .collect();
    let mut rows_of_source: HashMap<&str, usize> = HashMap::new();
    if args.skip_self {
        for r in 0..index.len() {
            *rows_of_source.entry(index.source(r)).or_default() += 1;
        }
    }
    let found: Vec<Vec<Neighbour>> = queries
        .vectors
        .par_chunks_exact(index.dim())
        .zip(&query_keys)
        .enumerate()
        .map(|(q, (vector, key))| {
            let selves = rows_of_source.get(key.as_str()).copied().unwrap_or(0);
            index.nearest_within(vector, args.k + selves, rows_for(q))
        })
        .collect::<Result<_, _>>()?;
    let mut results = Vec::with_capacity(queries.len());
    for (q, nearest) in found.into_iter().enumerate() {
        let key = &query_keys[q];
        let neighbours = nearest
            .into_iter()
            .filter(|n| !args.skip_self || index.source(n.row) != key)
            .take(args.k)
            .enumerate()
            .map(|(i, n)| Found {
                rank: i + 1,
                row: n.row,
                source: index.source(n.row).to_string(),
                label: index.label(n.row).to_string(),
                distance: n.distance,
                same: n.distance < threshold,
            })
            .collect();
        results.push(QueryResult {
            source: queries.sources[q].clone(),
            label: queries.labels[q].clone(),
            neighbours,
        });
    }
    let labelled: Vec<&QueryResult> = results.iter().filter(|r| !r.label.is_empty()).collect();
    let answered: Vec<&QueryResult> = labelled
        .iter()
        .copied()
        .filter(|r| !r.neighbours.is_empty())
        .collect();
    let mean = |f: &dyn Fn(&QueryResult) -> f64| {
        (!answered.is_empty())
            .then(|| answered.iter().map(|r| f(r)).sum::<f64>() / answered.len() as f64)
    };
    let precision_at_k = mean(&|r| {
        r.neighbours.iter().filter(|n| n.label == r.label).count() as f64
            / r.neighbours.len() as f64
    });
    let nearest_neighbour_accuracy =
        mean(&|r| f64::from(u8::from(r.neighbours[0].label == r.label)));
    let short_of_k = results
        .iter()
        .filter(|r| !r.neighbours.is_empty() && r.neighbours.len() < args.k)
        .count();
    let without_neighbours = results.iter().filter(|r| r.neighbours.is_empty()).count();
    let report = Report {
        index: args.index.clone(),
        model: run,
        threshold,
        k: args.k,
        pseudo,
        labelled_queries: answered.len(),
        short_of_k,
        without_neighbours,
        queries: results,
        precision_at_k,
        nearest_neighbour_accuracy,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(report: &Report) {
    let bracket = |label: &str| {
        if label.is_empty() {
            String::new()
        } else {
            format!("  [{label}]")
        }
    };
    for q in &report.queries {
        println!("{}{}", q.source, bracket(&q.label));
        for n in &q.neighbours {
            println!(
                "  {:>3}  {:.4}  {:<9}  {}{}",
                n.rank,
                n.distance,
                if n.same { "same" } else { "different" },
                n.source,
                bracket(&n.label)
            );
        }
    }
    if let (Some(p), Some(top1)) = (report.precision_at_k, report.nearest_neighbour_accuracy) {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        println!(
            "over {}: precision@{} {p:.4}, nearest-neighbour accuracy {top1:.4} (threshold {:.4} \
             for same/different)",
            plural(
                report.labelled_queries,
                "labelled query",
                "labelled queries"
            ),
            report.k,
            report.threshold
        );
        if report.short_of_k > 0 {
            println!(
                "({} fewer than {} neighbours: precision over those found)",
                plural(report.short_of_k, "query had", "queries had"),
                report.k
            );
        }
    }
    if report.without_neighbours > 0 {
        println!(
            "({} of the queries had no neighbour{}, and are left out of the figures)",
            report.without_neighbours,
            if report.pseudo {
                ": a pseudo-Siamese model matches recordings with images, and the index holds \
                 none of their other kind"
            } else {
                ""
            }
        );
    }
}
