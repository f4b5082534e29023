//! Recordings: WAV files and their log-mel spectrograms.
//!
//! The spectrogram is the usual one of speech front ends and of librosa's
//! `melspectrogram(center=False)`: frames of `n_fft` samples every `hop` samples, a periodic
//! Hann window, the power `|X(f)|^2` of the real FFT (the `realfft` crate), then `n_mels`
//! triangular filters on the Slaney mel scale (linear below 1 kHz, logarithmic above) with
//! Slaney's area normalisation, librosa's defaults. [`MelSpec::log_mel_image`] turns it into
//! an 8-bit grey image for the encoders: decibels relative to the loudest cell of the clip,
//! floored at -80 dB, scaled to 0..=255 (0.31 dB a step).

use std::path::Path;
use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use super::DataError;

/// Samples of a mono WAV file, scaled to [-1, 1], and its sample rate.
///
/// Integer PCM of 8 to 32 bits and 32-bit float are read; more than one channel is refused
/// (naming the count), as is an empty file.
pub fn read_wav(path: &Path) -> Result<(Vec<f32>, u32), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    read_wav_bytes(path, &bytes)
}

/// [`read_wav`] of a file already in memory; `path` names it in errors.
pub fn read_wav_bytes(path: &Path, bytes: &[u8]) -> Result<(Vec<f32>, u32), DataError> {
    let bad = |reason: String| DataError::Audio {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.is_empty() {
        return Err(bad("an empty file (0 bytes), not a WAV file".into()));
    }
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| match e {
        // A file too short for a WAV header reads as an unexpected end of file.
        hound::Error::IoError(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            bad("not a WAV file (it ends before the header does)".into())
        }
        // The bytes are in memory: any other read error is a header that ends early too.
        hound::Error::IoError(error) => bad(format!("not a WAV file ({error})")),
        other => bad(format!("not a WAV file ({other})")),
    })?;
    let spec = reader.spec();
    if spec.channels != 1 {
        return Err(bad(format!(
            "{} channels; expected a mono recording",
            spec.channels
        )));
    }
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
        }
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<Result<_, _>>(),
    }
    .map_err(|e| bad(format!("truncated or corrupt sample data ({e})")))?;
    if samples.is_empty() {
        return Err(bad("no samples".into()));
    }
    Ok((samples, spec.sample_rate))
}

/// Hertz to the Slaney mel scale (librosa's `hz_to_mel(htk=False)`): `3 f / 200` below
/// 1 kHz, `15 + 27 ln(f / 1000) / ln(6.4)` above.
pub fn hz_to_mel(hz: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

/// The inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * ((mel - min_log_mel) * logstep).exp()
    } else {
        mel * f_sp
    }
}

/// The settings of a log-mel spectrogram.
#[derive(Debug, Clone, PartialEq)]
pub struct MelSpec {
    /// Sample rate the recordings must have, in Hz.
    pub sample_rate: u32,
    /// FFT size and frame length, in samples.
    pub n_fft: usize,
    /// Samples between frame starts.
    pub hop: usize,
    /// Mel bands.
    pub n_mels: usize,
    /// Lowest filter edge, Hz.
    pub fmin: f64,
    /// Highest filter edge, Hz.
    pub fmax: f64,
}

/// A [`MelSpec`] with its window, filters and FFT plan, ready to use.
pub struct MelFrontEnd {
    spec: MelSpec,
    window: Vec<f32>,
    /// `n_mels x (n_fft / 2 + 1)`, row-major.
    filters: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for MelFrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MelFrontEnd")
            .field("spec", &self.spec)
            .finish()
    }
}

impl MelSpec {
    /// The front end for spoken digits at 8 kHz: 256-sample frames (32 ms) every 192 samples
    /// (24 ms), 28 mel bands from 0 to 4 kHz. 28 frames then cover 5,440 samples (0.68 s),
    /// the whole of 96% of the Free Spoken Digit Dataset's recordings.
    pub fn spoken_digits() -> Self {
        Self {
            sample_rate: 8000,
            n_fft: 256,
            hop: 192,
            n_mels: 28,
            fmin: 0.0,
            fmax: 4000.0,
        }
    }

    /// Check the numbers, naming the one that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.n_fft < 4 || self.hop == 0 || self.n_mels == 0 {
            return Err(format!(
                "n_fft {} (at least 4), hop {} and n_mels {} (at least 1) are out of range",
                self.n_fft, self.hop, self.n_mels
            ));
        }
        let nyquist = f64::from(self.sample_rate) / 2.0;
        if !(self.fmin >= 0.0 && self.fmin < self.fmax && self.fmax <= nyquist) {
            return Err(format!(
                "mel range {}..{} Hz must lie within 0..{nyquist} Hz (half the sample rate)",
                self.fmin, self.fmax
            ));
        }
        Ok(())
    }

    /// Build the window, the filter bank and the FFT plan.
    pub fn front_end(&self) -> Result<MelFrontEnd, String> {
        self.validate()?;
        let n = self.n_fft;
        // Periodic Hann (scipy's `get_window("hann", n, fftbins=True)`).
        let window = (0..n)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
            .collect();
        let bins = n / 2 + 1;
        let fft_freqs: Vec<f64> = (0..bins)
            .map(|k| k as f64 * f64::from(self.sample_rate) / n as f64)
            .collect();
        let (lo, hi) = (hz_to_mel(self.fmin), hz_to_mel(self.fmax));
        let edges: Vec<f64> = (0..self.n_mels + 2)
            .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (self.n_mels + 1) as f64))
            .collect();
        let mut filters = vec![0.0f32; self.n_mels * bins];
        for m in 0..self.n_mels {
            let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
            let norm = 2.0 / (right - left);
            for (k, &f) in fft_freqs.iter().enumerate() {
                let rise = (f - left) / (centre - left);
                let fall = (right - f) / (right - centre);
                let w = rise.min(fall).max(0.0);
                filters[m * bins + k] = (w * norm) as f32;
            }
        }
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        Ok(MelFrontEnd {
            spec: self.clone(),
            window,
            filters,
            fft,
        })
    }
}

impl MelFrontEnd {
    /// The settings.
    pub fn spec(&self) -> &MelSpec {
        &self.spec
    }

    /// Frames of `samples` (no padding: a clip shorter than one frame has none).
    pub fn frames(&self, samples: usize) -> usize {
        if samples < self.spec.n_fft {
            0
        } else {
            1 + (samples - self.spec.n_fft) / self.spec.hop
        }
    }

    /// Mel power spectrogram, `frames x n_mels` row-major (frame by frame).
    pub fn mel_power(&self, samples: &[f32]) -> Vec<f32> {
        let (n, bins, n_mels) = (self.spec.n_fft, self.spec.n_fft / 2 + 1, self.spec.n_mels);
        let frames = self.frames(samples.len());
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut power = vec![0.0f32; bins];
        let mut out = Vec::with_capacity(frames * n_mels);
        for t in 0..frames {
            let frame = &samples[t * self.spec.hop..t * self.spec.hop + n];
            for ((x, &s), &w) in input.iter_mut().zip(frame).zip(&self.window) {
                *x = s * w;
            }
            // The lengths come from the plan itself, so this cannot fail.
            if self.fft.process(&mut input, &mut spectrum).is_err() {
                out.resize(out.len() + n_mels, 0.0);
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for m in 0..n_mels {
                let row = &self.filters[m * bins..(m + 1) * bins];
                out.push(row.iter().zip(&power).map(|(w, p)| w * p).sum());
            }
        }
        out
    }

    /// The clip as an `n_mels x frames` grey image (row 0 = the highest band, so low
    /// frequencies sit at the bottom as in a printed spectrogram; one column per frame):
    /// `10 log10(power)` relative to the clip's loudest cell, floored at -80 dB, scaled to
    /// 0..=255. A clip with more frames keeps its loudest `frames` consecutive ones (the window
    /// of largest total mel power, the first on a tie), so a long recording with quiet lead-in
    /// keeps the word; a shorter one is padded on the left with silence (0), so it ends at the
    /// last column. An all-silent clip is all 0.
    pub fn log_mel_image(&self, samples: &[f32], frames: usize) -> Vec<u8> {
        const FLOOR_DB: f32 = 80.0;
        let n_mels = self.spec.n_mels;
        let mel = self.mel_power(samples);
        let have = mel.len() / n_mels;
        let (skip, pad) = if have >= frames {
            (loudest_window(&mel, n_mels, frames), 0)
        } else {
            (0, frames - have)
        };
        let db: Vec<f32> = mel.iter().map(|&p| 10.0 * p.max(1e-10).log10()).collect();
        let top = db.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut image = vec![0u8; n_mels * frames];
        if have == 0 || top <= -100.0 + 1e-3 {
            return image;
        }
        for col in pad..frames {
            let t = skip + col - pad;
            for m in 0..n_mels {
                let rel = (db[t * n_mels + m] - top).max(-FLOOR_DB);
                let v = ((rel + FLOOR_DB) / FLOOR_DB * 255.0).round();
                image[(n_mels - 1 - m) * frames + col] = v as u8;
            }
        }
        image
    }
}

/// The start of the `frames` consecutive frames of `mel` (`frames x n_mels`, frame by frame)
/// with the largest total power; the first such window on a tie.
fn loudest_window(mel: &[f32], n_mels: usize, frames: usize) -> usize {
    let energy: Vec<f64> = mel
        .chunks(n_mels)
        .map(|f| f.iter().map(|&p| f64::from(p)).sum())
        .collect();
    let mut sum: f64 = energy[..frames].iter().sum();
    let (mut best, mut best_sum) = (0, sum);
    for start in 1..=energy.len() - frames {
        sum += energy[start + frames - 1] - energy[start - 1];
        if sum > best_sum {
            (best, best_sum) = (start, sum);
        }
    }
    best
}

#[cfg(test)]
mod tests;
