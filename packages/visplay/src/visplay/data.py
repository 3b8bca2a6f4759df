"""Images for self-play, benchmark records, and the procedural sample data (paper §4; spec §2.7, §5).

VisPlay trains from unlabelled images only: :func:`load_images` returns ``{"image_id", "image"}`` items from the
bundled sample, a directory of pictures, a local table (jsonl, parquet, csv) or the hub (the paper's
``LMMs-Lab-Turtle/Vision-SR1-47K``, whose questions and answers are discarded). :func:`load_benchmark` reads
the paper's seven evaluation sets (columns ``problem``, ``answer``, ``images``).

The sample data is drawn, not stored: :func:`make_sample_images` paints every image with Pillow from one
``random.Random(seed)`` (see ``data/README.md`` beside this module). Each sample image carries a question with
an exact answer (a count of shapes of one colour, the letter of the tallest bar, the hypotenuse of a labelled
right triangle), so the demo can evaluate the Reasoner without any download.

Every file and hub read goes through :func:`rlcore.data.load_records` and :func:`rlcore.data.load_image`; a
problem a user can fix is an :class:`rlcore.data.DataError` naming the source and, for an image, its id.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcore.data import DataError, DataFileNotFound, load_image, load_records

__all__ = [
    "BENCHMARKS",
    "IMAGE_SELECTIONS",
    "KINDS",
    "PALETTE",
    "SAMPLE_SEED",
    "BenchmarkSource",
    "load_benchmark",
    "load_images",
    "load_sample",
    "make_sample_images",
]

logger = logging.getLogger(__name__)

SAMPLE_SEED = 20251119
"""The seed of the bundled sample's ``train`` split (``eval`` uses SAMPLE_SEED + 1)."""

KINDS = ("shapes", "bars", "geometry")
"""The kinds of sample image, drawn in this order, cyclically."""

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (230, 25, 75),
    "green": (60, 180, 75),
    "blue": (0, 130, 200),
    "yellow": (255, 225, 25),
    "purple": (145, 30, 180),
    "orange": (245, 130, 48),
}
"""The colours of the sample images, by name."""

IMAGE_SELECTIONS = ("first", "random")
"""How :func:`load_images` picks ``limit`` images: the first ones, or a seeded random subset."""

_WHITE = (255, 255, 255)
_BLACK = (0, 0, 0)
_SHAPES = ("circle", "square", "triangle")
_TRIPLES = ((3, 4, 5), (5, 12, 13), (6, 8, 10), (8, 15, 17), (7, 24, 25), (9, 12, 15), (12, 16, 20))
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # what a directory source reads
_PATH_SUFFIXES = (*_IMAGE_SUFFIXES, ".webp", ".gif", ".bmp", ".tif", ".tiff")  # a cell naming a missing file
_TABLE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")  # what a local benchmark file can be
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


# ------------------------------------------------------------------------------------------ sample data


def _font(size: int) -> Any:
    """Pillow's built-in default font at about a tenth of the image size (no external font file)."""
    from PIL import ImageFont

    return ImageFont.load_default(size=max(8, size // 10))


def _text(draw: Any, xy: tuple[float, float], text: str, font: Any, anchor: str) -> None:
    """Draw ``text`` in black, placed by its box: ``anchor="top"`` centres it on x with its top at y,
    ``"right"`` puts its right edge at x and centres it on y (from ``textbbox``, which every Pillow font has)."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x, y = xy
    origin = {"top": (x - (left + right) / 2, y - top), "right": (x - right, y - (top + bottom) / 2)}[anchor]
    draw.text((max(0, origin[0]), max(0, origin[1])), text, fill=_BLACK, font=font)


def _apart(a: Sequence[int], b: Sequence[int]) -> bool:
    """Whether two inclusive boxes are disjoint with at least one pixel of gap between them."""
    return a[0] > b[2] + 1 or b[0] > a[2] + 1 or a[1] > b[3] + 1 or b[1] > a[3] + 1


def _draw_shapes(rng: random.Random, size: int, draw: Any) -> tuple[str, str, dict]:
    """Solid shapes in palette colours on disjoint boxes; the question counts those of one colour."""
    placed: list[dict] = []
    for _ in range(rng.randint(3, 6)):
        shape = rng.choice(_SHAPES)
        color = rng.choice(list(PALETTE))
        side = rng.randint(size // 8, size // 4)
        for _ in range(100):
            x0, y0 = rng.randint(0, size - side), rng.randint(0, size - side)
            bbox = [x0, y0, x0 + side - 1, y0 + side - 1]
            if all(_apart(bbox, other["bbox"]) for other in placed):
                placed.append({"shape": shape, "color": color, "bbox": bbox})
                break
    for item in placed:
        x0, y0, x1, y1 = item["bbox"]
        fill = PALETTE[item["color"]]
        # No outline and no antialiasing, so every bbox centre pixel has the shape's colour.
        if item["shape"] == "circle":
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif item["shape"] == "square":
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        else:
            draw.polygon([((x0 + x1) / 2, y0), (x0, y1), (x1, y1)], fill=fill)
    query = rng.choice(placed)["color"]
    count = sum(item["color"] == query for item in placed)
    question = f"How many {query} shapes are there in the image?"
    return question, str(count), {"shapes": placed, "query_color": query}


def _draw_bars(rng: random.Random, size: int, draw: Any) -> tuple[str, str, dict]:
    """3-5 coloured bars with values 1-9 (a unique maximum) on a baseline, lettered A, B, ... underneath."""
    k = rng.randint(3, 5)
    values = [rng.randint(1, 9) for _ in range(k)]
    while values.count(max(values)) > 1:
        values = [rng.randint(1, 9) for _ in range(k)]
    labels = [chr(ord("A") + j) for j in range(k)]
    colors = rng.sample(list(PALETTE), k)
    font = _font(size)
    margin = size // 16
    baseline = size - (max(8, size // 10) + 5)
    unit = (baseline - margin) // 9  # bar height = value × unit pixels, so heights keep the values' order
    slot = (size - 2 * margin) // k
    width = max(1, slot * 2 // 3)
    for j, (value, color) in enumerate(zip(values, colors, strict=True)):
        x0 = margin + j * slot + (slot - width) // 2
        draw.rectangle((x0, baseline - value * unit, x0 + width - 1, baseline - 1), fill=PALETTE[color])
        _text(draw, (x0 + (width - 1) / 2, baseline + 2), labels[j], font, "top")
    draw.line((margin, baseline, size - margin - 1, baseline), fill=_BLACK)
    answer = labels[values.index(max(values))]
    return "Which bar is the tallest? Answer with its letter.", answer, {"labels": labels, "values": values}


def _draw_geometry(rng: random.Random, size: int, draw: Any) -> tuple[str, str, dict]:
    """A right triangle in outline, right angle marked, legs labelled from a Pythagorean triple."""
    a, b, c = rng.choice(_TRIPLES)
    if rng.random() < 0.5:
        a, b = b, a
    font = _font(size)
    margin = size // 5
    scale = (size - 2 * margin) / max(a, b)
    width, height = round(a * scale), round(b * scale)
    x0, y1 = margin, size - margin  # the right-angle corner; leg a runs right, leg b runs up
    color = PALETTE["blue"]
    draw.line([(x0, y1), (x0 + width, y1), (x0, y1 - height), (x0, y1)], fill=color)
    mark = max(3, size // 20)
    draw.line([(x0 + mark, y1), (x0 + mark, y1 - mark), (x0, y1 - mark)], fill=color)
    _text(draw, (x0 + width / 2, y1 + 3), str(a), font, "top")
    _text(draw, (x0 - 3, y1 - height / 2), str(b), font, "right")
    question = (
        "The two legs of the right triangle are labelled with their lengths. "
        "What is the length of its hypotenuse?"
    )
    return question, str(c), {"legs": [a, b], "hypotenuse": c}


_DRAW = {"shapes": _draw_shapes, "bars": _draw_bars, "geometry": _draw_geometry}
_TYPES = {"shapes": "numerical", "bars": "multiple choice", "geometry": "numerical"}


def make_sample_images(
    n: int = 24, *, seed: int = SAMPLE_SEED, size: int = 112, kinds: Sequence[str] = KINDS
) -> list[dict]:
    """``n`` procedurally drawn images with a question and its exact answer (spec §5).

    Item i has kind ``kinds[i % len(kinds)]`` and id ``f"{kind}-{seed}-{i:03d}"``; each is a white
    ``size``×``size`` RGB image, and every random choice comes from one ``random.Random(seed)``. Items are
    ``{"image_id", "image", "kind", "question", "type", "answer", "meta"}``:

    - ``shapes``: 3-6 placement attempts of a circle, square or triangle (side in [size//8, size//4], a
      :data:`PALETTE` colour) on a box disjoint from the others with a one-pixel gap (up to 100 tries, else
      dropped); meta ``{"shapes": [{"shape", "color", "bbox"}], "query_color"}``; answer: how many shapes
      have the query colour.
    - ``bars``: 3-5 bars A, B, ... with values 1-9 and a unique maximum; meta ``{"labels", "values"}``;
      answer: the tallest bar's letter.
    - ``geometry``: a right triangle whose legs are labelled with a Pythagorean triple; meta ``{"legs",
      "hypotenuse"}``; answer: the hypotenuse.

    The same ``(n, seed, size, kinds)`` gives the same questions, answers and meta everywhere and the same
    pixels under one Pillow version. ``n < 0``, ``size < 64``, no kinds or an unknown kind is a ``ValueError``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if size < 64:
        raise ValueError(f"size must be >= 64, got {size}")
    kinds = tuple(kinds)
    if not kinds:
        raise ValueError("kinds must name at least one kind")
    for kind in kinds:
        if kind not in _DRAW:
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    items = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        image = Image.new("RGB", (size, size), _WHITE)
        question, answer, meta = _DRAW[kind](rng, size, ImageDraw.Draw(image))
        items.append(
            {
                "image_id": f"{kind}-{seed}-{i:03d}",
                "image": image,
                "kind": kind,
                "question": question,
                "type": _TYPES[kind],
                "answer": answer,
                "meta": meta,
            }
        )
    return items


def load_sample(split: str = "train") -> list[dict]:
    """The bundled sample: ``"train"`` = ``make_sample_images(24, seed=SAMPLE_SEED)``, ``"eval"`` = the same
    with ``seed=SAMPLE_SEED + 1``. Any other split is a ``ValueError``."""
    seeds = {"train": SAMPLE_SEED, "eval": SAMPLE_SEED + 1}
    if split not in seeds:
        raise ValueError(f"the sample has splits 'train' and 'eval', got {split!r}")
    return make_sample_images(24, seed=seeds[split])


# ------------------------------------------------------------------------------------------ image sources


def _open_bytes(data: bytes, where: str) -> Any:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as opened:
            return opened.convert("RGB")
    except Exception as exc:  # Pillow raises several unrelated classes for corrupt data
        raise DataError(f"{where}: cannot decode the image ({type(exc).__name__}: {exc})") from None


def _decode_image(cell: Any, where: str, base_dir: Path | None) -> Any:
    """A PIL RGB image from one cell: a PIL image, a path (absolute, or relative to the cwd or to the data
    file's folder), bytes, base64 text (optionally a ``data:`` URI) or a ``{"bytes", "path"}`` dict."""
    if hasattr(cell, "mode") and hasattr(cell, "size"):
        return cell if cell.mode == "RGB" else cell.convert("RGB")
    if isinstance(cell, dict):
        if cell.get("bytes"):
            return _decode_image(cell["bytes"], where, base_dir)
        if cell.get("path"):
            return _decode_image(str(cell["path"]), where, base_dir)
        raise DataError(f"{where}: an image dict needs 'bytes' or 'path'")
    if isinstance(cell, bytes | bytearray | memoryview):
        return _open_bytes(bytes(cell), where)
    if isinstance(cell, str) and cell.strip():
        text = cell.strip()
        if text.startswith("data:") and "," in text:
            text = text.split(",", 1)[1]
        else:
            for path in (Path(text), *((base_dir / text,) if base_dir is not None else ())):
                try:
                    is_file = path.expanduser().is_file()
                except OSError:  # a long base64 string is no valid file name
                    is_file = False
                if is_file:
                    try:
                        return load_image(str(path))
                    except DataError as exc:
                        raise DataError(f"{where}: {exc}") from None
            if Path(text).suffix.lower() in _PATH_SUFFIXES:
                raise DataFileNotFound(f"{where}: image file not found: {text}")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise DataError(
                f"{where}: {cell[:60]!r} is neither an image file nor base64-encoded image data"
            ) from None
        return _open_bytes(data, where)
    raise DataError(f"{where}: not an image (got {type(cell).__name__})")


def _single_image(cell: Any) -> tuple[bool, Any]:
    """(usable, image cell): a list-valued cell is usable only with exactly one element; None and a blank
    string (an empty CSV cell) hold no image."""
    if isinstance(cell, list | tuple):
        return (True, cell[0]) if len(cell) == 1 else (False, None)
    empty = cell is None or (isinstance(cell, str) and not cell.strip())
    return not empty, cell


def _table_rows(source: str, split: str | None) -> tuple[list[dict], str, Path | None]:
    """(rows, id prefix, folder for relative image paths) of a local table or a hub data set."""
    path = Path(source).expanduser()
    if source.startswith("hf:") or (not path.exists() and _HUB_ID.fullmatch(source)):
        hub = source.removeprefix("hf:")
        return load_records(f"hf:{hub}", split=split), hub.split(":")[0].rsplit("/", 1)[-1], None
    if not path.exists():
        raise DataFileNotFound(f"{source}: image source not found")
    return load_records(path), path.stem, path.parent


def _select(entries: list, limit: int | None, selection: str, seed: int) -> list:
    if limit is None or limit >= len(entries):
        return entries
    if selection == "first":
        return entries[:limit]
    keep = sorted(random.Random(seed).sample(range(len(entries)), limit))
    return [entries[i] for i in keep]


def load_images(
    source: str | Path,
    *,
    column: str = "images",
    split: str = "train",
    limit: int | None = None,
    selection: str = "first",
    seed: int = 0,
) -> list[dict]:
    """Unlabelled images ``{"image_id", "image"}`` (PIL, RGB) from ``source``, in source order.

    ``source`` is ``"sample"`` / ``"sample:train"`` / ``"sample:eval"`` (the bundled sample); a directory of
    png/jpg files (id = file stem, sorted by name); a jsonl/parquet/csv file whose ``column`` holds a path,
    bytes, base64 text or ``{"bytes": ...}``; or a hub data set, ``hf:<id>`` or a bare ``owner/name`` that is
    not a local path (its ``split``). A table's image id is its ``image_id`` or ``id`` column, else
    ``f"{name}-{row}"``. A list-valued cell uses its single element; rows with zero or several images are
    skipped and their number logged. ``limit`` images are kept: the first ones (``selection="first"``) or
    ``random.Random(seed).sample`` of them in source order (``"random"``); only those are decoded.

    Errors: a missing path is :class:`rlcore.data.DataFileNotFound`; a table without ``column``, an image
    that cannot be decoded (naming its id) or a source without any usable image is a
    :class:`rlcore.data.DataError`; a bad ``selection`` or ``limit < 0`` is a ``ValueError``.
    """
    if selection not in IMAGE_SELECTIONS:
        raise ValueError(f"selection must be one of {IMAGE_SELECTIONS}, got {selection!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    text = str(source)
    base_dir: Path | None = None
    skipped = 0
    if text in ("sample", "sample:train", "sample:eval"):
        split_name = "eval" if text == "sample:eval" else "train"
        entries = [(item["image_id"], item["image"]) for item in load_sample(split_name)]
    elif Path(text).expanduser().is_dir():
        folder = Path(text).expanduser()
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
        entries = [(p.stem, str(p)) for p in files]
    else:
        rows, prefix, base_dir = _table_rows(text, split)
        if rows and not any(column in row for row in rows):
            raise DataError(f"{text}: no column {column!r} (columns: {', '.join(map(str, rows[0]))})")
        entries = []
        for index, row in enumerate(rows):
            usable, cell = _single_image(row.get(column))
            if not usable:
                skipped += 1
                continue
            image_id = row.get("image_id", row.get("id"))
            entries.append((f"{prefix}-{index}" if image_id is None else str(image_id), cell))
        if skipped:
            logger.warning("%s: skipped %d rows with zero or several images in %r", text, skipped, column)
    if not entries:
        raise DataError(f"{text}: no usable images" + (f" ({skipped} rows skipped)" if skipped else ""))
    return [
        {"image_id": image_id, "image": _decode_image(cell, f"{text}: image {image_id!r}", base_dir)}
        for image_id, cell in _select(entries, limit, selection, seed)
    ]


# ------------------------------------------------------------------------------------------ benchmarks


@dataclass(frozen=True)
class BenchmarkSource:
    """Where one evaluation benchmark lives: a hub data set and, for the pooled ``MLLM_test`` set, the value
    of its ``file_name`` column that selects the benchmark's rows."""

    hub_id: str
    file_name: str | None = None


BENCHMARKS: dict[str, BenchmarkSource] = {
    "mmmu": BenchmarkSource("zli12321/MMMU"),
    "mm-vet": BenchmarkSource("zli12321/MLLM_test", "mm-vet"),
    "realworldqa": BenchmarkSource("zli12321/MLLM_test", "realWorldQA"),
    "mathverse": BenchmarkSource("zli12321/MLLM_test", "mathverse"),
    "math-vision": BenchmarkSource("zli12321/MLLM_test", "mathvision"),
    "visnumbench": BenchmarkSource("zli12321/visnumbench"),
    "hallusionbench": BenchmarkSource("zli12321/hallusionbench"),
}
"""The paper's seven benchmarks (spec §5): split ``test``, columns ``problem``, ``answer``, ``images``."""


def load_benchmark(
    name: str,
    *,
    split: str = "test",
    limit: int | None = None,
    question_column: str = "problem",
    answer_column: str = "answer",
    image_column: str = "images",
) -> list[dict]:
    """Evaluation records ``{"id", "image", "question", "answer", "subset"}``, the first ``limit`` of them.

    ``name`` is one of :data:`BENCHMARKS` (its hub set, ``split``, filtered on ``file_name`` where the table
    says so), ``"sample"`` (the bundled eval split; subset = the image kind) or a local jsonl/parquet/csv file
    (subset = its stem). Rows without exactly one image are skipped. The column names can be overridden.
    An unknown name, a missing column or an undecodable image (naming its id) is a
    :class:`rlcore.data.DataError`, and a name that looks like a file path (a ``/`` or a table suffix) but
    names no file a :class:`rlcore.data.DataFileNotFound`; ``limit < 0`` is a ``ValueError``.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if name == "sample":
        records = [
            {
                "id": item["image_id"],
                "image": item["image"],
                "question": item["question"],
                "answer": item["answer"],
                "subset": item["kind"],
            }
            for item in load_sample("eval")
        ]
        return records if limit is None else records[:limit]
    base_dir: Path | None = None
    if name in BENCHMARKS:
        spec = BENCHMARKS[name]
        rows = load_records(f"hf:{spec.hub_id}", split=split)
        if spec.file_name is not None:
            rows = [row for row in rows if row.get("file_name") == spec.file_name]
        subset = name
    elif Path(name).expanduser().is_file():
        path = Path(name).expanduser()
        rows, subset, base_dir = load_records(path), path.stem, path.parent
    elif "/" in name or Path(name).suffix.lower() in _TABLE_SUFFIXES:
        raise DataFileNotFound(f"{name}: benchmark file not found")
    else:
        known = ", ".join([*BENCHMARKS, "sample"])
        raise DataError(f"{name}: unknown benchmark; known: {known}, or a local jsonl/parquet/csv file")
    for column in (question_column, answer_column, image_column):
        if rows and column not in rows[0]:
            raise DataError(f"{name}: no column {column!r} (columns: {', '.join(map(str, rows[0]))})")
    records = []
    for index, row in enumerate(rows):
        if limit is not None and len(records) >= limit:
            break
        usable, cell = _single_image(row.get(image_column))
        if not usable:
            continue
        record_id = f"{subset}-{index}"
        answer = row.get(answer_column)
        records.append(
            {
                "id": record_id,
                "image": _decode_image(cell, f"{name}: image {record_id!r}", base_dir),
                "question": row.get(question_column),
                "answer": None if answer is None else str(answer),
                "subset": subset,
            }
        )
    return records
