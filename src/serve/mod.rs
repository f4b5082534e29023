//! The HTTP service: a trained model (and optionally an index of its embeddings) answering
//! JSON requests.
//!
//! | route | request | answer |
//! | --- | --- | --- |
//! | `GET /health` | | the model, its threshold and embedding size, the index's rows |
//! | `POST /compare` | `{"a": B64, "b": B64}` | `{"distance", "threshold", "same"}` |
//! | `POST /embed` | `{"inputs": [B64, ...]}` | `{"dim", "embeddings": [[...], ...]}` |
//! | `POST /search` | `{"input": B64, "k": 5}` | `{"neighbours": [{"row", "source", "label", "distance", "same"}]}` |
//!
//! `B64` is a file's bytes in standard base64: an image (PNG, JPEG, BMP, GIF, TIFF, WebP,
//! told by content) or, for a pseudo-Siamese model, a WAV recording (told by its `RIFF`
//! header). Label convention as everywhere: `same` is true when the distance is below the
//! model's threshold. A bad request gets status 400 and `{"error": "..."}` naming the field;
//! the model's work runs on the blocking pool, one request at a time (each one already uses
//! every core).

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::data::{ImagePrep, load_image_bytes};
use crate::index::{EmbeddingIndex, canonical_source};
use crate::infer::{TrainedModel, recording_image_from_bytes};

/// Largest request body accepted (bytes).
pub const MAX_BODY: usize = 32 << 20;

/// Largest image side decoded (pixels): a small file can unpack into gigabytes.
pub const MAX_SIDE: u32 = 8192;

/// What the service holds.
pub struct Service {
    model: Mutex<TrainedModel>,
    index: Option<EmbeddingIndex>,
    prep: ImagePrep,
    pseudo: bool,
    threshold: f32,
    dim: usize,
    run: String,
}

impl Service {
    /// A service of `model`, with `index` for `/search` (checked to be the model's).
    pub fn new(
        model: TrainedModel,
        index: Option<EmbeddingIndex>,
        invert: bool,
    ) -> Result<Self, String> {
        model.check_embeds().map_err(|e| e.to_string())?;
        if let Some(index) = &index {
            index.check_model(&model).map_err(|e| e.to_string())?;
        }
        Ok(Self {
            prep: model.image_prep(invert),
            pseudo: model.net.is_pseudo(),
            threshold: model.threshold(),
            dim: model.embedding_dim(),
            run: canonical_source(&model.run.root().to_string_lossy()),
            model: Mutex::new(model),
            index,
        })
    }
}

/// The routes of the service.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/compare", post(compare))
        .route("/embed", post(embed))
        .route("/search", post(search))
        .fallback(|| async {
            Failure(
                StatusCode::NOT_FOUND,
                "no such route; the routes are GET /health and POST /compare, /embed, /search"
                    .into(),
            )
        })
        .method_not_allowed_fallback(|| async {
            Failure(
                StatusCode::METHOD_NOT_ALLOWED,
                "wrong method: GET /health; POST /compare, /embed and /search".into(),
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(service)
}

/// An answer with an error status: `{"error": message}`.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(message: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, message.into())
}

/// At most this many characters of a reason go back (a parser's message may quote the input).
const MAX_REASON: usize = 300;

fn shortened(reason: String) -> String {
    match reason.char_indices().nth(MAX_REASON) {
        Some((cut, _)) => format!("{}…", &reason[..cut]),
        None => reason,
    }
}

/// The request body, or an answer in JSON saying why it is not the expected JSON, with the
/// status the rejection carries (400, 413 for a body over [`MAX_BODY`], 415, 422).
fn body<T>(payload: Result<Json<T>, JsonRejection>, expected: &str) -> Result<T, Failure> {
    payload.map(|Json(request)| request).map_err(|e| {
        Failure(
            e.status(),
            format!("{}; expected {expected}", shortened(e.body_text())),
        )
    })
}

/// One decoded input: its pixels and whether it is a recording.
struct Input {
    pixels: Vec<u8>,
    recording: bool,
}

/// Decode the base64 `text` of field `field` into model input.
fn decode(service: &Service, field: &str, text: &str) -> Result<Input, Failure> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| bad(format!("{field}: not base64 ({e})")))?;
    let name = Path::new(field);
    if bytes.starts_with(b"RIFF") {
        if !service.pseudo {
            return Err(bad(format!(
                "{field}: a WAV recording; only a pseudo-Siamese model takes recordings"
            )));
        }
        let pixels =
            recording_image_from_bytes(name, &bytes).map_err(|e| bad(shortened(e.to_string())))?;
        return Ok(Input {
            pixels,
            recording: true,
        });
    }
    let pixels = load_image_bytes(name, &bytes, &service.prep, Some(MAX_SIDE)).map_err(|e| {
        bad(format!(
            "{} (expected an image file's bytes, or a WAV recording's for a pseudo-Siamese model)",
            shortened(e.to_string())
        ))
    })?;
    Ok(Input {
        pixels,
        recording: false,
    })
}

/// Run `work` with the model on the blocking pool.
async fn with_model<T: Send + 'static>(
    service: &Arc<Service>,
    work: impl FnOnce(&Service, &TrainedModel) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    let service = Arc::clone(service);
    tokio::task::spawn_blocking(move || {
        let model = service
            .model
            .lock()
            .map_err(|_| Failure(StatusCode::INTERNAL_SERVER_ERROR, "model lock".into()))?;
        work(&service, &model)
    })
    .await
    .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

fn internal(e: impl std::fmt::Display) -> Failure {
    Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn health(State(service): State<Arc<Service>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "model": service.run,
        "threshold": service.threshold,
        "embedding_dim": service.dim,
        "pseudo_siamese": service.pseudo,
        "index_rows": service.index.as_ref().map(EmbeddingIndex::len),
    }))
}

#[derive(Deserialize)]
struct CompareRequest {
    a: String,
    b: String,
}

#[derive(Serialize)]
struct CompareAnswer {
    distance: f32,
    threshold: f32,
    same: bool,
}

async fn compare(
    State(service): State<Arc<Service>>,
    payload: Result<Json<CompareRequest>, JsonRejection>,
) -> Result<Json<CompareAnswer>, Failure> {
    let request = body(payload, r#"{"a": base64, "b": base64}"#)?;
    with_model(&service, move |service, model| {
        let a = decode(service, "a", &request.a)?;
        let b = decode(service, "b", &request.b)?;
        let (left, right) = match (a.recording, b.recording) {
            (false, false) if service.pseudo => {
                return Err(bad(
                    "a and b: a pseudo-Siamese model compares a recording with an image",
                ));
            }
            (true, true) => {
                return Err(bad(
                    "a and b: two recordings; a pseudo-Siamese model compares a recording with \
                     an image",
                ));
            }
            // A recording goes left, through its own branch.
            (false, true) => (b, a),
            _ => (a, b),
        };
        let distance = model
            .compare_pixels(&left.pixels, &right.pixels)
            .map_err(internal)?;
        Ok(Json(CompareAnswer {
            distance,
            threshold: service.threshold,
            same: distance < service.threshold,
        }))
    })
    .await
}

#[derive(Deserialize)]
struct EmbedRequest {
    inputs: Vec<String>,
}

#[derive(Serialize)]
struct EmbedAnswer {
    dim: usize,
    embeddings: Vec<Vec<f32>>,
}

async fn embed(
    State(service): State<Arc<Service>>,
    payload: Result<Json<EmbedRequest>, JsonRejection>,
) -> Result<Json<EmbedAnswer>, Failure> {
    let request = body(payload, r#"{"inputs": [base64, ...]}"#)?;
    if request.inputs.is_empty() {
        return Err(bad("inputs: an empty list; give one base64 file or more"));
    }
    with_model(&service, move |service, model| {
        let inputs = request
            .inputs
            .iter()
            .enumerate()
            .map(|(i, text)| decode(service, &format!("inputs[{i}]"), text))
            .collect::<Result<Vec<Input>, Failure>>()?;
        // Images in one batch, recordings in another, then back in the order given.
        let batch = |recording: bool| -> Result<Vec<f32>, Failure> {
            let pixels: Vec<u8> = inputs
                .iter()
                .filter(|i| i.recording == recording)
                .flat_map(|i| i.pixels.iter().copied())
                .collect();
            let count = inputs.iter().filter(|i| i.recording == recording).count();
            match (count, recording) {
                (0, _) => Ok(Vec::new()),
                (_, true) => model.embed_recordings(&pixels, count, count),
                (_, false) => model.embed(&pixels, count, count),
            }
            .map_err(internal)
        };
        let (images, recordings) = (batch(false)?, batch(true)?);
        let (mut next_image, mut next_recording) =
            (images.chunks(service.dim), recordings.chunks(service.dim));
        let rows: Vec<Vec<f32>> = inputs
            .iter()
            .map(|i| {
                if i.recording {
                    next_recording.next()
                } else {
                    next_image.next()
                }
                .unwrap_or_default()
                .to_vec()
            })
            .collect();
        Ok(Json(EmbedAnswer {
            dim: service.dim,
            embeddings: rows,
        }))
    })
    .await
}

#[derive(Deserialize)]
struct SearchRequest {
    input: String,
    #[serde(default = "default_k")]
    k: usize,
}

fn default_k() -> usize {
    5
}

#[derive(Serialize)]
struct Found {
    row: usize,
    source: String,
    label: String,
    distance: f32,
    same: bool,
}

#[derive(Serialize)]
struct SearchAnswer {
    neighbours: Vec<Found>,
}

async fn search(
    State(service): State<Arc<Service>>,
    payload: Result<Json<SearchRequest>, JsonRejection>,
) -> Result<Json<SearchAnswer>, Failure> {
    let request = body(payload, r#"{"input": base64, "k": 5}"#)?;
    if service.index.is_none() {
        return Err(bad(
            "this service has no index: start it with --index FILE (from `siamese index`)",
        ));
    }
    if request.k == 0 {
        return Err(bad("k: must be at least 1"));
    }
    with_model(&service, move |service, model| {
        let index = service.index.as_ref().ok_or_else(|| bad("no index"))?;
        let input = decode(service, "input", &request.input)?;
        let vector = if input.recording {
            model.embed_recordings(&input.pixels, 1, 1)
        } else {
            model.embed(&input.pixels, 1, 1)
        }
        .map_err(internal)?;
        let rows = index.rows_for(service.pseudo, input.recording);
        if rows.is_empty() {
            return Err(bad(format!(
                "input: the index holds no {} to match this {} against (a pseudo-Siamese model \
                 matches recordings with images)",
                if input.recording {
                    "images"
                } else {
                    "recordings"
                },
                if input.recording {
                    "recording"
                } else {
                    "image"
                }
            )));
        }
        let found = index
            .nearest_within(&vector, request.k, rows)
            .map_err(internal)?;
        let neighbours = found
            .iter()
            .map(|n| Found {
                row: n.row,
                source: index.source(n.row).to_string(),
                label: index.label(n.row).to_string(),
                distance: n.distance,
                same: n.distance < service.threshold,
            })
            .collect();
        Ok(Json(SearchAnswer { neighbours }))
    })
    .await
}

/// Serve on `listener` until Ctrl-C or SIGTERM, then finish the requests under way.
pub async fn serve(listener: tokio::net::TcpListener, service: Service) -> std::io::Result<()> {
    axum::serve(listener, router(Arc::new(service)))
        .with_graceful_shutdown(shutdown())
        .await
}

async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
