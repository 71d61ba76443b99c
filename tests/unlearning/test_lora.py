"""LoRA goes on the language model's linear layers only."""

from __future__ import annotations

import torch

from backend.lora import LoraSettings, attach_lora, language_model_linear_targets


def test_targets_are_exactly_the_language_model_linear_layers(tiny):
    model, _ = tiny
    targets = language_model_linear_targets(model)
    layers = model.config.text_config.num_hidden_layers
    assert len(targets) == 7 * layers  # q, k, v, o, gate, up, down per decoder layer
    assert all(".language_model." in t for t in targets)
    assert not any(word in t for t in targets for word in ("vision_tower", "multi_modal_projector", "lm_head"))
    every_linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    assert any("vision_tower" in n for n in every_linear) and "lm_head" in every_linear


def test_only_lora_weights_train_and_they_sit_in_the_language_model(tiny):
    model, _ = tiny
    peft_model = attach_lora(model, LoraSettings())
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and ".language_model." in n for n in trainable)
    config = peft_model.peft_config["default"]
    assert (config.r, config.lora_alpha, config.lora_dropout) == (16, 16, 0.05)
