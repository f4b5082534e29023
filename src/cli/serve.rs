//! `siamese serve`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use siamese::index::EmbeddingIndex;
use siamese::serve::{Service, serve};

use super::common::ModelArgs;

/// Flags of `siamese serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// An index of the model's embeddings (from `siamese index`), for POST /search.
    #[arg(long, value_name = "FILE")]
    pub index: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the one taken is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let model = args.model.open()?;
    let index = match &args.index {
        Some(path) => Some(EmbeddingIndex::read(path).context("--index")?),
        None => None,
    };
    let service = Service::new(model, index, args.model.invert())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("--index")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .with_context(|| format!("--addr {}: cannot listen there", args.addr))?;
        let addr = listener.local_addr()?;
        println!("listening on http://{addr}");
        std::io::stdout().flush()?;
        tracing::info!(
            "serving {} on http://{addr}: GET /health, POST /compare, /embed, /search; Ctrl-C stops",
            args.model.model.display()
        );
        serve(listener, service).await.context("serving")?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
