use super::*;

/// 1,024 samples at 8 kHz of `0.5 sin(2 pi 440 t) + 0.25 sin(2 pi 1800 t)`.
fn two_tones() -> Vec<f32> {
    (0..1024)
        .map(|n| {
            let t = n as f64 / 8000.0;
            (0.5 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
                + 0.25 * (2.0 * std::f64::consts::PI * 1800.0 * t).sin()) as f32
        })
        .collect()
}

/// Reference: librosa 0.11.0 (numpy float32 input),
/// ```python
/// S = librosa.feature.melspectrogram(y=y, sr=8000, n_fft=256, hop_length=192, n_mels=28,
///                                    center=False, power=2.0, fmin=0, fmax=4000)
/// S.shape == (28, 5); print(S[:, 0]); print(S[:, 4])
/// ```
// librosa's printout, kept digit for digit.
#[allow(clippy::excessive_precision)]
const LIBROSA_FRAME0: [f32; 28] = [
    6.7561757e-08,
    5.0797257e-07,
    7.1248596e-06,
    7.0405030e-04,
    1.0581045e+01,
    8.4189405e+00,
    6.7592459e-04,
    4.4156136e-06,
    4.8986851e-07,
    9.8978560e-08,
    2.9474208e-08,
    1.3607019e-08,
    9.2774330e-09,
    1.2574538e-08,
    3.0682109e-08,
    1.1806591e-07,
    1.0609385e-06,
    1.6211627e-04,
    1.5581814e+00,
    1.0020188e+00,
    2.3081031e-05,
    2.0952233e-07,
    1.6267411e-08,
    2.5083116e-09,
    5.5831684e-10,
    1.6055879e-10,
    5.8506179e-11,
    2.8681949e-11,
];
#[allow(clippy::excessive_precision)]
const LIBROSA_FRAME4: [f32; 28] = [
    1.76769532e-07,
    6.71134842e-07,
    7.47829108e-06,
    7.05957646e-04,
    1.05810442e+01,
    8.41894054e+00,
    6.74893265e-04,
    4.30921409e-06,
    4.55478244e-07,
    8.33306331e-08,
    2.08443325e-08,
    7.41961825e-09,
    4.61456340e-09,
    8.35575698e-09,
    2.61677986e-08,
    1.12281256e-07,
    1.05003107e-06,
    1.62061755e-04,
    1.55818164e+00,
    1.00201857e+00,
    2.30913301e-05,
    2.10387824e-07,
    1.64159459e-08,
    2.53132226e-09,
    5.53337043e-10,
    1.49354334e-10,
    4.64926674e-11,
    1.69870819e-11,
];

#[test]
fn mel_power_matches_librosa() {
    let fe = MelSpec::spoken_digits().front_end().unwrap();
    let samples = two_tones();
    assert_eq!(fe.frames(samples.len()), 5);
    let mel = fe.mel_power(&samples);
    assert_eq!(mel.len(), 5 * 28);
    for (frame, want) in [(0, LIBROSA_FRAME0), (4, LIBROSA_FRAME4)] {
        for (m, &w) in want.iter().enumerate() {
            let got = mel[frame * 28 + m];
            // The loud bands to 0.1%; the leakage bands (eleven orders of magnitude below the
            // peak, where float32 FFT rounding dominates) to 1e-6 of the peak.
            let ok = if w > 1e-4 {
                (got - w).abs() <= 1e-3 * w
            } else {
                (got - w).abs() <= 1e-5
            };
            assert!(ok, "frame {frame}, band {m}: {got} vs librosa {w}");
        }
    }
}

#[test]
fn mel_scale_matches_librosa() {
    // librosa.hz_to_mel([500, 1000, 3000]) = [7.5, 15, 30.97940199];
    // librosa.mel_to_hz([5, 20]) = [333.33333333, 1410.23856781].
    for (hz, mel) in [(500.0, 7.5), (1000.0, 15.0), (3000.0, 30.979_401_99)] {
        assert!((hz_to_mel(hz) - mel).abs() < 1e-6, "{hz} Hz");
        assert!((mel_to_hz(mel) - hz).abs() < 1e-6, "{mel} mel");
    }
    assert!((mel_to_hz(20.0) - 1_410.238_567_81).abs() < 1e-6);
}

#[test]
fn log_mel_image_scales_pads_and_crops() {
    let fe = MelSpec::spoken_digits().front_end().unwrap();
    let samples = two_tones();
    // 5 frames into 8 columns: 3 columns of silence on the left.
    let image = fe.log_mel_image(&samples, 8);
    assert_eq!(image.len(), 28 * 8);
    for row in 0..28 {
        assert_eq!(&image[row * 8..row * 8 + 3], &[0, 0, 0], "row {row}");
    }
    // The loudest cell (band 4 of frame 0 or 4: 10.581045) is 255. Band 4 is row 27 - 4.
    let row4 = 27 - 4;
    assert_eq!(image[row4 * 8 + 3], 255);
    // Band 18 (1.5581814) is 10 log10(1.5581814 / 10.581045) = -8.319 dB: 255 * 71.68 / 80
    // = 228.5 -> 228 or 229 by rounding of the float32 powers.
    let v = image[(27 - 18) * 8 + 3];
    assert!((228..=229).contains(&v), "{v}");
    // Band 27 (2.87e-11, -115 dB) is floored at -80 dB: 0.
    assert_eq!(image[3], 0);
    // Cropping keeps the loudest frames. Silence (1,024 samples), the tones (768), silence
    // (1,024): 14 frames of 256 every 192; frames 6, 7 and 8 (samples 1152-1408, 1344-1600,
    // 1536-1792) lie wholly within the tones, frames 5 and 9 only partly, so 3 columns are
    // frames 6-8.
    let mut padded = vec![0.0f32; 1024];
    padded.extend_from_slice(&samples[..768]);
    padded.extend(std::iter::repeat_n(0.0, 1024));
    assert_eq!(fe.frames(padded.len()), 14);
    let cropped = fe.log_mel_image(&padded, 3);
    let full = fe.log_mel_image(&padded, 14);
    for row in 0..28 {
        assert_eq!(
            &cropped[row * 3..row * 3 + 3],
            &full[row * 14 + 6..row * 14 + 9]
        );
    }
    // Silence and clips shorter than a frame give an all-zero image.
    assert!(fe.log_mel_image(&[0.0; 1000], 4).iter().all(|&v| v == 0));
    assert!(fe.log_mel_image(&[0.3; 100], 4).iter().all(|&v| v == 0));
}

#[test]
fn wav_files_are_read_and_bad_ones_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for v in [0i16, 16384, -32768, 32767] {
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
    let (samples, rate) = read_wav(&path).unwrap();
    assert_eq!(rate, 8000);
    assert_eq!(samples, vec![0.0, 0.5, -1.0, 32767.0 / 32768.0]);

    let stereo = dir.path().join("stereo.wav");
    let mut w = hound::WavWriter::create(
        &stereo,
        hound::WavSpec {
            channels: 2,
            ..spec
        },
    )
    .unwrap();
    w.write_sample(0i16).unwrap();
    w.write_sample(0i16).unwrap();
    w.finalize().unwrap();
    let err = read_wav(&stereo).unwrap_err().to_string();
    assert!(
        err.contains("stereo.wav") && err.contains("2 channels"),
        "{err}"
    );

    let junk = dir.path().join("junk.wav");
    std::fs::write(&junk, b"not a wav at all").unwrap();
    let err = read_wav(&junk).unwrap_err().to_string();
    assert!(
        err.contains("junk.wav") && err.contains("not a WAV"),
        "{err}"
    );

    // Empty, and cut inside the header: named as no WAV file, not as an I/O failure.
    for (name, bytes) in [
        ("empty.wav", &b""[..]),
        ("cut.wav", &b"RIFF\x24\0\0\0WAVEfmt "[..]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = read_wav(&path).unwrap_err().to_string();
        assert!(
            err.contains(name) && err.contains("not a WAV file") && !err.contains("I/O"),
            "{err}"
        );
    }
}

#[test]
fn bad_settings_are_named() {
    let mut spec = MelSpec::spoken_digits();
    spec.fmax = 5000.0;
    let err = spec.front_end().unwrap_err();
    assert!(err.contains("5000") && err.contains("4000"), "{err}");
}
