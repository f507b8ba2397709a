"""Score a text-to-image model on the shapes dataset's plain prompts with the image analyzer.

    python -m imagestudio.dev.training.evaluate_starter [--model PATH_OR_NAME] [--count 240]
        [--steps 20] [--seed 0] [--cfg 7.5] [--out DIR]

Every prompt is `single_shape_sample(colour, shape, background).caption` ("a red circle on a
blue background"). The triples are split into the ones seen in training and the held-out ones
(`is_held_out`), which test whether the model composes words it never saw together. Each image
goes through the real `Engine` and `analyze` reads back its object colour, background and
shape; the table gives the share read as asked per group, with the analyzer's own accuracy on
ground-truth renders above it so a low score is not blamed on the analyzer.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from imagestudio.core.requests import BUILTIN_MODEL
from imagestudio.dev.training.analyze import Analysis, analyze, validate
from imagestudio.dev.training.shapes import COLOURS, SHAPES, is_held_out, single_shape_sample

ATTRIBUTES = ("colour", "background", "shape")
GROUPS = ("seen", "held_out", "all")
SHEET_IMAGES = 64
SHEET_COLUMNS = 8
TILE = 128


@dataclass(frozen=True)
class Case:
    """One evaluation prompt and what its picture should show."""

    colour: str
    shape: str
    background: str
    held_out: bool

    @property
    def caption(self) -> str:
        return single_shape_sample(self.colour, self.shape, self.background).caption


def all_cases() -> list[Case]:
    """Every (colour, shape, background) triple with colour != background, in a fixed order."""
    return [
        Case(colour, shape, background, is_held_out(colour, shape, background))
        for colour in COLOURS
        for shape in SHAPES
        for background in COLOURS
        if colour != background
    ]


def select_cases(count: int, seed: int = 0) -> list[Case]:
    """`count` distinct cases (at most all of them), the same for the same `seed`.

    Every held-out triple is kept when `count` leaves room for them and for at least as many
    seen ones (about 1 triple in 12 is held out); with a smaller `count` half of the cases are
    held-out ones. The result is shuffled, so any prefix mixes both groups.
    """
    cases = all_cases()
    held = [case for case in cases if case.held_out]
    seen = [case for case in cases if not case.held_out]
    count = max(0, min(count, len(cases)))
    n_held = min(len(held), max((count + 1) // 2, count - len(seen)))
    rng = random.Random(seed)
    chosen = rng.sample(held, n_held) + rng.sample(seen, count - n_held)
    rng.shuffle(chosen)
    return chosen


def _hits(case: Case, analysis: Analysis) -> dict[str, bool]:
    return {
        "colour": analysis.colour == case.colour,
        "background": analysis.background == case.background,
        "shape": analysis.shape == case.shape,
    }


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per group (seen, held_out, all): n, the share right per attribute and for all three,
    and the mean seconds per image. `records` are the per-image dicts `evaluate` returns."""
    summary: dict[str, dict[str, float]] = {}
    for group in GROUPS:
        rows = [r for r in records if group == "all" or r["held_out"] == (group == "held_out")]
        n = len(rows)
        stats: dict[str, float] = {"n": float(n)}
        for attribute in ATTRIBUTES:
            stats[attribute] = sum(r["hits"][attribute] for r in rows) / n if n else math.nan
        stats["all_three"] = sum(all(r["hits"].values()) for r in rows) / n if n else math.nan
        stats["seconds"] = sum(r["seconds"] for r in rows) / n if n else math.nan
        summary[group] = stats
    return summary


def evaluate(
    model: str = BUILTIN_MODEL,
    count: int = 240,
    steps: int = 20,
    seed: int = 0,
    guidance: float = 7.5,
    *,
    engine: Any = None,
    validate_n: int = 1000,
    keep_images: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Generate `count` shapes prompts with `model` and score them with `analyze`.

    Image i uses seed `seed + i`. `engine` defaults to a new `Engine()`; `validate_n` random
    ground-truth samples (plus all plain prompts) check the analyzer first, 0 skips that.
    Returns {"validation", "summary", "records", "load_seconds", "device", "model", ...} where
    "summary" is `summarise(records)` and each record holds the case, its seed, the analysis,
    the hits and the seconds; with `keep_images` also "images" (PIL, in order).
    """
    from imagestudio.core.generation.engine import Engine
    from imagestudio.core.requests import GenerationRequest

    validation = validate(validate_n, seed) if validate_n > 0 else None
    engine = engine if engine is not None else Engine()
    cases = select_cases(count, seed)
    records: list[dict[str, Any]] = []
    images: list[Image.Image] = []
    load_seconds = 0.0
    device = ""
    for i, case in enumerate(cases):
        request = GenerationRequest(
            prompt=case.caption, model=model, steps=steps, seed=seed + i, guidance=guidance
        )
        result = engine.generate(request, previews=False)
        load_seconds += result.load_seconds
        device = result.device
        image = result.images[0]
        analysis = analyze(image)
        records.append(
            {
                **asdict(case),
                "caption": case.caption,
                "seed": seed + i,
                "analysis": asdict(analysis),
                "hits": _hits(case, analysis),
                "seconds": result.duration - result.load_seconds,
            }
        )
        if keep_images:
            images.append(image)
        if on_progress is not None:
            on_progress(i + 1, len(cases))
    report: dict[str, Any] = {
        "model": model,
        "steps": steps,
        "guidance": guidance,
        "seed": seed,
        "device": device,
        "validation": validation,
        "summary": summarise(records),
        "load_seconds": load_seconds,
        "records": records,
    }
    if keep_images:
        report["images"] = images
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report as text: the analyzer's validation line, then one table row per group."""
    lines = []
    validation = report.get("validation")
    if validation:
        parts = "  ".join(
            f"{k} {100 * validation[k]:.1f}%" for k in ("background", "colour", "shape")
        )
        lines.append(f"Analyzer on ground-truth renders: {parts}")
    lines.append(
        f"Model {report['model']} on {report['device'] or 'no device'}: {report['steps']} steps, "
        f"CFG {report['guidance']:g}, seeds from {report['seed']} "
        f"(model load {report['load_seconds']:.1f} s)"
    )
    lines.append(
        f"{'group':<9} {'n':>5} {'colour':>8} {'backgr.':>8} {'shape':>8} {'all 3':>8} "
        f"{'s/image':>8}"
    )
    labels = {"seen": "seen", "held_out": "held-out", "all": "all"}
    for group in GROUPS:
        stats = report["summary"][group]
        cells = [
            f"{100 * stats[k]:7.1f}%" if stats["n"] else f"{'-':>8}"
            for k in (*ATTRIBUTES, "all_three")
        ]
        seconds = f"{stats['seconds']:8.2f}" if stats["n"] else f"{'-':>8}"
        lines.append(f"{labels[group]:<9} {int(stats['n']):>5} {' '.join(cells)} {seconds}")
    return "\n".join(lines)


def contact_sheet(images: Sequence[Image.Image], records: Sequence[dict[str, Any]]) -> Image.Image:
    """A grid of up to 64 images, each with what was asked and what the analyzer read.

    The second line is green when colour, background and shape all match, else red.
    """
    shown = list(zip(images, records, strict=False))[:SHEET_IMAGES]
    columns = min(SHEET_COLUMNS, max(1, len(shown)))
    rows = max(1, math.ceil(len(shown) / columns))
    cell_height = TILE + 26
    sheet = Image.new("RGB", (columns * TILE, rows * cell_height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for index, (image, record) in enumerate(shown):
        x, y = (index % columns) * TILE, (index // columns) * cell_height
        sheet.paste(image.convert("RGB").resize((TILE, TILE), Image.Resampling.LANCZOS), (x, y))
        got = record["analysis"]
        marker = "*" if record["held_out"] else ""
        asked = f"{marker}{record['colour']} {record['shape']}/{record['background']}"
        read = f"{got['colour'] or '-'} {got['shape'] or '-'}/{got['background'] or '-'}"
        ok = all(record["hits"].values())
        draw.text((x + 2, y + TILE + 1), asked, fill=(0, 0, 0), font=font)
        draw.text((x + 2, y + TILE + 13), read, fill=(0, 130, 0) if ok else (200, 0, 0), font=font)
    return sheet


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: evaluate, print the table, optionally save a sheet and JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m imagestudio.dev.training.evaluate_starter",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("--model", default=BUILTIN_MODEL, help="model name or folder")
    parser.add_argument("--count", type=int, default=240, help="number of prompts (max 360)")
    parser.add_argument("--steps", type=int, default=20, help="denoising steps per image")
    parser.add_argument("--seed", type=int, default=0, help="prompt selection and first seed")
    parser.add_argument("--cfg", type=float, default=7.5, help="guidance (CFG) scale")
    parser.add_argument("--device", default=None, help="auto, cuda, mps or cpu")
    parser.add_argument(
        "--validate", type=int, default=1000, help="ground-truth samples for the analyzer check"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for a sheet and JSON")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")

    from imagestudio.core.errors import ImageStudioError
    from imagestudio.core.generation.engine import Engine

    def progress(done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            print(f"\r{done}/{total} images", end="\n" if done == total else "", file=sys.stderr)

    started = time.perf_counter()
    try:
        report = evaluate(
            args.model,
            args.count,
            args.steps,
            args.seed,
            args.cfg,
            engine=Engine(device_setting=args.device),
            validate_n=args.validate,
            keep_images=args.out is not None,
            on_progress=progress,
        )
    except ImageStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    print(f"Total {time.perf_counter() - started:.1f} s")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        images = report.pop("images")
        contact_sheet(images, report["records"]).save(args.out / "contact_sheet.png")
        (args.out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"Saved {args.out / 'contact_sheet.png'} and {args.out / 'report.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
