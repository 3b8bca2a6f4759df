"""CrossWordBench (Leng et al., COLM 2025): controllable crossword generation and the evaluation of LLMs and
LVLMs on it, in text and image form, with prefill and leave-one-out variants, the interactive mode, grid
parsing, and .puz/.ipuz export.

Everything public is re-exported here; see ``README.md`` and the module docstrings.
"""

from crosswordbench.config import Config, CrossWordBenchConfig
from crosswordbench.data import (
    BUNDLED_WORD_LISTS,
    DataError,
    build_word_list,
    bundled_word_list,
    load_puzzles,
    load_word_list,
    save_puzzles,
)
from crosswordbench.evaluate import EvalConfig, EvalResult, evaluate, evaluate_responses
from crosswordbench.export import ExportError, from_ipuz, from_puz, to_ipuz, to_puz
from crosswordbench.generate import (
    ENGINES,
    GenerationConfig,
    GenerationError,
    best_placement,
    generate_puzzles,
    placement_score,
)
from crosswordbench.interactive import InteractiveConfig, InteractiveResult, run_interactive
from crosswordbench.metrics import (
    aggregate,
    completion_rate,
    grid_parsing_correlation,
    intersection_consistency_rate,
    letter_coverage_rate,
    normalize_answer,
    pearson,
    score_answers,
    word_coverage_rate,
)
from crosswordbench.parsing import parse_answers, strip_reasoning
from crosswordbench.prompts import TEMPLATES, build_messages, clue_lines, format_solution, grid_text
from crosswordbench.puzzle import (
    BLOCK,
    Intersection,
    Puzzle,
    PuzzleError,
    Word,
    intersections,
    leave_one_out_mask,
    masked_grid,
    number_words,
    prefill_mask,
    stable_seed,
)
from crosswordbench.render import VARIANTS, RenderConfig, render_image
from crosswordbench.rewards import icr_reward, lcr_reward, wcr_reward

__version__ = "0.1.0"

__all__ = [
    "BLOCK",
    "BUNDLED_WORD_LISTS",
    "ENGINES",
    "TEMPLATES",
    "VARIANTS",
    "Config",
    "CrossWordBenchConfig",
    "DataError",
    "EvalConfig",
    "EvalResult",
    "ExportError",
    "GenerationConfig",
    "GenerationError",
    "InteractiveConfig",
    "InteractiveResult",
    "Intersection",
    "Puzzle",
    "PuzzleError",
    "RenderConfig",
    "Word",
    "aggregate",
    "best_placement",
    "build_messages",
    "build_word_list",
    "bundled_word_list",
    "clue_lines",
    "completion_rate",
    "evaluate",
    "evaluate_responses",
    "format_solution",
    "from_ipuz",
    "from_puz",
    "generate_puzzles",
    "grid_parsing_correlation",
    "grid_text",
    "icr_reward",
    "intersection_consistency_rate",
    "intersections",
    "lcr_reward",
    "leave_one_out_mask",
    "letter_coverage_rate",
    "load_puzzles",
    "load_word_list",
    "masked_grid",
    "normalize_answer",
    "number_words",
    "parse_answers",
    "pearson",
    "placement_score",
    "prefill_mask",
    "render_image",
    "run_interactive",
    "save_puzzles",
    "score_answers",
    "stable_seed",
    "strip_reasoning",
    "to_ipuz",
    "to_puz",
    "wcr_reward",
    "word_coverage_rate",
]
