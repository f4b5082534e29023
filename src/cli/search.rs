//! `siamese search`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use rayon::prelude::*;
use serde::Serialize;
use siamese::index::{EmbeddingIndex, Neighbour};
use siamese::infer::embed_sources;

use super::common::{DataArgs, ModelArgs};

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
    /// Compute backend: flex (CPU), cuda or wgpu (the last two need those cargo features).
    #[arg(long, default_value = "flex")]
    pub backend: String,
    /// CPU threads for the compute pool [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Invert query images before use (for a dark object on a light background).
    #[arg(long)]
    pub invert: bool,
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
    queries: Vec<QueryResult>,
    /// Queries that carry a label (the retrieval figures use these).
    labelled_queries: usize,
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
    let index = EmbeddingIndex::read(&args.index)?;
    let run = args
        .model
        .clone()
        .unwrap_or_else(|| index.model().run.clone());
    let opener = ModelArgs {
        model: run.clone(),
        backend: args.backend.clone(),
        threads: args.threads,
        invert: args.invert,
    };
    let model = opener.open().with_context(|| {
        format!(
            "the index {} names this model; pass --model if it has moved",
            args.index.display()
        )
    })?;
    index.check_model(&model)?;
    let (prep, data) = args.data.for_inputs(&model, args.invert);
    let queries = embed_sources(&model, &args.queries, &prep, &data, args.batch_size)?;
    let threshold = model.threshold();
    // Rows that are a query are asked for on top of k, then left out.
    let mut rows_of_source: HashMap<&str, usize> = HashMap::new();
    if args.skip_self {
        for r in 0..index.len() {
            *rows_of_source.entry(index.source(r)).or_default() += 1;
        }
    }
    let found: Vec<Vec<Neighbour>> = queries
        .vectors
        .par_chunks_exact(index.dim())
        .zip(&queries.sources)
        .map(|(vector, source)| {
            let selves = rows_of_source.get(source.as_str()).copied().unwrap_or(0);
            index.nearest(vector, args.k + selves)
        })
        .collect::<Result<_, _>>()?;
    let mut results = Vec::with_capacity(queries.len());
    for (q, nearest) in found.into_iter().enumerate() {
        let source = &queries.sources[q];
        let neighbours = nearest
            .into_iter()
            .filter(|n| !args.skip_self || index.source(n.row) != source)
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
            source: source.clone(),
            label: queries.labels[q].clone(),
            neighbours,
        });
    }
    let labelled: Vec<&QueryResult> = results
        .iter()
        .filter(|r| !r.label.is_empty() && !r.neighbours.is_empty())
        .collect();
    let mean = |f: &dyn Fn(&QueryResult) -> f64| {
        (!labelled.is_empty())
            .then(|| labelled.iter().map(|r| f(r)).sum::<f64>() / labelled.len() as f64)
    };
    let precision_at_k = mean(&|r| {
        r.neighbours.iter().filter(|n| n.label == r.label).count() as f64
            / r.neighbours.len() as f64
    });
    let nearest_neighbour_accuracy =
        mean(&|r| f64::from(u8::from(r.neighbours[0].label == r.label)));
    let report = Report {
        index: args.index.clone(),
        model: run,
        threshold,
        k: args.k,
        labelled_queries: labelled.len(),
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
        println!(
            "over {} labelled queries: precision@{} {p:.4}, nearest-neighbour accuracy {top1:.4} \
             (threshold {:.4} for same/different)",
            report.labelled_queries, report.k, report.threshold
        );
    }
}
