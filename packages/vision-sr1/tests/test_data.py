"""Shapes scenes, questions, cold-start targets, the bundled sample and the loaders (spec sections 2.5 and 5)."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from vision_sr1 import data as data_module
from vision_sr1.data import (
    BACKGROUND,
    BUNDLED_DIR,
    COLOURS,
    KINDS,
    SHAPES,
    Scene,
    SceneObject,
    bundled_records,
    describe_scene,
    generate_scene,
    load_rl_records,
    load_sft_records,
    make_cold_start_records,
    make_shapes_records,
    render_scene,
    write_bundled_data,
    write_records,
)
from vision_sr1.prompts import first_pass_messages, reprompt_messages
from vision_sr1.rewards import answer_score, format_score, normalize_tags


def _scene(*objects: tuple, size: int = 64) -> Scene:
    return Scene(size, size, tuple(SceneObject(*o) for o in objects))


# -- constants and scenes ----------------------------------------------------------------------------


def test_constants():
    assert SHAPES == ("circle", "square", "triangle")
    assert BACKGROUND == (255, 255, 255)
    assert KINDS == ("count", "total", "colour", "shape")
    assert COLOURS == {
        "red": (230, 25, 75),
        "green": (60, 180, 75),
        "blue": (0, 130, 200),
        "yellow": (255, 225, 25),
        "purple": (145, 30, 180),
        "orange": (245, 130, 48),
    }


def test_scene_dict_round_trip():
    scene = _scene(("circle", "red", 10, 12, 5), ("triangle", "orange", 40, 30, 6))
    as_dict = scene.to_dict()
    assert as_dict == {
        "width": 64,
        "height": 64,
        "objects": [
            {"shape": "circle", "colour": "red", "x": 10, "y": 12, "size": 5},
            {"shape": "triangle", "colour": "orange", "x": 40, "y": 30, "size": 6},
        ],
    }
    assert Scene.from_dict(json.loads(json.dumps(as_dict))) == scene


def _check_scene_rules(scene: Scene, max_objects: int = 5) -> None:
    assert 1 <= len(scene.objects) <= max_objects
    for obj in scene.objects:
        assert obj.shape in SHAPES and obj.colour in COLOURS
        assert obj.size >= 4
        assert obj.x - obj.size >= 0 and obj.x + obj.size <= scene.width - 1
        assert obj.y - obj.size >= 0 and obj.y + obj.size <= scene.height - 1
    for i, a in enumerate(scene.objects):
        for b in scene.objects[i + 1 :]:
            reach = a.size + b.size + 2
            assert abs(a.x - b.x) >= reach or abs(a.y - b.y) >= reach


@pytest.mark.parametrize(("width", "height"), [(112, 112), (56, 56), (32, 32), (80, 40)])
def test_generate_scene_follows_the_rules(width, height):
    counts = Counter()
    for seed in range(150):
        scene = generate_scene(seed, width=width, height=height)
        assert (scene.width, scene.height) == (width, height)
        _check_scene_rules(scene)
        counts[len(scene.objects)] += 1
    assert len(counts) >= 2  # object counts vary


def test_generate_scene_is_deterministic_and_respects_bounds():
    assert generate_scene(7) == generate_scene(7)
    assert generate_scene(7) != generate_scene(8)
    for seed in range(30):
        assert len(generate_scene(seed, min_objects=2, max_objects=2).objects) == 2
        assert len(generate_scene(seed, min_objects=1, max_objects=1).objects) == 1


def test_generate_scene_drops_unplaceable_objects_but_keeps_one():
    # A 9x9 canvas holds exactly one object of size 4: the others never fit and are dropped.
    for seed in range(10):
        scene = generate_scene(seed, width=9, height=9, min_objects=3, max_objects=3)
        assert len(scene.objects) == 1 and scene.objects[0].size == 4


@pytest.mark.parametrize(
    "kwargs", [{"width": 8}, {"height": 5}, {"min_objects": 0}, {"min_objects": 3, "max_objects": 2}]
)
def test_generate_scene_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        generate_scene(0, **kwargs)


# -- rendering ---------------------------------------------------------------------------------------


def test_render_known_shapes_pixel_exact():
    scene = _scene(
        ("square", "red", 10, 10, 4), ("circle", "blue", 40, 12, 6), ("triangle", "green", 20, 40, 8)
    )
    image = render_scene(scene)
    assert image.mode == "RGB" and image.size == (64, 64)
    px = image.load()
    red, blue, green = COLOURS["red"], COLOURS["blue"], COLOURS["green"]
    # square: [x-s, x+s] inclusive, nothing outside
    assert all(px[x, y] == red for x in range(6, 15) for y in range(6, 15))
    assert px[5, 10] == px[15, 10] == px[10, 5] == px[10, 15] == BACKGROUND
    # circle: inscribed disc, the box corners stay white
    assert px[40, 12] == px[34, 12] == px[46, 12] == px[40, 6] == px[40, 18] == blue
    assert px[34, 6] == px[46, 6] == px[34, 18] == px[46, 18] == BACKGROUND
    # triangle: apex up, base along y + s
    assert px[20, 40] == px[20, 32] == px[12, 48] == px[28, 48] == green
    assert px[12, 32] == px[28, 32] == BACKGROUND


def test_render_no_antialiasing_and_no_overlap():
    for seed in range(40):
        scene = generate_scene(seed, width=56, height=56)
        image = render_scene(scene)
        px = image.load()
        assert {c for _, c in image.getcolors(56 * 56)} <= {BACKGROUND, *COLOURS.values()}
        for obj in scene.objects:
            assert px[obj.x, obj.y] == COLOURS[obj.colour]  # the centre pixel has the object's colour
        # every coloured pixel lies in exactly one object's box and has that object's colour
        for x in range(56):
            for y in range(56):
                if px[x, y] == BACKGROUND:
                    continue
                owners = [o for o in scene.objects if abs(x - o.x) <= o.size and abs(y - o.y) <= o.size]
                assert len(owners) == 1 and px[x, y] == COLOURS[owners[0].colour]


def test_render_empty_scene_is_white():
    image = render_scene(Scene(40, 30, ()))
    assert image.size == (40, 30) and image.getcolors() == [(1200, BACKGROUND)]


# -- description -------------------------------------------------------------------------------------


def test_describe_scene_sorted_by_x_then_y_with_articles():
    scene = _scene(
        ("square", "orange", 30, 10, 4), ("circle", "red", 10, 50, 4), ("triangle", "blue", 30, 5, 4)
    )
    assert describe_scene(scene) == (
        "The image shows 3 objects on a white background: a red circle, a blue triangle, an orange square."
    )


def test_describe_scene_one_and_zero_objects():
    assert describe_scene(_scene(("circle", "orange", 10, 10, 4))) == (
        "The image shows 1 object on a white background: an orange circle."
    )
    assert describe_scene(Scene(56, 56, ())) == "The image shows 0 objects on a white background."


# -- shapes records ----------------------------------------------------------------------------------


def _expected_answer(problem: str, scene: Scene) -> str:
    """The answer recomputed from the scene, independently of the generator."""
    objects = scene.objects
    if problem == "How many objects are in the image?":
        return str(len(objects))
    if m := re.fullmatch(r"How many (\w+) (\w+)s are in the image\?", problem):
        return str(sum(o.colour == m[1] and o.shape == m[2] for o in objects))
    if m := re.fullmatch(r"What colour is the (\w+)\?", problem):
        matches = [o for o in objects if o.shape == m[1]]
        assert len(matches) == 1
        return matches[0].colour
    if m := re.fullmatch(r"What shape is the (\w+) object\?", problem):
        matches = [o for o in objects if o.colour == m[1]]
        assert len(matches) == 1
        return matches[0].shape
    raise AssertionError(f"unexpected problem {problem!r}")


def test_shapes_records_fields_and_answers():
    records = make_shapes_records(40, seed=3, image_size=64)
    assert [r["id"] for r in records[:3]] == ["shapes-3-00000", "shapes-3-00001", "shapes-3-00002"]
    assert [r["kind"] for r in records[:8]] == list(KINDS) * 2
    for record in records:
        assert set(record) >= {"id", "problem", "answer", "images", "kind", "scene", "description"}
        assert "<image>" not in record["problem"]
        assert isinstance(record["answer"], str) and record["answer"] == record["answer"].lower()
        (image,) = record["images"]
        assert isinstance(image, Image.Image) and image.size == (64, 64) and image.mode == "RGB"
        scene = Scene.from_dict(record["scene"])
        _check_scene_rules(scene)
        assert record["description"] == describe_scene(scene)
        assert image.tobytes() == render_scene(scene).tobytes()
        assert record["answer"] == _expected_answer(record["problem"], scene)
        if record["kind"] in ("count", "total"):
            assert record["answer"].isdecimal()


def test_count_questions_sometimes_have_answer_zero():
    answers = [r["answer"] for r in make_shapes_records(60, seed=0, kinds=("count",))]
    assert "0" in answers and any(a != "0" for a in answers)


def test_shapes_records_are_deterministic():
    a = make_shapes_records(12, seed=5, image_size=48)
    b = make_shapes_records(12, seed=5, image_size=48)
    strip = [{k: v for k, v in r.items() if k != "images"} for r in a]
    assert strip == [{k: v for k, v in r.items() if k != "images"} for r in b]
    assert [r["images"][0].tobytes() for r in a] == [r["images"][0].tobytes() for r in b]
    c = make_shapes_records(12, seed=6, image_size=48)
    assert [r["scene"] for r in a] != [r["scene"] for r in c]


def test_shapes_records_kind_selection():
    records = make_shapes_records(6, seed=1, kinds=("shape", "total"))
    assert [r["kind"] for r in records] == ["shape", "total"] * 3
    assert make_shapes_records(0) == []


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((-1,), {}, "n must be"),
        ((2,), {"kinds": ("count", "size")}, "kinds"),
        ((2,), {"kinds": ()}, "kinds"),
        ((2,), {"image_size": 31}, "image_size"),
    ],
)
def test_shapes_records_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_shapes_records(*args, **kwargs)


# -- cold start --------------------------------------------------------------------------------------


def test_cold_start_records_structure_and_targets_pass_rewards():
    source = make_shapes_records(8, seed=2, image_size=48)
    cold = make_cold_start_records(source)
    assert len(cold) == 24
    for i, record in enumerate(source):
        see, cot, text = cold[3 * i : 3 * i + 3]
        assert [c["id"] for c in (see, cot, text)] == [
            f"{record['id']}-{v}" for v in ("see_think", "cot", "text")
        ]
        assert [c["variant"] for c in (see, cot, text)] == ["see_think", "cot", "text"]
        assert see["messages"][0] == first_pass_messages(record["problem"], 1)[0]
        assert cot["messages"][0] == first_pass_messages(record["problem"], 1, style="cot")[0]
        assert text["messages"][0] == reprompt_messages(record["description"], record["problem"])[0]
        assert see["images"] == cot["images"] == record["images"] and text["images"] == []
        for example, style in ((see, "see_think"), (cot, "cot"), (text, "cot")):
            assert example["answer"] == record["answer"]
            assistant = example["messages"][1]
            assert assistant["role"] == "assistant"
            target = assistant["content"]
            assert "\n" not in target and "  " not in target
            assert format_score(target, style) == 1.0
            assert answer_score(normalize_tags(target), record["answer"]) == 1.0
            assert target.endswith(f"\\boxed{{{record['answer']}}}")
        assert see["messages"][1]["content"].startswith(
            f"<description> {record['description']} </description> <think> "
        )
        reasoning = cot["messages"][1]["content"].removeprefix("<think> ").split(" </think>")[0]
        assert "<" not in reasoning and ">" not in reasoning and "\\boxed" not in reasoning
        assert text["messages"][1]["content"] == cot["messages"][1]["content"]


def test_cold_start_variant_selection_and_errors():
    source = make_shapes_records(2, seed=0, image_size=32)
    assert [c["variant"] for c in make_cold_start_records(source, variants=("text",))] == ["text", "text"]
    with pytest.raises(ValueError, match="variants"):
        make_cold_start_records(source, variants=("see_think", "judge"))
    broken = [source[0], {k: v for k, v in source[1].items() if k != "description"}]
    with pytest.raises(ValueError, match="record 1 .*description"):
        make_cold_start_records(broken)
    with pytest.raises(ValueError, match="record 0 .*scene"):
        make_cold_start_records([{k: v for k, v in source[0].items() if k != "scene"}])


# -- writing, bundled sample -------------------------------------------------------------------------


def _png_chunks(data: bytes) -> list[str]:
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append(data[pos + 4 : pos + 8].decode("ascii"))
        pos += 12 + length
    return chunks


def test_write_records_saves_images_relative_and_round_trips(tmp_path):
    records = make_shapes_records(3, seed=4, image_size=40)
    path = write_records(records, tmp_path / "sub" / "train.jsonl")
    assert path == tmp_path / "sub" / "train.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["images"] for r in rows] == [[f"images/{r['id']}-0.png"] for r in records]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["images", "train.jsonl"]  # no temp files
    png = (tmp_path / "sub" / "images" / "shapes-4-00000-0.png").read_bytes()
    assert _png_chunks(png) == ["IHDR", "IDAT", "IEND"]  # no metadata chunks
    loaded = load_rl_records(path)
    for original, back in zip(records, loaded, strict=True):
        assert back["problem"] == original["problem"] and back["answer"] == original["answer"]
        assert Path(back["images"][0]).is_absolute()
        with Image.open(back["images"][0]) as image:
            assert image.convert("RGB").tobytes() == original["images"][0].tobytes()
    assert records[0]["images"][0].__class__.__name__ == "Image"  # the input records are not modified


def test_bundled_files_regenerate_byte_for_byte(tmp_path):
    paths = write_bundled_data(tmp_path)
    assert [p.name for p in paths] == ["train.jsonl", "eval.jsonl", "cold_start.jsonl"]
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    bundled = sorted(p.relative_to(BUNDLED_DIR) for p in BUNDLED_DIR.rglob("*") if p.is_file())
    assert bundled == sorted([*generated, Path("README.md")])
    for relative in generated:
        assert (tmp_path / relative).read_bytes() == (BUNDLED_DIR / relative).read_bytes(), relative


def test_bundled_records():
    train, evaluation, cold = bundled_records("train"), bundled_records("eval"), bundled_records("cold_start")
    assert len(train) == 48 and len(evaluation) == 16 and len(cold) == 144
    assert not {r["id"] for r in train} & {r["id"] for r in evaluation}
    assert Counter(r["kind"] for r in train) == dict.fromkeys(KINDS, 12)
    for record in train + evaluation:
        (image,) = record["images"]
        with Image.open(image) as opened:
            assert opened.size == (56, 56)
        assert record["answer"] == _expected_answer(record["problem"], Scene.from_dict(record["scene"]))
    for example in cold:
        target = example["messages"][-1]["content"]
        style = "see_think" if example["variant"] == "see_think" else "cot"
        assert format_score(target, style) == 1.0
        assert answer_score(normalize_tags(target), example["answer"]) == 1.0
        assert all(Path(p).is_file() for p in example["images"])
    with pytest.raises(ValueError, match="split"):
        bundled_records("test")
    assert (BUNDLED_DIR / "README.md").read_text(encoding="utf-8").count(
        "python -m vision_sr1.data --regenerate"
    ) == 1


def test_regenerate_entry_point(tmp_path, capsys):
    assert data_module.main(["--regenerate", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [
        str(tmp_path / n) for n in ("train.jsonl", "eval.jsonl", "cold_start.jsonl")
    ]
    assert data_module.main([]) == 2


# -- load_rl_records ---------------------------------------------------------------------------------


def _write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (1, 2, 3)).save(path)
    return path


def test_load_rl_records_columns_paths_and_limit(tmp_path):
    _png(tmp_path / "img" / "a.png")
    path = _write_lines(
        tmp_path / "rl.jsonl",
        json.dumps({"question": "<image>How many?", "gold": 3, "image": "img/a.png", "source": "x"}),
        json.dumps({"question": "Text only?", "gold": "yes"}),
        json.dumps({"question": "Null answer", "gold": None, "image": ["img/a.png", "img/a.png"]}),
    )
    records = load_rl_records(path, problem_key="question", answer_key="gold", image_key="image")
    assert records[0] == {
        "source": "x",
        "problem": "<image>How many?",
        "answer": "3",
        "images": [str(tmp_path / "img" / "a.png")],
    }
    assert records[1] == {"problem": "Text only?", "answer": "yes", "images": []}
    assert records[2]["answer"] == "" and len(records[2]["images"]) == 2
    assert (
        len(load_rl_records(str(path), problem_key="question", answer_key="gold", image_key="image", limit=1))
        == 1
    )


def test_load_rl_records_parquet_image_bytes_pass_through(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    png = _png(tmp_path / "a.png").read_bytes()
    table = pa.Table.from_pylist([{"problem": "Q", "answer": "1", "images": [{"bytes": png, "path": None}]}])
    pq.write_table(table, tmp_path / "rl.parquet")
    (record,) = load_rl_records(tmp_path / "rl.parquet")
    assert record["images"] == [png]


def test_load_rl_records_hub_ids_go_to_rlcore(monkeypatch):
    calls = []

    def fake_load_records(source, *, split=None, limit=None):
        calls.append((source, split, limit))
        return [{"problem": "Q", "answer": "A"}]

    monkeypatch.setattr(data_module, "load_records", fake_load_records)
    assert load_rl_records("LMMs-Lab-Turtle/Vision-SR1-47K", limit=5) == [
        {"problem": "Q", "answer": "A", "images": []}
    ]
    load_rl_records("hf:zli12321/mmstar", split="test")
    assert calls == [("hf:LMMs-Lab-Turtle/Vision-SR1-47K", "train", 5), ("hf:zli12321/mmstar", "test", None)]


def test_load_rl_records_missing_path(tmp_path):
    for missing in (tmp_path / "nope.jsonl", str(tmp_path / "nope.parquet"), tmp_path / "no_suffix"):
        with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
            load_rl_records(missing)


def test_load_rl_records_missing_column_names_record_and_column(tmp_path):
    path = _write_lines(
        tmp_path / "rl.jsonl", json.dumps({"problem": "a", "answer": "1"}), json.dumps({"problem": "b"})
    )
    with pytest.raises(ValueError, match=r"record 1 has no column 'answer'.*--answer-key"):
        load_rl_records(path)
    with pytest.raises(ValueError, match=r"record 0 has no column 'question'"):
        load_rl_records(path, problem_key="question")


def test_load_rl_records_bad_json_names_the_line(tmp_path):
    path = _write_lines(tmp_path / "rl.jsonl", json.dumps({"problem": "a", "answer": "1"}), "{not json")
    with pytest.raises(ValueError, match=r"rl\.jsonl:2"):
        load_rl_records(path)


def test_load_rl_records_missing_image_names_image_and_record(tmp_path):
    path = _write_lines(
        tmp_path / "rl.jsonl",
        json.dumps({"problem": "a", "answer": "1", "images": []}),
        json.dumps({"problem": "b", "answer": "2", "images": ["images/gone.png"]}),
    )
    with pytest.raises(FileNotFoundError, match=r"gone\.png.*record 1"):
        load_rl_records(path)


# -- load_sft_records --------------------------------------------------------------------------------


def test_load_sft_records_messages_and_sharegpt(tmp_path):
    _png(tmp_path / "images" / "a.png")
    path = _write_lines(
        tmp_path / "sft.jsonl",
        json.dumps(
            {
                "id": "m",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Q"}, {"type": "image"}]},
                    {"role": "assistant", "content": "A"},
                ],
                "images": ["images/a.png"],
            }
        ),
        json.dumps(
            {
                "conversations": [
                    {"from": "system", "value": "Be brief."},
                    {"from": "human", "value": "<image>\nFirst <image> second"},
                    {"from": "gpt", "value": "\\boxed{2}"},
                ],
                "images": ["images/a.png", "images/a.png"],
            }
        ),
        json.dumps(
            {"conversations": [{"from": "human", "value": "No image"}, {"from": "gpt", "value": "ok"}]}
        ),
    )
    first, second, third = load_sft_records(path)
    assert first["id"] == "m" and first["images"] == [str(tmp_path / "images" / "a.png")]
    assert first["messages"][0]["content"] == [{"type": "text", "text": "Q"}, {"type": "image"}]
    assert second["messages"] == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "text", "text": "First"},
                {"type": "image"},
                {"type": "text", "text": "second"},
            ],
        },
        {"role": "assistant", "content": "\\boxed{2}"},
    ]
    assert "conversations" not in second and len(second["images"]) == 2
    assert third == {
        "messages": [{"role": "user", "content": "No image"}, {"role": "assistant", "content": "ok"}],
        "images": [],
    }


def test_load_sft_records_placeholder_mismatch_names_the_record(tmp_path):
    path = _write_lines(
        tmp_path / "sft.jsonl",
        json.dumps(
            {"conversations": [{"from": "human", "value": "<image> Q"}, {"from": "gpt", "value": "A"}]}
        ),
    )
    with pytest.raises(ValueError, match=r"record 0 has 1 image placeholder\(s\) but 0 image\(s\)"):
        load_sft_records(path)


def test_load_sft_records_drops_missing_images_with_a_warning(tmp_path, caplog):
    _png(tmp_path / "ok.png")
    turn = [{"from": "human", "value": "<image> Q"}, {"from": "gpt", "value": "A"}]
    path = _write_lines(
        tmp_path / "sft.jsonl",
        json.dumps({"conversations": turn, "images": ["ok.png"]}),
        json.dumps({"conversations": turn, "images": ["missing.png"]}),
    )
    with caplog.at_level(logging.WARNING, logger="vision_sr1.data"):
        records = load_sft_records(path)
    assert len(records) == 1
    assert "dropped 1 of 2" in caplog.text


def test_load_sft_records_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_sft_records(tmp_path / "nope.jsonl")
    path = _write_lines(tmp_path / "sft.jsonl", json.dumps({"prompt": "x"}))
    with pytest.raises(ValueError, match="record 0 has no column 'messages'"):
        load_sft_records(path)
    path = _write_lines(
        tmp_path / "bad.jsonl", json.dumps({"messages": [{"role": "user", "content": "x"}]}), "{"
    )
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        load_sft_records(path)
    path = _write_lines(
        tmp_path / "role.jsonl", json.dumps({"messages": [{"role": "robot", "content": "x"}]})
    )
    with pytest.raises(ValueError, match="record 0 .*role 'robot'"):
        load_sft_records(path)
