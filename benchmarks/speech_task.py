"""A small scene task with real speech, made offline: which language a synthetic voice speaks a number in.

``espeak-ng`` says a random number from 0 to 99 in one of :data:`LANGUAGES` (the number's own words in that language:
"forty-seven", "siebenundvierzig", "quarante-sept", ...), with a random voice variant (7 male, 4 female), speed and
pitch. Every language draws its numbers from the same distribution, so the words carry no label; the language does.
Clips are dealt into train / valid / test by their index within a class (3 : 1 : 1) and written as a table
``path,label,split`` that ``hear-gear task make`` turns into a HEAR scene task folder (resampled from espeak's 22.05 kHz
to 32 kHz, padded or cropped to ``duration`` seconds).

    python benchmarks/speech_task.py OUT_TASK [--per-class 30] [--duration 1.5] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

LANGUAGES: tuple[str, ...] = ("en-us", "de", "fr", "es", "it", "pl")
"""The classes: espeak-ng voices of six languages (two of them, Spanish and Italian, close)."""
VOICE_VARIANTS: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4")
SPEED_WPM = (130, 200)
PITCH = (25, 75)
AMPLITUDE = 60
"""espeak-ng's amplitude (its default is 100): leaves headroom, so that resampling to 32 kHz cannot overshoot 1."""
SPLIT_CYCLE = ("train", "train", "train", "valid", "test")
"""Split of the clip with index ``i`` within its class: ``SPLIT_CYCLE[i % 5]``."""
TASK_NAME = "speech-language"


def espeak() -> str | None:
    """The ``espeak-ng`` executable on PATH, or ``None``."""
    return shutil.which("espeak-ng")


def write_table(folder: Path, *, per_class: int = 30, languages: Sequence[str] = LANGUAGES, seed: int = 0) -> Path:
    """Speak ``per_class`` clips per language into ``folder`` and write ``folder/table.csv`` (path, label, split).

    Raises:
        FileNotFoundError: ``espeak-ng`` is not on PATH.
        subprocess.CalledProcessError: espeak-ng failed on a clip.
    """
    exe = espeak()
    if exe is None:
        raise FileNotFoundError("espeak-ng is not on PATH (Debian: apt-get install espeak-ng)")
    if per_class < len(SPLIT_CYCLE):
        raise ValueError(f"per_class must be at least {len(SPLIT_CYCLE)} (one clip in each split), got {per_class}")
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for language in languages:
        for i in range(per_class):
            number = rng.randrange(100)
            voice = f"{language}+{rng.choice(VOICE_VARIANTS)}"
            speed, pitch = rng.randint(*SPEED_WPM), rng.randint(*PITCH)
            name = f"{language}/{language}-{i:03d}.wav"
            (folder / language).mkdir(exist_ok=True)
            subprocess.run([exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(AMPLITUDE), "-w", str(folder / name),
                            str(number)],
                           check=True, capture_output=True)
            rows.append({"path": name, "label": language, "split": SPLIT_CYCLE[i % len(SPLIT_CYCLE)],
                         "text": str(number), "voice": voice, "speed_wpm": speed, "pitch": pitch})
    table = folder / "table.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return table


def make_speech_task(out: Path, *, per_class: int = 30, languages: Sequence[str] = LANGUAGES, duration: float = 1.5,
                     seed: int = 0, sources: Path | None = None) -> Path:
    """The task folder ``out`` (made with ``hear-gear task make``, in this process) from freshly spoken clips, kept
    under ``sources`` (default: a temporary folder, removed afterwards).

    Raises:
        FileNotFoundError: ``espeak-ng`` is not on PATH.
        RuntimeError: ``hear-gear task make`` did not make the task (its exit status).
    """
    from hear_gear_embed.cli import main as hear_gear

    with tempfile.TemporaryDirectory(prefix="speech-src-") as scratch:
        folder = sources or Path(scratch)
        table = write_table(folder, per_class=per_class, languages=languages, seed=seed)
        status = hear_gear(["task", "make", str(table), "--out", str(out), "--name", TASK_NAME,
                            "--duration", str(duration), "--overwrite"])
        if status != 0:
            raise RuntimeError(f"hear-gear task make {table} --out {out} failed with exit status {status}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the task folder to make")
    parser.add_argument("--per-class", type=int, default=30)
    parser.add_argument("--duration", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sources", type=Path, help="keep the spoken clips and table.csv here")
    args = parser.parse_args(argv)
    make_speech_task(args.out, per_class=args.per_class, duration=args.duration, seed=args.seed, sources=args.sources)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
