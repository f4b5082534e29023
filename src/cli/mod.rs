//! Command-line definitions (clap derive) and dispatch.

mod bench;
mod common;
mod compare;
mod embed;
mod evaluate;
mod index;
mod logging;
mod search;
mod serve;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Train, evaluate and serve Siamese networks: networks that learn whether two inputs are alike.
#[derive(Debug, Parser)]
#[command(name = "siamese", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// More log output on stderr (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors on stderr, and no progress bar.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model. With no flags: the chapter's Fashion-MNIST Siamese experiment (see the README).
    Train(train::TrainArgs),
    /// Score a trained model: pair metrics (accuracy, precision, recall, F1, ROC AUC, equal
    /// error rate) on pair sets, threshold calibration, one-shot N-way accuracy.
    Evaluate(evaluate::EvaluateArgs),
    /// Distance between two inputs (two images; a recording and an image for a pseudo-Siamese
    /// model) and the verdict at the model's threshold. Exit status: 0 same, 1 different, 2
    /// error.
    Compare(compare::CompareArgs),
    /// Embeddings of images, folders or datasets, written as .npy, CSV or JSON lines.
    Embed(embed::EmbedArgs),
    /// Index the embeddings of a gallery (images, folders, dataset splits) for `search`.
    Index(index::IndexArgs),
    /// The nearest neighbours of queries in an index, with distances, verdicts at the model's
    /// threshold and, for labelled queries, precision@k.
    Search(search::SearchArgs),
    /// Serve a model (and an index) over HTTP: JSON routes /health, /compare, /embed, /search.
    Serve(serve::ServeArgs),
    /// Measure training-step and embedding throughput of the chapter's model.
    Bench(bench::BenchArgs),
}

/// Run the parsed command line; the exit code on success.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Train(args) => train::run(args, cli.verbose, cli.quiet),
        Command::Evaluate(args) => {
            logging::init_stderr(cli.verbose, cli.quiet);
            evaluate::run(args)
        }
        Command::Compare(args) => {
            logging::init_stderr(cli.verbose, cli.quiet);
            compare::run(args)
        }
        Command::Embed(args) => {
            logging::init_stderr(cli.verbose, cli.quiet);
            embed::run(args)
        }
        Command::Index(args) => {
            logging::init_stderr(cli.verbose, cli.quiet);
            index::run(args)
        }
        Command::Search(args) => {
            logging::init_stderr(cli.verbose, cli.quiet);
            search::run(args)
        }
        Command::Serve(args) => {
            logging::init_stderr(cli.verbose, cli.quiet);
            serve::run(args)
        }
        Command::Bench(args) => {
            logging::init_stderr(cli.verbose, cli.quiet);
            bench::run(args)
        }
    }
}
