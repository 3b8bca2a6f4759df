"""Checks that need a CUDA device (marked gpu: skipped without one, run by `just test-gpu`)."""

import pytest

pytestmark = pytest.mark.gpu


def test_load_model_on_cuda_in_bf16():
    import torch

    from rlcore.models import load_model

    model, _ = load_model("tiny:qwen2", device="cuda", dtype="bfloat16")
    param = next(model.parameters())
    assert param.device.type == "cuda" and param.dtype == torch.bfloat16


def test_hf_generator_batched_equals_sequential_on_cuda():
    from rlcore.models import load_model
    from rlcore.rollout import HFGenerator, SamplingParams

    gen = HFGenerator(*load_model("tiny:qwen2", device="cuda"))
    prompts = ["1 + 1 =", "The answer is", "<think> a much longer prompt than the others, to force padding"]
    params = SamplingParams(temperature=0.0, max_new_tokens=12)
    batched = [s[0].text for s in gen.generate(prompts, params)]
    sequential = [gen.generate([p], params)[0][0].text for p in prompts]
    assert batched == sequential


def test_grpo_bf16_step_on_cuda(tmp_path):
    """A two-step GRPO run with the GPU defaults (bf16 mixed precision): loss logged, weights moved."""
    import torch

    from rlcore.models import load_model
    from rlcore.rewards import completion_text
    from rlcore.train import grpo_config, run_grpo

    def reward(prompts, completions, **kwargs):
        return [sum(ch.isdigit() for ch in completion_text(c)) / 8 for c in completions]

    model, tok = load_model("tiny:qwen2")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = grpo_config(
        output_dir=str(tmp_path),
        max_steps=2,
        num_generations=4,
        per_device_train_batch_size=4,
        max_completion_length=16,
        learning_rate=1e-2,
        logging_steps=1,
        save_strategy="no",
    )
    assert config.bf16 and not config.use_cpu
    rows = [{"prompt": [{"role": "user", "content": f"What is {i} + {i}?"}]} for i in range(4)]
    result = run_grpo((model, tok), reward, rows, config)
    assert result.global_step == 2 and any("loss" in r for r in result.metrics)
    assert next(model.parameters()).device.type == "cuda"
    moved = [n for n, p in model.named_parameters() if not torch.equal(p.detach().cpu(), before[n].cpu())]
    assert len(moved) == len(before)
