"""Fixed numbers of the front end (README, "Front end and latency").

Everything else in rtsep derives from these; nothing here may be changed by a
config, because trained models depend on them.
"""

SAMPLE_RATE = 44_100
"""Sample rate in Hz of everything the engine sees."""

N_FFT = 4096
"""STFT window length in samples."""

HOP = 1024
"""STFT hop in samples (75 % overlap): one new frame every 23.2 ms."""

PAD_START = N_FFT - HOP
"""Virtual zeros before the first sample, so that frame 0 ends at sample ``HOP``
(frame ``f`` covers samples ``[f*HOP - PAD_START, f*HOP + HOP)``)."""

N_BINS = N_FFT // 2 + 1
"""Number of one-sided STFT bins (2049)."""

MODEL_BINS = 1024
"""Bins the model sees: 0 to ~11 kHz."""

MODEL_FRAMES = 192
"""Frames in one model window (~4.46 s)."""

N_CHANNELS = 2
"""Stereo."""

STEMS = ("vocals", "drums", "bass", "other")
"""Stem order used everywhere: model outputs, engine outputs, files."""

OUTPUTS = STEMS + ("instrumental",)
"""Engine outputs: the four stems, then everything but vocals (karaoke)."""

N_STEMS = len(STEMS)
N_OUTPUTS = len(OUTPUTS)
