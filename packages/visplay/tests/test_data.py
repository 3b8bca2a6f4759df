"""Procedural sample data, image sources and benchmarks (spec §2.7, §5, §8 "Sample data", §10).

The hub is never reached: hub sources are checked through a stand-in for ``rlcore.data.load_records``.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from rlcore.data import DataError, DataFileNotFound
from visplay import data
from visplay.data import (
    BENCHMARKS,
    KINDS,
    PALETTE,
    SAMPLE_SEED,
    BenchmarkSource,
    load_benchmark,
    load_images,
    load_sample,
    make_sample_images,
)

WHITE = (255, 255, 255)
TRIPLES = {(3, 4, 5), (5, 12, 13), (6, 8, 10), (8, 15, 17), (7, 24, 25), (9, 12, 15), (12, 16, 20)}


@pytest.fixture(scope="module")
def samples() -> list[dict]:
    """Both bundled splits and a small-size run: every kind at two sizes."""
    return load_sample("train") + load_sample("eval") + make_sample_images(12, seed=7, size=64)


def of_kind(items: list[dict], kind: str) -> list[dict]:
    return [item for item in items if item["kind"] == kind]


# ------------------------------------------------------------------------------------------ generator


def test_constants() -> None:
    assert SAMPLE_SEED == 20251119
    assert KINDS == ("shapes", "bars", "geometry")
    assert PALETTE == {
        "red": (230, 25, 75),
        "green": (60, 180, 75),
        "blue": (0, 130, 200),
        "yellow": (255, 225, 25),
        "purple": (145, 30, 180),
        "orange": (245, 130, 48),
    }


def test_data_module_is_not_shadowed_by_the_data_folder() -> None:
    assert Path(data.__file__).name == "data.py"
    folder = Path(data.__file__).parent / "data"
    assert (folder / "README.md").is_file() and not (folder / "__init__.py").exists()


def test_items_cycle_kinds_with_ids_and_fields() -> None:
    items = make_sample_images(7, seed=5, size=80)
    assert [item["kind"] for item in items] == [KINDS[i % 3] for i in range(7)]
    assert [item["image_id"] for item in items] == [f"{KINDS[i % 3]}-5-{i:03d}" for i in range(7)]
    for item in items:
        assert set(item) == {"image_id", "image", "kind", "question", "type", "answer", "meta"}
        assert item["image"].mode == "RGB" and item["image"].size == (80, 80)
        assert (
            item["type"]
            == {"shapes": "numerical", "bars": "multiple choice", "geometry": "numerical"}[item["kind"]]
        )
    only_bars = make_sample_images(2, kinds=("bars",))
    assert [item["kind"] for item in only_bars] == ["bars", "bars"]
    assert make_sample_images(0) == []


def test_determinism() -> None:
    first, second = make_sample_images(9, seed=11), make_sample_images(9, seed=11)
    for a, b in zip(first, second, strict=True):
        assert a["image"].tobytes() == b["image"].tobytes()
        assert {k: v for k, v in a.items() if k != "image"} == {k: v for k, v in b.items() if k != "image"}
    other = make_sample_images(9, seed=12)
    assert [a["meta"] for a in first] != [b["meta"] for b in other]


def test_pinned_first_items_of_the_train_split() -> None:
    """Questions, answers and meta depend on the seed alone (Python's ``random.Random``), on any machine."""
    first = load_sample("train")[:3]
    assert first[0]["answer"] == "1" and first[0]["meta"]["query_color"] == "blue"
    assert first[0]["meta"]["shapes"][0] == {"shape": "triangle", "color": "red", "bbox": [15, 81, 32, 98]}
    assert first[1]["meta"] == {"labels": ["A", "B", "C"], "values": [7, 8, 3]} and first[1]["answer"] == "B"
    assert first[2]["meta"] == {"legs": [5, 12], "hypotenuse": 13} and first[2]["answer"] == "13"


def test_load_sample_splits() -> None:
    train, evaluation = load_sample(), load_sample("eval")
    assert len(train) == len(evaluation) == 24
    assert train[0]["image_id"] == f"shapes-{SAMPLE_SEED}-000"
    assert evaluation[0]["image_id"] == f"shapes-{SAMPLE_SEED + 1}-000"
    assert [i["meta"] for i in train] == [i["meta"] for i in make_sample_images(24, seed=SAMPLE_SEED)]
    with pytest.raises(ValueError, match="split"):
        load_sample("test")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": -1}, "n"),
        ({"size": 63}, "size"),
        ({"kinds": ("shapes", "maps")}, "maps"),
        ({"kinds": ()}, "kind"),
    ],
)
def test_generator_errors(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        make_sample_images(**kwargs)


def test_shapes_meta_answer_and_pixels(samples) -> None:
    for item in of_kind(samples, "shapes"):
        image, meta = item["image"], item["meta"]
        size = image.size[0]
        shapes = meta["shapes"]
        assert 1 <= len(shapes) <= 6
        colors = [s["color"] for s in shapes]
        assert meta["query_color"] in colors
        assert item["answer"] == str(colors.count(meta["query_color"]))
        assert item["question"] == f"How many {meta['query_color']} shapes are there in the image?"
        for j, shape in enumerate(shapes):
            assert shape["shape"] in ("circle", "square", "triangle") and shape["color"] in PALETTE
            x0, y0, x1, y1 = shape["bbox"]
            side = x1 - x0 + 1
            assert y1 - y0 + 1 == side and size // 8 <= side <= size // 4
            assert x0 >= 0 and y0 >= 0 and x1 < size and y1 < size
            # The bbox centre pixel has the shape's colour.
            assert image.getpixel(((x0 + x1) // 2, (y0 + y1) // 2)) == PALETTE[shape["color"]]
            for other in shapes[:j]:
                a0, b0, a1, b1 = other["bbox"]
                assert x0 > a1 + 1 or a0 > x1 + 1 or y0 > b1 + 1 or b0 > y1 + 1  # one pixel of gap
        # Every coloured pixel lies inside a bbox and has that shape's colour: nothing else is drawn.
        pixels = image.load()
        for y in range(size):
            for x in range(size):
                if pixels[x, y] == WHITE:
                    continue
                owners = [
                    s
                    for s in shapes
                    if s["bbox"][0] <= x <= s["bbox"][2] and s["bbox"][1] <= y <= s["bbox"][3]
                ]
                assert len(owners) == 1 and pixels[x, y] == PALETTE[owners[0]["color"]]
        # A square fills its bbox; a circle and a triangle leave its corners white.
        for shape in shapes:
            x0, y0, x1, y1 = shape["bbox"]
            corner = pixels[x0, y0]
            assert (corner == PALETTE[shape["color"]]) == (shape["shape"] == "square")
            if shape["shape"] == "triangle":
                # Apex at the top middle, base along the whole bottom edge of the bbox.
                color = PALETTE[shape["color"]]
                assert pixels[(x0 + x1) // 2, y0] == color
                assert all(pixels[x, y1] == color for x in range(x0, x1 + 1))


def bar_heights(image: Image.Image) -> tuple[list[int], list[tuple[int, int, int]]]:
    """Measure the bars from the pixels: the baseline is the row with the most black pixels; each run of
    coloured pixels just above it is a bar, whose height is counted upwards at the run's centre."""
    width, height = image.size
    pixels = image.load()
    baseline = max(range(height), key=lambda y: sum(pixels[x, y] == (0, 0, 0) for x in range(width)))
    row = [pixels[x, baseline - 1] != WHITE for x in range(width)]
    runs, start = [], None
    for x, filled in enumerate([*row, False]):
        if filled and start is None:
            start = x
        elif not filled and start is not None:
            runs.append((start, x - 1))
            start = None
    heights, colors = [], []
    for a, b in runs:
        x = (a + b) // 2
        y = baseline - 1
        while y >= 0 and pixels[x, y] == pixels[x, baseline - 1]:
            y -= 1
        heights.append(baseline - 1 - y)
        colors.append(pixels[x, baseline - 1])
    return heights, colors


def test_bars_meta_answer_and_pixels(samples) -> None:
    for item in of_kind(samples, "bars"):
        labels, values = item["meta"]["labels"], item["meta"]["values"]
        assert set(item["meta"]) == {"labels", "values"}
        assert 3 <= len(values) <= 5 and labels == [chr(ord("A") + j) for j in range(len(values))]
        assert all(1 <= v <= 9 for v in values) and values.count(max(values)) == 1
        assert item["answer"] == labels[values.index(max(values))]
        assert item["question"] == "Which bar is the tallest? Answer with its letter."
        heights, colors = bar_heights(item["image"])
        assert len(heights) == len(values)
        assert all(color in PALETTE.values() for color in colors)
        # Heights are proportional to the values, so they are ordered as the values.
        unit = heights[0] / values[0]
        assert all(h == pytest.approx(v * unit) for h, v in zip(heights, values, strict=True))
        assert heights.index(max(heights)) == labels.index(item["answer"])


def test_geometry_meta_answer_and_pixels(samples) -> None:
    blue = PALETTE["blue"]
    for item in of_kind(samples, "geometry"):
        (a, b), c = item["meta"]["legs"], item["meta"]["hypotenuse"]
        assert (min(a, b), max(a, b), c) in TRIPLES and a * a + b * b == c * c
        assert item["answer"] == str(c) and "hypotenuse" in item["question"]
        image = item["image"]
        pixels = image.load()
        size = image.size[0]
        outline = [(x, y) for y in range(size) for x in range(size) if pixels[x, y] == blue]
        xs, ys = [x for x, _ in outline], [y for _, y in outline]
        width, height = max(xs) - min(xs), max(ys) - min(ys)
        # Leg a runs along the bottom, leg b up the left side: the outline's extent has their ratio.
        assert width / height == pytest.approx(a / b, rel=0.05)
        # The right angle sits at the bottom-left corner; the top-right corner is empty.
        assert pixels[min(xs), max(ys)] == blue and pixels[max(xs), min(ys)] == WHITE
        # The two leg labels are drawn (black or grey text pixels outside the triangle).
        assert any(pixels[x, y] not in (WHITE, blue) for y in range(size) for x in range(size))


# ------------------------------------------------------------------------------------------ load_images


def png_bytes(color: tuple[int, int, int], size: int = 8, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (size, size), color if mode == "RGB" else color[0]).save(buffer, format="PNG")
    return buffer.getvalue()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_load_images_sample() -> None:
    items = load_images("sample")
    assert [i["image_id"] for i in items] == [i["image_id"] for i in load_sample("train")]
    assert set(items[0]) == {"image_id", "image"}
    assert load_images("sample:eval")[0]["image_id"] == f"shapes-{SAMPLE_SEED + 1}-000"
    assert [i["image_id"] for i in load_images("sample", limit=3)] == [i["image_id"] for i in items[:3]]


def test_load_images_random_selection_is_seeded_and_ordered() -> None:
    ids = [i["image_id"] for i in load_images("sample")]
    chosen = [i["image_id"] for i in load_images("sample", limit=5, selection="random", seed=1)]
    again = [i["image_id"] for i in load_images("sample", limit=5, selection="random", seed=1)]
    other = [i["image_id"] for i in load_images("sample", limit=5, selection="random", seed=2)]
    assert chosen == again and chosen != other and len(chosen) == 5
    assert chosen == sorted(chosen, key=ids.index)
    assert load_images("sample", limit=0) == []


def test_load_images_directory(tmp_path) -> None:
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "b.png")
    Image.new("L", (8, 8), 200).save(tmp_path / "a.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    items = load_images(tmp_path)
    assert [i["image_id"] for i in items] == ["a", "b"]
    assert all(i["image"].mode == "RGB" for i in items)
    assert items[1]["image"].getpixel((0, 0)) == (1, 2, 3)


def test_load_images_directory_undecodable_names_the_id(tmp_path) -> None:
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken"):
        load_images(tmp_path)


def test_load_images_jsonl_paths_base64_and_lists(tmp_path, caplog) -> None:
    (tmp_path / "pics").mkdir()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "pics" / "one.png")
    encoded = base64.b64encode(png_bytes((40, 50, 60))).decode()
    rows = [
        {"images": "pics/one.png", "id": "p"},  # relative to the data file
        {"images": [encoded]},  # a list with one base64 image
        {"images": []},  # zero images: skipped
        {"images": [encoded, encoded]},  # two images: skipped
        {"images": None},  # none: skipped
        {"images": f"data:image/png;base64,{encoded}", "image_id": 99},
        {"images": str(tmp_path / "pics" / "one.png")},  # absolute
    ]
    source = write_jsonl(tmp_path / "train.jsonl", rows)
    with caplog.at_level(logging.WARNING, logger="visplay.data"):
        items = load_images(source)
    assert [i["image_id"] for i in items] == ["p", "train-1", "99", "train-6"]
    assert [i["image"].getpixel((0, 0)) for i in items] == [
        (10, 20, 30),
        (40, 50, 60),
        (40, 50, 60),
        (10, 20, 30),
    ]
    assert "skipped 3 rows" in caplog.text


def test_load_images_parquet_bytes_cells(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    red, grey = png_bytes((255, 0, 0)), png_bytes((128, 0, 0), mode="L")
    table = pa.table(
        {
            "images": [
                [{"bytes": red, "path": None}],
                [],
                [{"bytes": grey, "path": None}],
                [{"bytes": red, "path": None}] * 2,
            ],
            "problem": ["a", "b", "c", "d"],
        }
    )
    pq.write_table(table, tmp_path / "set.parquet")
    items = load_images(tmp_path / "set.parquet")
    assert [i["image_id"] for i in items] == ["set-0", "set-2"]
    assert items[0]["image"].getpixel((0, 0)) == (255, 0, 0) and items[1]["image"].mode == "RGB"
    assert [i["image_id"] for i in load_images(tmp_path / "set.parquet", limit=1)] == ["set-0"]


def test_load_images_csv_and_custom_column(tmp_path) -> None:
    Image.new("RGB", (8, 8), (5, 5, 5)).save(tmp_path / "x.png")
    (tmp_path / "list.csv").write_text("id,picture\nfirst,x.png\nsecond,\n", encoding="utf-8")
    items = load_images(tmp_path / "list.csv", column="picture")
    assert [i["image_id"] for i in items] == ["first"] and items[0]["image"].getpixel((1, 1)) == (5, 5, 5)


def test_load_images_undecodable_cell_names_the_id(tmp_path) -> None:
    bad_b64 = base64.b64encode(b"definitely not an image").decode()
    source = write_jsonl(tmp_path / "bad.jsonl", [{"images": bad_b64, "id": "img-7"}])
    with pytest.raises(DataError, match="img-7"):
        load_images(source)
    source = write_jsonl(tmp_path / "bad2.jsonl", [{"images": "missing/file.png", "id": "img-8"}])
    with pytest.raises(DataFileNotFound, match="img-8.*missing/file.png"):
        load_images(source)
    source = write_jsonl(tmp_path / "bad4.jsonl", [{"images": "no such image", "id": "img-10"}])
    with pytest.raises(DataError, match="img-10.*neither an image file nor base64"):
        load_images(source)
    source = write_jsonl(tmp_path / "bad3.jsonl", [{"images": 12, "id": "img-9"}])
    with pytest.raises(DataError, match="img-9"):
        load_images(source)


def test_load_images_errors(tmp_path) -> None:
    with pytest.raises(DataFileNotFound, match=f"^{tmp_path / 'nope.jsonl'}: image source not found"):
        load_images(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="'images'"):
        load_images(write_jsonl(tmp_path / "cols.jsonl", [{"picture": "x.png"}]))
    with pytest.raises(DataError, match="no usable images"):
        load_images(write_jsonl(tmp_path / "empty.jsonl", [{"images": []}, {"images": None}]))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(DataError, match="no usable images"):
        load_images(tmp_path / "empty_dir")
    with pytest.raises(ValueError, match="selection"):
        load_images("sample", selection="last")
    with pytest.raises(ValueError, match="limit"):
        load_images("sample", limit=-1)


@pytest.mark.parametrize(
    ("source", "expected"), [("owner/name", "hf:owner/name"), ("hf:owner/name", "hf:owner/name")]
)
def test_load_images_hub_sources_go_through_load_records(monkeypatch, source, expected) -> None:
    calls = []
    red = Image.new("RGB", (4, 4), (255, 0, 0))

    def fake_load_records(src, *, split=None, limit=None):
        calls.append((src, split))
        return [{"images": [red], "problem": "discarded"}, {"images": [red, red]}]

    monkeypatch.setattr(data, "load_records", fake_load_records)
    items = load_images(source, split="train")
    assert calls == [(expected, "train")]
    assert [i["image_id"] for i in items] == ["name-0"] and items[0]["image"] is red


# ------------------------------------------------------------------------------------------ benchmarks


def test_benchmark_table() -> None:
    assert {
        "mmmu": BenchmarkSource("zli12321/MMMU"),
        "mm-vet": BenchmarkSource("zli12321/MLLM_test", "mm-vet"),
        "realworldqa": BenchmarkSource("zli12321/MLLM_test", "realWorldQA"),
        "mathverse": BenchmarkSource("zli12321/MLLM_test", "mathverse"),
        "math-vision": BenchmarkSource("zli12321/MLLM_test", "mathvision"),
        "visnumbench": BenchmarkSource("zli12321/visnumbench"),
        "hallusionbench": BenchmarkSource("zli12321/hallusionbench"),
    } == BENCHMARKS


def test_sample_benchmark() -> None:
    records = load_benchmark("sample")
    assert len(records) == 24
    assert set(records[0]) == {"id", "image", "question", "answer", "subset"}
    assert [r["subset"] for r in records[:3]] == list(KINDS)
    evaluation = load_sample("eval")
    assert [(r["id"], r["question"], r["answer"]) for r in records] == [
        (i["image_id"], i["question"], i["answer"]) for i in evaluation
    ]
    assert len(load_benchmark("sample", limit=5)) == 5


def test_hub_benchmark_filters_file_name_and_skips_multi_image_rows(monkeypatch) -> None:
    img = Image.new("RGB", (4, 4), (0, 0, 255))
    rows = [
        {"file_name": "mathverse", "problem": "p0", "answer": 3, "images": [img]},
        {"file_name": "mm-vet", "problem": "p1", "answer": "x", "images": [img]},
        {"file_name": "mathverse", "problem": "p2", "answer": "B", "images": [img, img]},
        {"file_name": "mathverse", "problem": "p3", "answer": "C", "images": [img]},
    ]
    calls = []

    def fake_load_records(src, *, split=None, limit=None):
        calls.append((src, split))
        return rows

    monkeypatch.setattr(data, "load_records", fake_load_records)
    records = load_benchmark("mathverse")
    assert calls == [("hf:zli12321/MLLM_test", "test")]
    assert [(r["id"], r["question"], r["answer"], r["subset"]) for r in records] == [
        ("mathverse-0", "p0", "3", "mathverse"),
        ("mathverse-2", "p3", "C", "mathverse"),
    ]
    assert records[0]["image"] is img
    assert len(load_benchmark("mathverse", limit=1, split="validation")) == 1
    assert calls[-1] == ("hf:zli12321/MLLM_test", "validation")
    # A benchmark without a file_name filter keeps every single-image row.
    assert len(load_benchmark("mmmu")) == 3 and calls[-1][0] == "hf:zli12321/MMMU"


def test_local_benchmark_file(tmp_path) -> None:
    encoded = base64.b64encode(png_bytes((9, 9, 9))).decode()
    path = write_jsonl(
        tmp_path / "mine.jsonl",
        [
            {"problem": "Q1", "answer": "A", "images": [encoded]},
            {"problem": "Q2", "answer": "B", "images": []},
        ],
    )
    records = load_benchmark(str(path))
    assert [(r["id"], r["question"], r["answer"], r["subset"]) for r in records] == [
        ("mine-0", "Q1", "A", "mine")
    ]
    assert records[0]["image"].getpixel((0, 0)) == (9, 9, 9)
    renamed = write_jsonl(tmp_path / "renamed.jsonl", [{"q": "Q", "a": "1", "img": encoded}])
    custom = load_benchmark(str(renamed), question_column="q", answer_column="a", image_column="img")
    assert custom[0]["question"] == "Q" and custom[0]["answer"] == "1"


def test_benchmark_errors(tmp_path) -> None:
    with pytest.raises(DataError, match="^mmlu: unknown benchmark; known: mmmu, "):
        load_benchmark("mmlu")
    for missing in (str(tmp_path / "nope.jsonl"), "sets/nope", "nope.parquet"):
        with pytest.raises(DataFileNotFound, match=f"^{missing}: benchmark file not found"):
            load_benchmark(missing)
    path = write_jsonl(tmp_path / "cols.jsonl", [{"question": "Q", "answer": "A", "images": []}])
    with pytest.raises(DataError, match="'problem'"):
        load_benchmark(str(path))
    bad = write_jsonl(
        tmp_path / "bad.jsonl", [{"problem": "Q", "answer": "A", "images": ["bm90IGFuIGltYWdl"]}]
    )
    with pytest.raises(DataError, match="bad-0"):
        load_benchmark(str(bad))
    with pytest.raises(ValueError, match="limit"):
        load_benchmark("sample", limit=-1)
