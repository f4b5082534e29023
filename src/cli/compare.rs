//! `siamese compare`.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use siamese::infer::gather_inputs;

use super::common::{DataArgs, ModelArgs};

/// Flags of `siamese compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// First image: an image file (PNG, JPEG, BMP, GIF, TIFF, WebP; any size, grey or colour),
    /// or one image of a set, as `fashion-mnist:test#0` or `images.idx3-ubyte#5`. With a
    /// pseudo-Siamese model, one of A and B is a recording (an 8 kHz mono WAV file).
    #[arg(value_name = "A")]
    pub a: String,
    /// Second image, in the same forms.
    #[arg(value_name = "B")]
    pub b: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Verdict {
    a: String,
    b: String,
    distance: f32,
    threshold: f32,
    threshold_source: String,
    same: bool,
}

pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let model = args.model.open()?;
    let (prep, data) = args.data.for_inputs(&model, args.model.invert());
    let mut images = Vec::with_capacity(2);
    let mut left_pixels = None;
    if !model.net.is_pseudo()
        && let Some(wav) = [&args.a, &args.b]
            .into_iter()
            .find(|i| siamese::infer::is_wav(std::path::Path::new(i)))
    {
        anyhow::bail!(
            "{wav}: a recording; only a pseudo-Siamese model (--arch pseudo) compares recordings"
        );
    }
    // A pseudo-Siamese model takes a recording and an image, in either order.
    let is_wav = |i: &String| siamese::infer::is_wav(std::path::Path::new(i));
    let (recording, image) = if is_wav(&args.b) && !is_wav(&args.a) {
        (&args.b, &args.a)
    } else {
        (&args.a, &args.b)
    };
    if model.net.is_pseudo() {
        if !is_wav(recording) {
            let folder = [&args.a, &args.b]
                .into_iter()
                .find(|i| std::path::Path::new(i).is_dir())
                .map(|f| format!(" ({f} is a folder)"))
                .unwrap_or_default();
            anyhow::bail!(
                "neither {} nor {} is a recording (a .wav file){folder}; a pseudo-Siamese model \
                 compares a recording with an image",
                args.a,
                args.b
            );
        }
        if is_wav(image) {
            anyhow::bail!(
                "{image}: a pseudo-Siamese model compares a recording with an image, not two \
                 recordings"
            );
        }
        left_pixels = Some(
            siamese::infer::recording_image(std::path::Path::new(recording)).with_context(
                || {
                    format!(
                        "{recording}: a pseudo-Siamese model compares a recording (a mono 8 kHz \
                         WAV file) with an image"
                    )
                },
            )?,
        );
    }
    // A recording has been read already: only the image side is left.
    let image_inputs = if left_pixels.is_some() {
        vec![image]
    } else {
        vec![&args.a, &args.b]
    };
    for input in image_inputs {
        let set = gather_inputs(std::slice::from_ref(input), &prep, &data)?;
        match set.len() {
            1 => {}
            0 => anyhow::bail!(
                "{input} holds no images ({} hidden and {} non-image entries skipped); compare \
                 takes one image per side",
                set.skipped.hidden,
                set.skipped.not_images
            ),
            n => anyhow::bail!(
                "{input} holds {n} images; compare takes one image per side (pick one with \
                 {input}#N, N from 0)"
            ),
        }
        images.push(set);
    }
    let distance = match &left_pixels {
        Some(recording) => model.compare_pixels(recording, &images[0].pixels)?,
        None => model.compare_pixels(&images[0].pixels, &images[1].pixels)?,
    };
    let verdict = Verdict {
        a: args.a.clone(),
        b: args.b.clone(),
        distance,
        threshold: model.threshold(),
        threshold_source: model.meta.threshold_source.clone(),
        same: distance < model.threshold(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        println!(
            "distance {:.4} {} threshold {:.4}: {}",
            verdict.distance,
            if verdict.same { "<" } else { ">=" },
            verdict.threshold,
            if verdict.same { "same" } else { "different" }
        );
    }
    Ok(if verdict.same {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
