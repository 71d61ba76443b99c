"""Tiny LLaVA-architecture models, built deterministically by our own code.

The demo, the tests and the unlearning baselines need a real vision-language
model that runs on a 2-core CPU in seconds. :func:`build_tiny_llava` makes one
with the exact architecture of ``llava-hf/llava-1.5-7b-hf`` (a CLIP vision
tower, a two-layer projector and a Llama language model), only narrow:

- every linear layer that bitsandbytes may quantize has ``in_features`` a
  multiple of 64 and ``out_features`` a multiple of 32, which is what the
  bitsandbytes 0.50 CPU 4-bit kernel needs (blocksize 64, 32-row packing);
- the tokenizer is a small byte-level BPE trained on the given corpus, so
  most words of the demo benchmark are one token and a tiny model can learn
  the facts quickly;
- ``<image>`` is a special token that :class:`transformers.LlavaProcessor`
  expands to one placeholder per image patch, exactly as for LLaVA-1.5;
- the processor carries a ``USER: ... ASSISTANT:`` chat template, so the
  chat-template prompt mode works as well as upstream's raw prompts.

The weights are random (seeded): the unlearning package fine-tunes them.
Everything is saved as safetensors. The same corpus, configuration and seed
give byte-identical files.

Command line::

    python -m demo build-tiny --out demo/models/demo-base [--seed 0]
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast

    from benchmark.dataset import Benchmark

IMAGE_TOKEN = "<image>"
"""The image placeholder token, as in LLaVA-1.5."""

BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
SPECIAL_TOKENS: tuple[str, ...] = (UNK_TOKEN, BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, IMAGE_TOKEN)
"""Special tokens, in id order (``<unk>`` is 0, ``<image>`` is 4)."""

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{{ message['content'] | map(attribute='text') | join('') }}{%- endif -%}"
    "{{ '\\n' }}"
    "{%- else -%}"
    "{{ 'USER: ' if message['role'] == 'user' else 'ASSISTANT: ' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<image>\\n' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{ '</s>' if message['role'] == 'assistant' else '' }}{{ '\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"
)
"""A LLaVA-1.5 style template: ``USER: <image>\\n{text}\\nASSISTANT:``.

Image items become ``<image>\\n`` before the text, like upstream's raw prompts;
assistant turns end with ``</s>`` so a fine-tuned model learns to stop.
"""


PROMPT_SCAFFOLD: tuple[str, ...] = (
    "USER: <image>\nQuestion: \nA: \nB: \nC: \nD: \nCorrect Answer: \nASSISTANT:",
    "USER:\nJust give ONE letter representing the answer directly.\nASSISTANT:",
    "USER:<image>\nPlease **ONLY** provide the correct answer that should replace the [Blank].\nASSISTANT:",
    "USER: Answer the question based on your trained knowledge in one sentence accurately in ENGLISH.\nASSISTANT: ",
    "USER: Answer the question based on your trained knowledge in one sentence in ENGLISH.\nASSISTANT:",
)
"""Fixed strings of the official prompts (spec section 3), added to the demo corpus."""


@dataclass(frozen=True)
class TinyLlavaConfig:
    """Shape of a tiny LLaVA model. The defaults make a ~2.5 MB fp32 checkpoint on the demo corpus."""

    vocab_size: int = 2048
    """Target BPE vocabulary size (special tokens and byte alphabet included); a small corpus gives fewer.

    The demo benchmark saturates at about 1,600 tokens: every word of it is one or two tokens."""
    text_hidden_size: int = 128
    """Width of the Llama language model (a multiple of 64)."""
    text_intermediate_size: int = 256
    """Width of the Llama MLP (a multiple of 64)."""
    text_layers: int = 2
    """Number of Llama decoder layers."""
    text_heads: int = 4
    """Attention heads of the language model (``text_hidden_size / text_heads`` is the head size)."""
    max_position_embeddings: int = 2048
    """Context length of the language model, in tokens (RoPE, so it costs no weights)."""
    vision_hidden_size: int = 64
    """Width of the CLIP vision tower (a multiple of 64)."""
    vision_intermediate_size: int = 128
    """Width of the CLIP MLP (a multiple of 64)."""
    vision_layers: int = 2
    """Number of CLIP encoder layers."""
    vision_heads: int = 2
    """Attention heads of the vision tower."""
    initializer_range: float = 0.02
    """Std of the random initial weights; larger values give more varied (still meaningless) untrained output."""
    tie_word_embeddings: bool = True
    """Share the input embedding and the output head (keeps the demo checkpoints under 3 MB)."""
    image_size: int = 32
    """Images are resized and cropped to this square size, in pixels."""
    patch_size: int = 8
    """CLIP patch size: ``(image_size / patch_size) ** 2`` placeholder tokens per image (16 by default)."""

    def check(self) -> None:
        """Raise ``ValueError`` when a width would break bitsandbytes' CPU 4-bit kernel or the model."""
        for name in ("text_hidden_size", "text_intermediate_size", "vision_hidden_size", "vision_intermediate_size"):
            value = getattr(self, name)
            if value <= 0 or value % 64:
                raise ValueError(
                    f"TinyLlavaConfig.{name} must be a positive multiple of 64 for 4-bit on CPU, got {value}"
                )
        if self.text_hidden_size % self.text_heads or (self.text_hidden_size // self.text_heads) % 2:
            raise ValueError("TinyLlavaConfig.text_heads must divide text_hidden_size into an even head size")
        if self.vision_hidden_size % self.vision_heads:
            raise ValueError("TinyLlavaConfig.vision_heads must divide vision_hidden_size")
        if self.image_size % self.patch_size:
            raise ValueError("TinyLlavaConfig.patch_size must divide image_size")
        if self.vocab_size < 256 + len(SPECIAL_TOKENS):
            raise ValueError(f"TinyLlavaConfig.vocab_size must be at least {256 + len(SPECIAL_TOKENS)} (byte alphabet)")

    @property
    def image_seq_length(self) -> int:
        """Placeholder tokens one image expands to (patches; the CLS token is dropped)."""
        return (self.image_size // self.patch_size) ** 2


class TinyModel:
    """A built tiny model: the model, its processor and the configuration used."""

    def __init__(
        self, model: LlavaForConditionalGeneration, processor: LlavaProcessor, config: TinyLlavaConfig, seed: int
    ) -> None:
        self.model = model
        """The randomly initialised ``LlavaForConditionalGeneration`` (fp32, eval mode)."""
        self.processor = processor
        """The matching ``LlavaProcessor`` (PIL CLIP image processor, trained tokenizer, chat template)."""
        self.config = config
        """The shape it was built with."""
        self.seed = seed
        """The seed of the weight initialisation."""

    def save(self, out: str | Path) -> Path:
        """Save model and processor to ``out`` as safetensors plus JSON; returns the folder."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder, safe_serialization=True)
        self.processor.save_pretrained(folder)
        meta = {"builder": "demo.tiny.build_tiny_llava", "seed": self.seed, "config": asdict(self.config)}
        (folder / "tiny_build.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return folder


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """Train a small byte-level BPE tokenizer on ``corpus``.

    Byte-level means any text can be encoded (no unknown words), and a small
    vocabulary trained on the benchmark's own text makes most of its words a
    single token, which is what lets a tiny model memorise facts fast.

    Args:
        corpus: Texts to learn merges from (order matters only for ties; it is deterministic).
        vocab_size: Target vocabulary size including special tokens and the 256-symbol byte alphabet.

    Returns:
        A fast tokenizer with ``<s>`` prepended to every encoding, ``<pad>`` for (left) padding,
        ``</s>`` as end of sequence and ``<image>`` as an unsplittable special token.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [text for text in corpus if text]
    if not texts:
        raise ValueError("train_tokenizer needs a non-empty corpus")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    bos_id = tokenizer.token_to_id(BOS_TOKEN)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A $B", special_tokens=[(BOS_TOKEN, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        padding_side="left",
        model_max_length=2048,
        clean_up_tokenization_spaces=False,
        chat_template=CHAT_TEMPLATE,
    )


def build_tiny_llava(corpus: Iterable[str], *, seed: int = 0, config: TinyLlavaConfig | None = None) -> TinyModel:
    """Build a tiny, randomly initialised LLaVA model and its processor.

    Args:
        corpus: Texts the tokenizer is trained on (the benchmark's questions and answers).
        seed: Seed of the weight initialisation; same corpus, config and seed give identical weights.
        config: Shape of the model; the defaults are 4-bit friendly and under 3 MB.

    Returns:
        The model (fp32, eval mode) and processor, ready to :meth:`TinyModel.save`.
    """
    import torch
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        GenerationConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    cfg = config or TinyLlavaConfig()
    cfg.check()
    tokenizer = train_tokenizer(corpus, cfg.vocab_size)
    image_token_id = int(tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))  # type: ignore[arg-type]
    vision_config = CLIPVisionConfig(
        hidden_size=cfg.vision_hidden_size,
        intermediate_size=cfg.vision_intermediate_size,
        num_hidden_layers=cfg.vision_layers,
        num_attention_heads=cfg.vision_heads,
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        projection_dim=cfg.vision_hidden_size,
        hidden_act="quick_gelu",
        initializer_range=cfg.initializer_range,
    )
    text_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.text_hidden_size,
        intermediate_size=cfg.text_intermediate_size,
        num_hidden_layers=cfg.text_layers,
        num_attention_heads=cfg.text_heads,
        num_key_value_heads=cfg.text_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=cfg.tie_word_embeddings,
        initializer_range=cfg.initializer_range,
    )
    llava_config = LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=image_token_id,
        image_seq_length=cfg.image_seq_length,
        vision_feature_select_strategy="default",
        # Use the last vision layer: with two layers, LLaVA's -2 would leave one unused.
        vision_feature_layer=-1,
        projector_hidden_act="gelu",
        tie_word_embeddings=cfg.tie_word_embeddings,
    )
    # Fork the RNG so that building a model does not disturb the caller's random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(llava_config)
    model.generation_config = GenerationConfig(
        do_sample=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.eval()
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": cfg.image_size},
        crop_size={"height": cfg.image_size, "width": cfg.image_size},
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=cfg.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
        image_token=IMAGE_TOKEN,
    )
    return TinyModel(model, processor, cfg, seed)


def benchmark_corpus(benchmark: Benchmark) -> list[str]:
    """Every text of a benchmark a model could be asked or taught, in a stable order.

    Profiles' names, profile-level question and answer, every question, option
    and ground truth, plus the fine-tuning question/answer pairs; plus the
    fixed instruction strings of the official prompts, so those are cheap too.
    """
    from benchmark.vocabulary import Split

    texts: list[str] = []
    for split in sorted(benchmark.splits, key=lambda s: list(Split).index(s)):
        for profile in benchmark.splits[split]:
            texts.extend((profile.name, profile.question, profile.answer))
            for mc in profile.multiple_choice:
                texts.append(mc.question)
                texts.extend(mc.options[letter] for letter in sorted(mc.options))
            texts.extend(t for g in profile.generation for t in (g.question, g.ground_truth))
            texts.extend(t for c in profile.cloze for t in (c.question, c.ground_truth))
    for record in benchmark.finetune:
        texts.extend(t for pair in record.pairs for t in (pair.question, pair.answer))
    texts = [t for t in texts if t]
    # The prompt scaffolding is in every prompt but absent from the data: weigh it
    # like a frequent sentence so BPE gives "USER", "ASSISTANT" etc. their own tokens.
    return texts + list(PROMPT_SCAFFOLD) * max(20, len(texts) // 50)


def demo_corpus() -> list[str]:
    """The text of the demo benchmark (``benchmark.reader.load_benchmark("demo")``)."""
    from benchmark.reader import load_benchmark

    return benchmark_corpus(load_benchmark("demo"))


def build_tiny_to_folder(out: str | Path, *, seed: int = 0, corpus: Iterable[str] | None = None) -> Path:
    """Build a tiny model (on the demo benchmark's text unless ``corpus`` is given) and save it to ``out``."""
    texts = list(corpus) if corpus is not None else demo_corpus()
    return build_tiny_llava(texts, seed=seed).save(out)
