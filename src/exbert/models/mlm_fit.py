"""A masked-LM head fitted by exbert on a frozen encoder: MiniLM with real predictions.

No package here ships an English masked LM with its prediction head. all-MiniLM-L6-v2 ships
only its encoder, so exbert fits BERT's MLM head on it once, into the cache, as
``minilm-l6-mlm`` (:mod:`exbert.models.registry`):

- the model is a standard ``BertForMaskedLM``: MiniLM's encoder, **frozen** (its weights are
  saved unchanged), and the head: BERT's transform (dense 384x384 + GELU + LayerNorm) and a
  decoder **tied** to MiniLM's own word embeddings. Only the transform and the decoder bias
  (30,522) are trained: ~180k parameters;
- the data: the shipped Gutenberg books except Holmes (:mod:`exbert.models.mlm_text`), cut in
  windows of 126 word pieces; in each, 15% of the word pieces are chosen; of those 80% become
  ``[MASK]`` and 20% are kept as they are. Not all-``[MASK]``: exbert shows a prediction at
  *every* token, and the kept ones teach the head to give back the token at an unmasked
  position, as a real BERT does (80% ``[MASK]`` keeps it a cloze model where the user masks a
  word). Not BERT's 10% random tokens either: they exist to make BERT's *encoder* distrust its
  input, but this encoder is frozen, so they would only teach the head to doubt the token it
  sees (measured with 80/10/10: 70% of unmasked tokens given back instead of 81%, and a
  slightly lower top-1 at ``[MASK]``, 6.9% instead of 7.2%);
- the frozen encoder runs once over the masked windows; its last hidden states at the chosen
  positions are kept, then the head is trained on them for a few epochs (AdamW, cross-entropy
  over the whole vocabulary, linear decay, the bias starting at the log unigram frequencies);
- seeded and deterministic (same options, same thread count: same weights); 600 windows
  (~11k training examples), 2 epochs: the whole fit takes 79 s on one torch thread of a
  2-core machine with a load of ~2-6, 146 s with a load of ~10 (the encoder about 60% of
  it); ``benchmarks/bench_mlm_head.py`` measures it and the held-out accuracy;
- what it gives: MiniLM's last layer says little about a masked word (all-MiniLM-L6-v2 was
  never trained to fill masks; its ``[MASK]`` states are ~0.88 cosine-similar whatever the
  context, and a nearest-neighbour probe on them is no better than word frequency), so the
  head is only a little better than the unigram baseline at ``[MASK]`` (held-out top-1 7.2%
  vs 5.7%, top-5 20.6% vs 20.3%); at unmasked tokens it gives the token back (81%). It is
  therefore an option (``minilm-l6-mlm``), not the demo's default bidirectional model;
- durable: written into a temporary folder, fsynced, renamed into place; a killed fit leaves
  no model folder (only a temporary one, removed by the next fit), a failing one nothing.
  A file lock keeps two processes from fitting at once (the second waits, then reuses).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exbert.errors import ExbertError, ModelLoadError
from exbert.models.mlm_data import encode_masked, unigram_counts

if TYPE_CHECKING:
    import torch
    from transformers import BertForMaskedLM

log = logging.getLogger(__name__)

FIT_VERSION = 1
RECORD_FILE = "exbert_mlm_fit.json"
Progress = Callable[[str], None]
#: Called with the temporary folder once it is completely written, before the rename that
#: publishes it (tests pass one that raises or kills the process: a crash there).
Hook = Callable[[Path], None]


@dataclass(frozen=True)
class FitOptions:
    """How the head is fitted (every field enters the cache key)."""

    seed: int = 0
    window: int = 126  # word pieces per sequence, 128 with [CLS] and [SEP]
    fit_windows: int = 600
    held_out_windows: int = 200  # drawn apart from the fitting windows, for evaluation only
    mask_rate: float = 0.15
    mask_share: float = 0.8  # of the chosen positions: [MASK]ed
    random_share: float = 0.0  # ... given a random token (BERT: 0.1); the rest kept
    epochs: int = 2
    batch_size: int = 256
    lr: float = 5e-3
    weight_decay: float = 0.01
    encode_batch: int = 16

    def key(self) -> str:
        text = json.dumps({"v": FIT_VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def build_model(encoder_dir: Path) -> BertForMaskedLM:
    """A ``BertForMaskedLM`` holding the encoder of ``encoder_dir`` (a BERT-family folder with
    safetensors weights) exactly, its decoder tied to the word embeddings; head freshly
    initialised (seed it before calling)."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig.from_pretrained(str(encoder_dir))
    config.architectures = ["BertForMaskedLM"]
    config.tie_word_embeddings = True
    model = BertForMaskedLM(config)
    weights = load_file(str(encoder_dir / "model.safetensors"))
    weights = {k.removeprefix("bert."): v for k, v in weights.items()}
    weights = {k: v for k, v in weights.items() if not k.startswith("pooler.")}
    missing, unexpected = model.bert.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    unexpected = [k for k in unexpected if not k.endswith("position_ids")]
    if missing or unexpected:
        log.error("%s: not a BERT encoder (missing %s, unexpected %s)", encoder_dir,
                  missing[:3], unexpected[:3])
        raise ModelLoadError(f"cannot fit a masked-LM head: {encoder_dir.name!r} is not a "
                             f"BERT encoder (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.tie_weights()
    with torch.no_grad():  # the transform starts as (almost) the identity: faster to fit
        dense = model.cls.predictions.transform.dense
        dense.weight.copy_(torch.eye(config.hidden_size) + 0.02 * dense.weight)
        dense.bias.zero_()
    return model.eval()


def train_head(model: BertForMaskedLM, states: torch.Tensor, labels: torch.Tensor,
               options: FitOptions, progress: Progress) -> list[float]:
    """Train the transform and the decoder bias of ``model.cls`` on (hidden state, token)
    pairs; every other parameter stays frozen. Returns the mean loss of each epoch."""
    import torch
    import torch.nn.functional as F

    head = model.cls.predictions
    for p in model.parameters():
        p.requires_grad_(False)
    decay = [head.transform.dense.weight]
    rest = [head.transform.dense.bias, *head.transform.LayerNorm.parameters(), head.bias]
    for p in (*decay, *rest):
        p.requires_grad_(True)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": options.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=options.lr)
    n = len(labels)
    steps_per_epoch = max(1, -(-n // options.batch_size))
    total = steps_per_epoch * options.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / total))
    gen = torch.Generator().manual_seed(options.seed + 1)
    losses = []
    for epoch in range(options.epochs):
        order = torch.randperm(n, generator=gen)
        running = 0.0
        for start in range(0, n, options.batch_size):
            idx = order[start:start + options.batch_size]
            loss = F.cross_entropy(model.cls(states[idx]), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach()) * len(idx)
        losses.append(running / max(n, 1))
        progress(f"epoch {epoch + 1}/{options.epochs}: loss {losses[-1]:.3f}")
    for p in model.parameters():
        p.requires_grad_(False)
    return losses


def fit(encoder_dir: Path, windows: list[list[int]], options: FitOptions,
        progress: Progress) -> tuple[BertForMaskedLM, Any, dict[str, Any]]:
    """Fit the head on ``windows`` (word-piece ids without special tokens):
    ``(model, tokenizer, record)``; ``record`` says how (for :data:`RECORD_FILE`)."""
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir))
    torch.manual_seed(options.seed)
    model = build_model(encoder_dir)
    states, labels = encode_masked(model.bert, tokenizer, windows, options, progress)
    t_encode = time.perf_counter() - t0
    counts = unigram_counts(windows, int(model.config.vocab_size))
    with torch.no_grad():  # start from the unigram distribution (add-one smoothed)
        freq = counts.double() + 1.0
        model.cls.predictions.bias.copy_((freq / freq.sum()).log().float())
    losses = train_head(model, states, labels, options, progress)
    record = {
        "fitted_by": "exbert", "version": FIT_VERSION, "encoder": str(encoder_dir.name),
        "options": dataclasses.asdict(options), "examples": len(labels),
        "epoch_losses": losses, "encode_s": round(t_encode, 1),
        "fit_s": round(time.perf_counter() - t0, 1), "torch_threads": torch.get_num_threads(),
        "trained": ["cls.predictions.transform.*", "cls.predictions.bias"],
        "frozen": ["bert.* (the encoder, unchanged)", "decoder weight = word embeddings"],
    }
    return model, tokenizer, record


def save(model: BertForMaskedLM, tokenizer: Any, record: dict[str, Any], target: Path, *,
         before_publish: Hook | None = None) -> Path:
    """Write the model folder durably: a temporary folder, fsynced, renamed into place
    (``before_publish``: see :data:`Hook`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.fit-{os.getpid()}-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / RECORD_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        for child in tmp.iterdir():
            if child.is_file():
                with open(child, "rb") as f:
                    os.fsync(f.fileno())
        _fsync_dir(tmp)
        if before_publish is not None:
            before_publish(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def is_fitted(target: Path) -> bool:
    return (target / RECORD_FILE).is_file() and (target / "model.safetensors").is_file()


def ensure_fitted(encoder_dir: Path, target: Path, windows: Callable[[], list[list[int]]],
                  options: FitOptions, progress: Progress | None = None, *,
                  before_publish: Hook | None = None) -> Path:
    """``target`` once fitted (fitting it now if needed, one process at a time).

    ``windows`` gives the fitting windows (called only when a fit runs). Any failure is a
    :class:`ModelLoadError` whose message names no path (the server forwards it; the details
    go to the log) and leaves no folder at ``target``.
    """
    if is_fitted(target):
        return target
    say = progress or log.warning
    name = target.name.rsplit("-", 1)[0]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _locked(target.parent / f".{target.name}.lock"):
            if is_fitted(target):  # another process fitted it while we waited
                return target
            _remove_stale(target)
            say(f"fitting the masked-LM head of {name} once (a minute or two; cached in "
                f"{target})")
            model, tokenizer, record = fit(encoder_dir, windows(), options, say)
            save(model, tokenizer, record, target, before_publish=before_publish)
    except ExbertError:
        raise
    except Exception as exc:  # never a traceback: torch, transformers, the disk...
        log.exception("fitting the masked-LM head into %s failed", target)
        # OSError's strerror names no file ("No space left on device"); others: their type
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ModelLoadError(f"cannot fit the masked-LM head of {name} ({why}); see the log "
                             "for details", model=name) from exc
    say(f"masked-LM head fitted in {record['fit_s']} s, saved in {target}")
    return target


def _remove_stale(target: Path) -> None:
    """Temporary folders of killed fits (their process is gone)."""
    for tmp in target.parent.glob(f".{target.name}.fit-*"):
        pid = tmp.name.split(".fit-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
        yield
        return
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fit_note(folder: Path) -> str:
    """The model info's ``notes`` for a folder this module fitted (from its
    :data:`RECORD_FILE`): who fitted the head and how; "" for any other folder."""
    try:
        record = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
        opts = record["options"]
        examples, epochs = int(record.get("examples", 0)), opts.get("epochs")
        return (
            f"masked-LM head fitted by exbert (fit version {record.get('version', '?')}): the "
            "encoder frozen; BERT's head transform (dense + GELU + LayerNorm) and the decoder "
            f"bias trained, the decoder tied to the word embeddings; on {examples:,} masked word "
            f"pieces of Project Gutenberg text (not the Holmes demo text), {epochs} epochs, seed "
            f"{opts.get('seed')}; benchmarks/bench_mlm_head.py measures it beside a unigram "
            "baseline"
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ""


__all__ = ["FitOptions", "build_model", "ensure_fitted", "fit", "fit_note", "is_fitted", "save",
           "train_head"]
