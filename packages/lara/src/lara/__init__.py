"""LARA and B-LARA (Huang, Huang & Huang, arXiv 2410.10074): split the N demonstrations into G groups of k,
run the model once per group, and combine the G next-token distributions as a weighted product of experts whose
weights a gradient-free optimiser fits on the demonstrations themselves (2-fold cross-fitting). B-LARA keeps
binary weights, so unselected groups are never run. The model is never updated.

Everything public is re-exported here.
"""

from lara.arithmetic import (
    MIN_LOGPROB,
    PREFIX_CACHE_SIZE,
    EngineStats,
    GenerationOutput,
    GroupedLM,
    combine_logprobs,
    normalize_weights,
    target_nll,
)
from lara.bench import (
    BENCH_METHODS,
    bench_table,
    benchmark,
    check_targets,
)
from lara.config import (
    DATASETS,
    FINAL_MODES,
    LOSSES,
    OPTIMIZERS,
    Config,
    LaraConfig,
    dataset_preset,
)
from lara.data import (
    SAMPLE_DIR,
    SAMPLE_SIZE,
    SAMPLE_TASKS,
    generate_task,
    load_records,
    sample_path,
    split_demos,
    write_sample_files,
)
from lara.grouping import (
    DEFAULT_GROUP_SIZES,
    candidate_group_sizes,
    cross_fit_groups,
    split_into_groups,
)
from lara.methods import (
    METHODS,
    Ensemble,
    build_ensemble,
)
from lara.prompts import (
    TASK_FORMATS,
    build_prompt,
    format_demo,
    format_mmlu_question,
    format_query,
    group_prefix,
    mmlu_header,
)
from lara.rewards import (
    ANSWER_TYPES,
    EXTRACTION_MODES,
    OFFICIAL_OPTION_ORDER,
    accuracy,
    answer_reward,
    extract_answer,
    infer_answer_type,
    is_correct,
    normalize_gold,
)
from lara.search import (
    DEGENERATE_LOSS,
    ExampleLoss,
    LaraFit,
    SearchResult,
    cross_fit_loss,
    fit_lara,
    optimize_weights,
    select_group_size,
    substitute_truth,
)

__version__ = "0.1.0"

__all__ = [
    "ANSWER_TYPES",
    "BENCH_METHODS",
    "DATASETS",
    "DEFAULT_GROUP_SIZES",
    "DEGENERATE_LOSS",
    "EXTRACTION_MODES",
    "FINAL_MODES",
    "LOSSES",
    "METHODS",
    "MIN_LOGPROB",
    "OFFICIAL_OPTION_ORDER",
    "OPTIMIZERS",
    "PREFIX_CACHE_SIZE",
    "SAMPLE_DIR",
    "SAMPLE_SIZE",
    "SAMPLE_TASKS",
    "TASK_FORMATS",
    "Config",
    "EngineStats",
    "Ensemble",
    "ExampleLoss",
    "GenerationOutput",
    "GroupedLM",
    "LaraConfig",
    "LaraFit",
    "SearchResult",
    "__version__",
    "accuracy",
    "answer_reward",
    "bench_table",
    "benchmark",
    "build_ensemble",
    "build_prompt",
    "candidate_group_sizes",
    "check_targets",
    "combine_logprobs",
    "cross_fit_groups",
    "cross_fit_loss",
    "dataset_preset",
    "extract_answer",
    "fit_lara",
    "format_demo",
    "format_mmlu_question",
    "format_query",
    "generate_task",
    "group_prefix",
    "infer_answer_type",
    "is_correct",
    "load_records",
    "mmlu_header",
    "normalize_gold",
    "normalize_weights",
    "optimize_weights",
    "sample_path",
    "select_group_size",
    "split_demos",
    "split_into_groups",
    "substitute_truth",
    "target_nll",
    "write_sample_files",
]
