"""`imagestudio inpaint` and `imagestudio outpaint`: repaint the masked part of a picture, or
extend it, through the one job path (the same engine and options as `generate`)."""

from __future__ import annotations

import argparse
from typing import Any

from imagestudio.cli.console import load_settings_with_warnings
from imagestudio.cli.jobs import _output_argument, _run, model_options, model_values
from imagestudio.cli.parser import command, number, whole_number


def add_commands(sub: argparse._SubParsersAction) -> None:
    inpaint = command(
        sub,
        "inpaint",
        "repaint the masked part of a picture",
        "Repaint the part of a picture a mask marks: white repaints, black keeps (in a picture "
        "with transparency, transparent repaints). Outside the blurred mask the picture's "
        "pixels are kept exactly.",
    )
    inpaint.add_argument("--mask", required=True, metavar="MASK", help="the mask picture")
    _paint_options(inpaint, strength=0.75)
    inpaint.set_defaults(run=run_inpaint)

    outpaint = command(
        sub,
        "outpaint",
        "extend a picture on any side",
        "Make a picture bigger on any side and paint the new part so it continues the picture; "
        "the old pixels are kept except a feathered band along the seam.",
    )
    outpaint.add_argument(
        "--extend",
        required=True,
        metavar="SIDES",
        help="pixels to add per side, multiples of 8 up to 1024: e.g. left=128,right=128 "
        "(sides: left, top, right, bottom)",
    )
    _paint_options(outpaint, strength=1.0)
    outpaint.set_defaults(run=run_outpaint)


def _paint_options(parser: argparse.ArgumentParser, strength: float) -> None:
    parser.add_argument("prompt", help="what the repainted part should show")
    parser.add_argument("--image", required=True, metavar="IN", help="the picture to change")
    parser.add_argument(
        "--strength",
        type=number,
        default=strength,
        metavar="F",
        help=f"how much to repaint, above 0 up to 1 (default {strength:g})",
    )
    parser.add_argument(
        "--mask-blur",
        type=whole_number,
        default=4,
        metavar="PX",
        help="feather the mask's edge by this many pixels, 0-64 (default 4)",
    )
    parser.add_argument(
        "--area",
        choices=("whole", "masked"),
        default="whole",
        help="whole: work on the whole picture at its size; masked: a crop around the mask at "
        "the model's own size, pasted back (sharp and fast on big pictures) (default whole)",
    )
    parser.add_argument(
        "--padding",
        type=whole_number,
        default=32,
        metavar="PX",
        help="with --area masked: context around the mask, 0-512 pixels (default 32)",
    )
    parser.add_argument(
        "--fill",
        choices=("original", "fill", "noise"),
        default="original",
        help="what the masked part starts from: the picture, the colour around it, or noise "
        "(default original)",
    )
    model_options(
        parser,
        model_help="a model folder, file or name (default: the setting default_model); an "
        "inpainting model works best",
    )
    _output_argument(parser)


def _request(args: argparse.Namespace, **fields: Any) -> int:
    from imagestudio.core.requests import InpaintRequest

    settings = load_settings_with_warnings()
    request = InpaintRequest(
        **model_values(args, settings),
        init_image=args.image,
        strength=args.strength,
        mask_blur=args.mask_blur,
        area=args.area,
        padding=args.padding,
        fill=args.fill,
        **fields,
    )
    return _run(request, args.output, settings)


def run_inpaint(args: argparse.Namespace) -> int:
    return _request(args, mask=args.mask)


def run_outpaint(args: argparse.Namespace) -> int:
    from imagestudio.core.requests import parse_extend

    return _request(args, extend=parse_extend(args.extend))
