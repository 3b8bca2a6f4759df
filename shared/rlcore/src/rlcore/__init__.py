"""rlcore: the thin shared core of the reasoning-papers workspace.

Import the submodules you need; importing ``rlcore`` itself stays cheap (no torch):

* ``rlcore.answers``  extract_boxed, extract_tag, normalize_answer, answers_match, majority_vote
* ``rlcore.rewards``  the TRL reward protocol, completion_text, weighted, shared rewards
* ``rlcore.selfplay`` pseudo-labels, uncertainty reward, fast BLEU, clustering, repetition penalty
* ``rlcore.rollout``  Generator protocol with HF, vLLM and OpenAI-compatible backends
* ``rlcore.models``   load_model for hub ids, local dirs, GGUF, the embedded demo model, tiny models
* ``rlcore.train``    GRPO/SFT runners over TRL, group_advantages, grpo_batch_args
* ``rlcore.data``     records from hub/jsonl/parquet/csv, procedural arithmetic, shared benchmarks
* ``rlcore.eval``     evaluate a generator: accuracy, pass@k, maj@n
* ``rlcore.config``   dataclass configs from YAML + key=value overrides
* ``rlcore.runs``     run directories: config snapshot, metrics, samples, checkpoints, report
* ``rlcore.cli``      the CLI convention every package follows
* ``rlcore.testing``  pytest fixtures and factories for tiny models and data
"""

from rlcore.errors import ConfigError, DataError, DataFileNotFound, ModelNotFound

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "DataFileNotFound", "ModelNotFound", "__version__"]
