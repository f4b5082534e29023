//! Nearest-neighbour search over a model's embeddings.
//!
//! An [`EmbeddingIndex`] holds the embeddings of a gallery (images, and for a pseudo-Siamese
//! model recordings too) with the source and label of each row, and the model that made them.
//! Search is exact: every row's Euclidean distance to the query, the `k` smallest kept, ties
//! broken by row order. A query costs `rows x dim` multiply-adds (8 million for the 60,000
//! images of a Fashion-MNIST training split at 128 values, about a millisecond here), so exact
//! search answers the datasets of this field at once and never misses a neighbour. (Not there
//! yet: an approximate index, from an ANN crate, for galleries of many millions.)
//!
//! The file is a safetensors file: one tensor `embeddings` (F32, rows x dim) and, in its
//! metadata, the format tag, the model's run folder and the MD5 of its weights, and the rows'
//! sources and labels as JSON lists. It is written atomically.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use thiserror::Error;

use crate::infer::{Embedded, TrainedModel};
use crate::train::MODEL_WEIGHTS;

/// The format tag index files of this version carry.
pub const INDEX_FORMAT: &str = "siamese-index/1";

/// The name of the embeddings tensor in an index file.
const TENSOR: &str = "embeddings";

/// Errors of building, reading or searching an index.
#[derive(Debug, Error)]
pub enum IndexError {
    /// The file could not be read or written.
    #[error("I/O error on {}: {error}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// The file is not an index of this version.
    #[error("{}: not a siamese index file ({reason})", .path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A request the index cannot answer, or parts that do not fit together.
    #[error("{0}")]
    Invalid(String),
}

/// The model whose embeddings an index holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedModel {
    /// Its run folder (absolute when it was built).
    pub run: PathBuf,
    /// MD5 of its weights file, to tell when the model has changed since.
    pub weights_md5: String,
}

impl IndexedModel {
    /// The model `model` is: its run folder, made absolute, and the MD5 of its weights.
    pub fn of(model: &TrainedModel) -> Result<Self, IndexError> {
        let root = model.run.root();
        let weights = model.run.file(MODEL_WEIGHTS);
        let weights_md5 = crate::data::md5_file(&weights).map_err(|e| {
            IndexError::Invalid(format!("reading the weights of {}: {e}", root.display()))
        })?;
        Ok(Self {
            run: std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()),
            weights_md5,
        })
    }
}

/// One neighbour found by a search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    /// Its row in the index.
    pub row: usize,
    /// Its Euclidean distance to the query.
    pub distance: f32,
}

/// Embeddings with the source and label of each row, searched exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingIndex {
    model: IndexedModel,
    dim: usize,
    /// The leading rows that are recordings (a pseudo-Siamese model's gallery); 0 otherwise.
    recordings: usize,
    vectors: Vec<f32>,
    sources: Vec<String>,
    labels: Vec<String>,
}

impl EmbeddingIndex {
    /// An index of `vectors` (rows of `dim` values, one after another), checking that the
    /// parts agree and every value is finite.
    pub fn new(
        model: IndexedModel,
        dim: usize,
        vectors: Vec<f32>,
        sources: Vec<String>,
        labels: Vec<String>,
    ) -> Result<Self, IndexError> {
        if dim == 0 {
            return Err(IndexError::Invalid(
                "embeddings of 0 values cannot be indexed".into(),
            ));
        }
        if !vectors.len().is_multiple_of(dim) {
            return Err(IndexError::Invalid(format!(
                "{} values do not make rows of {dim}",
                vectors.len()
            )));
        }
        let rows = vectors.len() / dim;
        if sources.len() != rows || labels.len() != rows {
            return Err(IndexError::Invalid(format!(
                "{rows} embeddings but {} sources and {} labels",
                sources.len(),
                labels.len()
            )));
        }
        if let Some(i) = vectors.iter().position(|v| !v.is_finite()) {
            return Err(IndexError::Invalid(format!(
                "the embedding of {} holds a non-finite value ({})",
                sources[i / dim],
                vectors[i]
            )));
        }
        Ok(Self {
            model,
            dim,
            recordings: 0,
            vectors,
            sources,
            labels,
        })
    }

    /// The same index, saying that its first `count` rows are recordings.
    pub fn with_recordings(mut self, count: usize) -> Result<Self, IndexError> {
        if count > self.len() {
            return Err(IndexError::Invalid(format!(
                "{count} recordings among {} rows",
                self.len()
            )));
        }
        self.recordings = count;
        Ok(self)
    }

    /// How many of the leading rows are recordings (the rest are images).
    pub fn recordings(&self) -> usize {
        self.recordings
    }

    /// The rows a query may be matched with: all of them, except for a pseudo-Siamese model
    /// (`cross_modal`), which learnt to match recordings with images only, so a recording
    /// query sees the image rows and an image query the recording rows.
    pub fn rows_for(&self, cross_modal: bool, query_is_recording: bool) -> Range<usize> {
        match (cross_modal, query_is_recording) {
            (false, _) => 0..self.len(),
            (true, true) => self.recordings..self.len(),
            (true, false) => 0..self.recordings,
        }
    }

    /// The index of what `model` embedded ([`embed_sources`](crate::infer::embed_sources)).
    /// File sources are stored by their absolute paths, so that the index means the same
    /// from any working directory.
    pub fn build(model: &TrainedModel, embedded: Embedded) -> Result<Self, IndexError> {
        Self::new(
            IndexedModel::of(model)?,
            model.embedding_dim(),
            embedded.vectors,
            embedded
                .sources
                .iter()
                .map(|s| canonical_source(s))
                .collect(),
            embedded.labels,
        )?
        .with_recordings(embedded.recordings)
    }

    /// An error unless `model` is the model this index was built with (same weights).
    pub fn check_model(&self, model: &TrainedModel) -> Result<(), IndexError> {
        let now = IndexedModel::of(model)?;
        if now.weights_md5 != self.model.weights_md5 {
            return Err(IndexError::Invalid(format!(
                "the index was built with the model in {} (weights MD5 {}), but the model in {} \
                 has weights MD5 {}: embeddings of different models are not comparable; \
                 rebuild the index with `siamese index`",
                self.model.run.display(),
                self.model.weights_md5,
                now.run.display(),
                now.weights_md5
            )));
        }
        if model.embedding_dim() != self.dim {
            return Err(IndexError::Invalid(format!(
                "the model embeds into {} values, the index holds {}",
                model.embedding_dim(),
                self.dim
            )));
        }
        Ok(())
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether it holds no rows.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Values per embedding.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The model the embeddings came from.
    pub fn model(&self) -> &IndexedModel {
        &self.model
    }

    /// Where row `row` came from.
    pub fn source(&self, row: usize) -> &str {
        &self.sources[row]
    }

    /// The label of row `row` (empty when its input gave none).
    pub fn label(&self, row: usize) -> &str {
        &self.labels[row]
    }

    /// The embedding of row `row`.
    pub fn vector(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dim..(row + 1) * self.dim]
    }

    /// The `k` rows nearest `query` (fewer when the index holds fewer), nearest first; rows at
    /// equal distance in row order.
    pub fn nearest(&self, query: &[f32], k: usize) -> Result<Vec<Neighbour>, IndexError> {
        self.nearest_within(query, k, 0..self.len())
    }

    /// [`nearest`](Self::nearest) among the rows `rows` only.
    pub fn nearest_within(
        &self,
        query: &[f32],
        k: usize,
        rows: Range<usize>,
    ) -> Result<Vec<Neighbour>, IndexError> {
        if rows.end > self.len() {
            return Err(IndexError::Invalid(format!(
                "rows {rows:?} of an index of {}",
                self.len()
            )));
        }
        if query.len() != self.dim {
            return Err(IndexError::Invalid(format!(
                "a query of {} values against an index of {}-value embeddings",
                query.len(),
                self.dim
            )));
        }
        // The k best so far in a max-heap (worst on top), ordered by squared distance, which
        // ranks the rows as distance does, then by row; the root is taken of the k kept.
        let k = k.min(rows.len());
        let mut best: BinaryHeap<Candidate> = BinaryHeap::with_capacity(k + 1);
        if k > 0 {
            let start = rows.start;
            let slab = &self.vectors[rows.start * self.dim..rows.end * self.dim];
            for (i, v) in slab.chunks_exact(self.dim).enumerate() {
                let row = start + i;
                let candidate = Candidate(squared_distance(query, v), row);
                if best.len() < k {
                    best.push(candidate);
                } else if best.peek().is_some_and(|worst| candidate < *worst) {
                    best.pop();
                    best.push(candidate);
                }
            }
        }
        Ok(best
            .into_sorted_vec()
            .into_iter()
            .map(|Candidate(squared, row)| Neighbour {
                row,
                distance: squared.sqrt(),
            })
            .collect())
    }

    /// [`nearest`](Self::nearest) for each query of `queries` (rows of `dim` values), in
    /// parallel.
    pub fn nearest_each(
        &self,
        queries: &[f32],
        k: usize,
    ) -> Result<Vec<Vec<Neighbour>>, IndexError> {
        if !queries.len().is_multiple_of(self.dim) {
            return Err(IndexError::Invalid(format!(
                "{} query values do not make rows of {}",
                queries.len(),
                self.dim
            )));
        }
        queries
            .par_chunks_exact(self.dim)
            .map(|q| self.nearest(q, k))
            .collect()
    }

    /// The index as the bytes of its file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, IndexError> {
        let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_default();
        let metadata = HashMap::from([
            ("format".to_string(), INDEX_FORMAT.to_string()),
            (
                "model_run".to_string(),
                self.model.run.to_string_lossy().into_owned(),
            ),
            (
                "model_weights_md5".to_string(),
                self.model.weights_md5.clone(),
            ),
            ("recordings".to_string(), self.recordings.to_string()),
            ("sources".to_string(), json(&self.sources)),
            ("labels".to_string(), json(&self.labels)),
        ]);
        let bytes: Vec<u8> = self.vectors.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::F32, vec![self.len(), self.dim], &bytes)
            .map_err(|e| IndexError::Invalid(format!("the embeddings as a tensor: {e}")))?;
        safetensors::tensor::serialize([(TENSOR, view)], Some(metadata))
            .map_err(|e| IndexError::Invalid(format!("writing the index: {e}")))
    }

    /// Write the index to `path`, atomically: a reader sees the old file or the new one.
    pub fn write(&self, path: &Path) -> Result<(), IndexError> {
        let bytes = self.to_bytes()?;
        crate::io::write_atomic(path, &bytes).map_err(|error| IndexError::Io {
            path: path.to_path_buf(),
            error,
        })
    }

    /// Read the index file at `path`.
    pub fn read(path: &Path) -> Result<Self, IndexError> {
        let bytes = std::fs::read(path).map_err(|error| IndexError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_bytes(path, &bytes)
    }

    /// The index held in `bytes`, the content of the file `path` (which errors name).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, IndexError> {
        let bad = |reason: String| IndexError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("no safetensors header: {e}")))?;
        let empty = HashMap::new();
        let meta = header.metadata().as_ref().unwrap_or(&empty);
        let field = |name: &str| {
            meta.get(name)
                .ok_or_else(|| bad(format!("no {name:?} in its metadata")))
        };
        let format = field("format")?;
        if format != INDEX_FORMAT {
            return Err(bad(format!(
                "format {format:?}; this version reads {INDEX_FORMAT:?}"
            )));
        }
        let list = |name: &str| -> Result<Vec<String>, IndexError> {
            serde_json::from_str(field(name)?)
                .map_err(|e| bad(format!("{name:?} is not a list of strings: {e}")))
        };
        let (sources, labels) = (list("sources")?, list("labels")?);
        let model = IndexedModel {
            run: PathBuf::from(field("model_run")?),
            weights_md5: field("model_weights_md5")?.clone(),
        };
        let tensors =
            SafeTensors::deserialize(bytes).map_err(|e| bad(format!("unreadable tensors: {e}")))?;
        let tensor = tensors
            .tensor(TENSOR)
            .map_err(|e| bad(format!("no {TENSOR:?} tensor: {e}")))?;
        let (Dtype::F32, &[rows, dim]) = (tensor.dtype(), tensor.shape()) else {
            return Err(bad(format!(
                "{TENSOR:?} is {:?} of shape {:?}; expected F32 rows x dim",
                tensor.dtype(),
                tensor.shape()
            )));
        };
        if rows != sources.len() {
            return Err(bad(format!(
                "{rows} embeddings but {} sources",
                sources.len()
            )));
        }
        let vectors = tensor
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let recordings: usize = match meta.get("recordings") {
            Some(text) => text
                .parse()
                .map_err(|_| bad(format!("\"recordings\" is {text:?}, not a count")))?,
            None => 0,
        };
        Self::new(model, dim, vectors, sources, labels)
            .and_then(|index| index.with_recordings(recordings))
            .map_err(|e| bad(e.to_string()))
    }
}

/// A source as an index stores it: a file (or `file#N`) by its absolute path; anything else
/// (a dataset split such as `fashion-mnist:test#3`) as it is.
pub fn canonical_source(source: &str) -> String {
    let absolute = |p: &str| {
        std::fs::canonicalize(p)
            .ok()
            .and_then(|a| a.to_str().map(str::to_string))
    };
    if Path::new(source).exists() {
        return absolute(source).unwrap_or_else(|| source.to_string());
    }
    if let Some((base, n)) = source.rsplit_once('#')
        && Path::new(base).is_file()
        && let Some(a) = absolute(base)
    {
        return format!("{a}#{n}");
    }
    source.to_string()
}

/// A row and its squared distance, ordered by distance then row.
#[derive(Debug, Clone, Copy)]
struct Candidate(f32, usize);

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// Squared Euclidean distance of two embeddings, summed in eight lanes (which the compiler
/// turns into SIMD) and then in a fixed order, so the result does not depend on the machine.
fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let whole = a.len() / LANES * LANES;
    let mut lanes = [0f32; LANES];
    for (x, y) in a[..whole]
        .chunks_exact(LANES)
        .zip(b[..whole].chunks_exact(LANES))
    {
        for i in 0..LANES {
            let d = x[i] - y[i];
            lanes[i] += d * d;
        }
    }
    let mut sum: f32 = lanes.iter().sum();
    for (x, y) in a[whole..].iter().zip(&b[whole..]) {
        sum += (x - y) * (x - y);
    }
    sum
}

#[cfg(test)]
mod tests;
