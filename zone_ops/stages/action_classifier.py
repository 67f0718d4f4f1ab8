"""Stage 1 (Li et al., CVPR 2024): label an instruction as change (0), add (1) or remove (2).

Two classifiers:

- **Encoder + MLP head** (the paper's): any text encoder, given as a callable ``texts -> output`` where the output
  is per-token hidden states with their attention mask (``(hidden [N, T, D], mask [N, T])``), per-token states
  alone (``[N, T, D]``, every token real) or pooled vectors (``[N, D]``). The head is the paper's
  Linear(D, 128)-ReLU-Linear(128, 3) applied to EVERY token (after a per-dimension standardisation fitted on the
  training tokens), and the sentence logits are the masked MEAN of the per-token logits over the real tokens.
  Why: it is the paper's per-token head with a decision that uses all tokens instead of the official "class whose
  maximum-logit token comes last" rule (which flips on a single token); averaging logits lets the verb tokens
  ("remove", "add", "into") dominate wherever they are, ignores padding, and trained at least as well as the
  head on mean-pooled states in our measurements (see docs/usage.md, "Action Classifier").
  The head trains in seconds (Adam, full batch, seeded) on the shipped dataset ``data/instructions.tsv`` and is
  cached on disk keyed by a fingerprint of the encoder (its outputs on fixed probe sentences + hidden size +
  dataset hash), so it is trained once per encoder.
- **Lexical** (no encoder): weighted English patterns (verbs, "without", "let there be", "give X a <colour> look",
  ...), used when no encoder is connected.

Public API: ``classify``, ``classify_lexical``, ``load_or_train``, ``train_head``, ``predict``, ``evaluate``,
``evaluate_lexical``, ``evaluate_encoder``, ``load_dataset``, ``encoder_fingerprint``, ``encode``,
``clear_memory_cache``, ``default_cache_dir``.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch
from torch import nn

from ..core.images import ZoneInputError
from ..models.checkpoint import nonfinite_tensors
from ..core.types import Action, ZoneAction, default_beta, DEFAULT_BETA_OTHER, DEFAULT_BETA_REMOVE

DATASET_PATH = Path(__file__).resolve().parents[1] / "data" / "instructions.tsv"
HEAD_VERSION = 1
HIDDEN = 128
#: Fixed probe sentences: the encoder's outputs on them are its fingerprint.
PROBES = ("remove the dog", "add a red hat to the man", "turn the car into a boat", "a photo of a cat on a sofa")
MODES = ("auto", "change", "add", "remove", "lexical", "encoder")

#: texts -> (hidden [N,T,D], mask [N,T]) | hidden [N,T,D] | pooled [N,D]
Encoder = Callable[[list[str]], object]
#: What to do when the text encoder gives NaN / inf (before any head is trained on, or cached from, such values).
NON_FINITE_ENCODER = (
    "the text encoder returned NaN/inf values, so the CLIP head cannot classify: disconnect the CLIP to use the "
    "keyword classifier, or set mode to change / add / remove; if the CLIP runs in fp16, run ComfyUI with "
    "--fp32-text-enc; if it still fails, the checkpoint's text encoder is damaged"
)
ProgressFn = Callable[[int, int], None]

#: Number of heads trained in this process (tests use it to check the cache).
TRAIN_STATS = {"trained": 0}
_MEMORY: dict[str, "ActionHead"] = {}


# ---------------------------------------------------------------- dataset
@dataclass(frozen=True)
class Example:
    text: str
    label: Action
    split: str  # "train" or "test"


def load_dataset(path: str | os.PathLike | None = None, split: str | None = None) -> list[Example]:
    """The labelled instructions (TSV with header ``text, label, split``); ``split`` = "train"/"test" filters."""
    rows = Path(path or DATASET_PATH).read_text(encoding="utf-8").splitlines()
    if not rows or rows[0].split("\t") != ["text", "label", "split"]:
        raise ValueError(f"{path or DATASET_PATH}: expected a TSV with header 'text<TAB>label<TAB>split'")
    out = []
    for i, line in enumerate(rows[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"{path or DATASET_PATH}:{i}: expected 3 tab-separated fields, got {len(parts)}")
        ex = Example(parts[0], Action.parse(parts[1]), parts[2].strip())
        if split is None or ex.split == split:
            out.append(ex)
    return out


def _dataset_hash(examples: Sequence[Example]) -> str:
    h = hashlib.sha256()
    for ex in examples:
        h.update(f"{ex.text}\t{int(ex.label)}\n".encode())
    return h.hexdigest()[:16]


def _dataset_tag(examples: Sequence[Example]) -> str:
    return f"v{HEAD_VERSION}:{_dataset_hash(examples)}"


def _check_instruction(instruction: str) -> str:
    if not isinstance(instruction, str) or not instruction.strip():
        raise ZoneInputError(
            "The instruction is empty: type what to edit, e.g. 'make the car red', 'add a hat to the man' "
            "or 'remove the dog'."
        )
    return instruction.strip()


# ---------------------------------------------------------------- lexical classifier
_COLOURS = (
    r"red|blue|green|yellow|black|white|pink|purple|orange|gr[ae]y|brown|golden|gold|silver|turquoise|maroon|navy|"
    r"beige|lavender|crimson|teal|cyan|magenta|violet|indigo|olive|tan|cream|ivory|amber|blond|blonde|dark|light|"
    r"bright|pale|neon|pastel|colou?rful|rainbow|striped|spotted|checkered|plaid"
)
_FINISH = r"look|finish|texture|paint ?job|coat of paint|colou?r|pattern|makeover|tint|shade|hue|style|sheen|glow"
_DET = r"(?:a|an|some|another|two|three|several|many|more|few|a few|a couple of|one|lots of)"
_RULES: list[tuple[str, Action, float]] = [
    # remove: verbs and phrases of taking away
    (r"\b(?:remove|removed|removing|delete|deleted|erase|erased|eliminate|omit|exclude|discard|hide)\b", Action.REMOVE, 3.0),
    (r"\bget rid of\b|\brid (?:it|the \w+) of\b|\bdo away with\b", Action.REMOVE, 3.5),
    (r"\btake (?:away|out|off)\b|\btake (?:the|his|her|their|its|that|this) [\w' ]{1,30}? (?:away|out|off)\b",
     Action.REMOVE, 3.5),
    (r"\b(?:wipe|clear|clean|cut|crop|edit|rub|strip|peel|pull|knock) [\w' ]{0,30}?\b(?:out|away|off)\b",
     Action.REMOVE, 3.5),
    (r"\b(?:out of|from) (?:the|this|my) (?:picture|image|photo|scene|shot|frame)\b", Action.REMOVE, 3.5),
    (r"\bclear (?:the|this|that) [\w ]{1,20} of\b", Action.REMOVE, 3.5),
    (r"\bfree of\b|(?:\bnot|n't|\bno longer) (?:be )?there\b|\b(?:disappear|vanish|go away|be gone|is gone|are gone|gone|has to go|have to go|must go)\b",
     Action.REMOVE, 4.0),
    (r"\bwithout\b|\bwith no\b|\bno more\b|\bno longer\b|\b(?:there|it) should be no\b|^no\b|\bbut no\b",
     Action.REMOVE, 4.0),
    (r"\b(?:don'?t|do not|doesn'?t|does not) want\b|\bleave out\b|\b(?:drop|lose|ditch|hide) (?:the|that|this|his|her)\b",
     Action.REMOVE, 3.0),
    (r"\bget (?:the|that|this|his|her|those|these) [\w ]{1,30}? out\b", Action.REMOVE, 3.5),
    # add: verbs and phrases of bringing in
    (r"\b(?:add|adding|insert|include|draw|attach|hang|sneak|stick|introduce|plant|appear|appears)\b", Action.ADD, 2.5),
    (r"\b(?:put|place|set|position|drop) " + _DET + r"\b", Action.ADD, 2.5),
    (r"\b(?:put|place|set) [\w' ]{1,30}? (?:on|in|onto|into|over|next to|beside|behind|near|under|above)\b",
     Action.ADD, 2.0),
    (r"\blet there be\b|\bthere (?:should|must|needs to|need to|has to|could|would|will|might) be\b|\bthere be\b|\bthere (?:is|was|were)\b",
     Action.ADD, 2.5),
    (r"\bi (?:want|need|would like|'d like) " + _DET + r"\b|\bhow about " + _DET + r"\b|\blet'?s (?:see|have) "
     + _DET + r"\b|\b(?:show|have|with|see) " + _DET + r" \w+ (?:\w+ )?(?:on|in|sitting|standing|flying|next|"
     r"behind|near|by|at|floating|swimming|lying)\b", Action.ADD, 2.5),
    (r"\b(?:wear|wears|wearing|hold|holds|holding|carry|carries|carrying|dress|dressed|could use|needs (?:a|an|some))\b",
     Action.ADD, 2.5),
    (r"\bgive (?:the|this|that|his|her|him|them|it|every|each)\b", Action.ADD, 2.5),
    (r"\bfill [\w' ]{1,30}? with\b", Action.ADD, 2.5),
    (r"\binto the (?:picture|image|photo|scene|shot|frame)\b", Action.ADD, 2.5),
    # change: replacing, transforming, recolouring
    (r"\b(?:replace|replacing|swap|switch|exchange|substitute|trade)\b|\binstead\b|\bwhere the \w+|\bin place of\b", Action.CHANGE, 3.5),
    (r"\b(?:turn|change|transform|convert|morph|make|modify)\b[\w' ]{0,40}? \b(?:into|(?<!next )(?<!close )to)\b", Action.CHANGE, 3.0),
    (r"\b(?:turn|change|transform|convert|recolou?r|repaint|paint|colou?r|dye|tint|modify|alter|restyle)\b",
     Action.CHANGE, 2.0),
    (r"\b(?:look|looks|looking|seem) (?:like|as|more|less|older|younger|happier|sadder|\w+er)\b|\bmade (?:of|from)\b"
     r"|\bout of (?!(?:the|this|my) (?:picture|image|photo|scene|shot|frame))|\bas (?:a|an)\b|\bin the style of\b|\b(?:make|turn|set) it\b|\bit should be\b|\bsmile\b",
     Action.CHANGE, 3.0),
    (r"\bgive [\w' ]{1,30}? (?:a|an|some) (?:[\w-]+ )*(?:" + _FINISH + r")\b", Action.CHANGE, 4.0),
    (r"\b(?:" + _COLOURS + r")\b", Action.CHANGE, 1.5),
    (r"\bmake\b|\bshould be\b|\b(?:be|were|was) (?:made|more|less|\w+er)\b|\bbut\b", Action.CHANGE, 1.0),
]
_COMPILED = [(re.compile(p), a, w) for p, a, w in _RULES]
#: Prior when nothing matches: an instruction without a verb ("a red car") most often describes a change.
_PRIOR = (0.5, 0.0, 0.0)


def lexical_scores(instruction: str) -> tuple[float, float, float]:
    """Evidence per class (change, add, remove): for each class the strongest matching pattern weight, plus 0.25
    per further matching pattern of that class."""
    text = re.sub(r"\s+", " ", instruction.lower().replace("\u2019", "'")).strip()
    hits: list[list[float]] = [[], [], []]
    for rx, action, weight in _COMPILED:
        if rx.search(text):
            hits[int(action)].append(weight)
    return tuple(
        (max(h) + 0.25 * (len(h) - 1) if h else 0.0) + prior for h, prior in zip(hits, _PRIOR)
    )  # type: ignore[return-value]


def classify_lexical(instruction: str) -> tuple[Action, tuple[float, float, float]]:
    """Label and pseudo-probabilities (softmax of the scores) from the patterns alone; ties prefer remove > change."""
    scores = lexical_scores(_check_instruction(instruction))
    probs = torch.softmax(torch.tensor(scores, dtype=torch.float64) * 1.5, 0).tolist()
    order = (Action.REMOVE, Action.CHANGE, Action.ADD)
    label = max(order, key=lambda a: scores[int(a)])
    return label, (probs[0], probs[1], probs[2])


# ---------------------------------------------------------------- encoder plumbing
def _as_float(t: object, what: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"text encoder returned {type(t).__name__} for {what}; expected a torch.Tensor")
    return t.detach().to("cpu", torch.float32)


def _normalize_output(out: object, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder output -> (hidden float32 [n, T, D], mask bool [n, T]), padding trimmed to the longest real length."""
    if isinstance(out, (tuple, list)):
        hidden = _as_float(out[0], "hidden states")
        mask = out[1].detach().to("cpu").bool() if len(out) > 1 and out[1] is not None else None
    else:
        hidden, mask = _as_float(out, "hidden states"), None
    if hidden.ndim == 2:
        hidden = hidden[:, None, :]
    if hidden.ndim != 3 or hidden.shape[0] != n:
        raise ValueError(f"text encoder returned shape {tuple(hidden.shape)} for {n} texts; expected [N,T,D] or [N,D]")
    if mask is None:
        mask = torch.ones(hidden.shape[:2], dtype=torch.bool)
    if mask.shape != hidden.shape[:2]:
        raise ValueError(f"attention mask shape {tuple(mask.shape)} does not match hidden states {tuple(hidden.shape)}")
    mask = mask.clone()
    mask[mask.sum(1) == 0, 0] = True  # never an empty sentence
    if not torch.isfinite(hidden[mask]).all():
        raise ZoneInputError(NON_FINITE_ENCODER)
    keep = int(mask.any(0).nonzero().max()) + 1
    return hidden[:, :keep].contiguous(), mask[:, :keep].contiguous()


def encode(
    encoder: Encoder,
    texts: Sequence[str],
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    check: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``encoder`` over ``texts`` in batches -> (hidden float32 [N, T, D], mask bool [N, T]) on the CPU.

    ``progress(done, total)`` is called after each batch, ``check()`` before each (e.g. a cancel check).
    """
    chunks: list[tuple[torch.Tensor, torch.Tensor]] = []
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths per batch: less padding
    texts = [texts[i] for i in order]
    for start in range(0, len(texts), batch_size):
        if check is not None:
            check()
        part = texts[start : start + batch_size]
        with torch.inference_mode():
            chunks.append(_normalize_output(encoder(part), len(part)))
        if progress is not None:
            progress(min(start + batch_size, len(texts)), len(texts))
    length = max(h.shape[1] for h, _ in chunks)
    dims = {h.shape[2] for h, _ in chunks}
    if len(dims) != 1:
        raise ValueError(f"text encoder returned different hidden sizes {sorted(dims)}")
    hidden = torch.cat([nn.functional.pad(h, (0, 0, 0, length - h.shape[1])) for h, _ in chunks])
    mask = torch.cat([nn.functional.pad(m, (0, length - m.shape[1])) for _, m in chunks])
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
    return hidden[inverse], mask[inverse]


def _probe(encoder: Encoder) -> torch.Tensor:
    """The encoder's masked-mean states on the probe sentences, float32 [len(PROBES), D]."""
    hidden, mask = encode(encoder, PROBES)
    m = mask[..., None].float()
    return (hidden * m).sum(1) / m.sum(1)


def encoder_fingerprint(encoder: Encoder, examples: Sequence[Example] | None = None) -> str:
    """Stable id of (encoder, dataset, head version): hash of the hidden size, the probe outputs (3 significant
    digits) and the training data. Small numeric drifts (dtype, device) are also tolerated by ``load_or_train``,
    which matches cached heads by probe outputs, not by this hash alone."""
    return _fingerprint(_probe(encoder), examples if examples is not None else load_dataset(split="train"))


def _fingerprint(probe: torch.Tensor, examples: Sequence[Example]) -> str:
    h = hashlib.sha256()
    h.update(f"{_dataset_tag(examples)}:d{probe.shape[1]}:".encode())
    scale = probe.abs().amax().clamp_min(1e-12)
    h.update((probe / scale * 1000).round().to(torch.int32).numpy().tobytes())
    return h.hexdigest()[:20]


# ---------------------------------------------------------------- the head
class ActionHead(nn.Module):
    """Paper head Linear(D,128)-ReLU-Linear(128,3) on standardised per-token states; masked mean of token logits."""

    def __init__(self, dim: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 3))

    def token_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """[N, T, D] -> per-token logits [N, T, 3]."""
        return self.mlp((hidden.to(self.mean) - self.mean) / self.std)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(hidden [N, T, D], mask [N, T]) -> sentence logits [N, 3] = mean of the real tokens' logits."""
        m = mask.to(self.mean)[..., None]
        return (self.token_logits(hidden) * m).sum(1) / m.sum(1).clamp_min(1.0)


@dataclass
class TrainResult:
    head: ActionHead
    fingerprint: str
    train_accuracy: float
    probe: torch.Tensor
    data: str  # dataset tag (head version + hash of the training examples)


def _fit(
    hidden: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor, seed: int, epochs: int, lr: float,
    weight_decay: float, progress: ProgressFn | None, check: Callable[[], None] | None,
) -> ActionHead:
    """Full-batch Adam on the pooled logits; only the real tokens are computed.

    Trains also when called under ``torch.inference_mode()`` / ``no_grad`` (ComfyUI runs every node so): autograd is
    switched back on for the fit, on fresh copies of the inputs (inference tensors cannot be saved for backward)."""
    with torch.inference_mode(False), torch.enable_grad():
        hidden, mask, labels = hidden.clone(), mask.clone(), labels.clone()
        return _fit_with_grad(hidden, mask, labels, seed, epochs, lr, weight_decay, progress, check)


def _fit_with_grad(
    hidden: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor, seed: int, epochs: int, lr: float,
    weight_decay: float, progress: ProgressFn | None, check: Callable[[], None] | None,
) -> ActionHead:
    real = hidden[mask]  # [M, D]; sentence index of each real token: seg [M]
    seg = torch.arange(len(labels))[:, None].expand(mask.shape)[mask]
    counts = torch.bincount(seg, minlength=len(labels)).clamp_min(1)[:, None].float()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = ActionHead(hidden.shape[-1])
        head.mean.copy_(real.mean(0))
        head.std.copy_(real.std(0).clamp_min(1e-4))
        opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
        for epoch in range(epochs):
            if check is not None and epoch % 10 == 0:
                check()
            opt.zero_grad()
            pooled = torch.zeros(len(labels), 3).index_add_(0, seg, head.token_logits(real)) / counts
            nn.functional.cross_entropy(pooled, labels).backward()  # pooled == head(hidden, mask)
            opt.step()
            if progress is not None and (epoch + 1) % 10 == 0:
                progress(80 + int(20 * (epoch + 1) / epochs), 100)
    return head.eval()


def train_head(
    encoder: Encoder,
    examples: Sequence[Example] | None = None,
    seed: int = 0,
    epochs: int = 60,
    lr: float = 1e-2,
    weight_decay: float = 1e-2,
    progress: ProgressFn | None = None,
    check: Callable[[], None] | None = None,
    features: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> TrainResult:
    """Train the head on ``examples`` (default: the shipped train split). Deterministic for a given seed.

    Full-batch Adam with cross-entropy on the pooled logits. Encoding the texts is the slow part and reports
    ``progress(done, total)`` (encoding = first 80 %, training = last 20 %) and calls ``check()`` between batches.
    ``features`` = precomputed ``encode`` output for ``examples`` (skips encoding).
    """
    examples = list(examples) if examples is not None else load_dataset(split="train")
    if not examples:
        raise ValueError("no training examples")
    total = 100

    def enc_progress(done: int, n: int) -> None:
        if progress is not None:
            progress(int(80 * done / max(n, 1)), total)

    hidden, mask = features if features is not None else encode(
        encoder, [e.text for e in examples], progress=enc_progress, check=check
    )
    labels = torch.tensor([int(e.label) for e in examples])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is fastest and immune to a busy CPU
    try:
        head = _fit(hidden, mask, labels, seed, epochs, lr, weight_decay, progress, check)
    finally:
        torch.set_num_threads(threads)
    if progress is not None:
        progress(total, total)
    with torch.no_grad():
        acc = float((head(hidden, mask).argmax(1) == labels).float().mean())
    probe = _probe(encoder)
    TRAIN_STATS["trained"] += 1
    return TrainResult(head, _fingerprint(probe, examples), acc, probe, _dataset_tag(examples))


def clear_memory_cache() -> None:
    """Forget the heads loaded in this process (the disk cache stays)."""
    _MEMORY.clear()


def _save(result: TrainResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "version": HEAD_VERSION,
        "fingerprint": result.fingerprint,
        "probe": result.probe,
        "data": result.data,
        "train_accuracy": result.train_accuracy,
        "state_dict": result.head.state_dict(),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _load(path: Path) -> dict | None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # corrupt or foreign file: ignore it, it will be retrained and overwritten
        return None
    if not isinstance(state, dict) or state.get("version") != HEAD_VERSION:
        return None
    weights = state.get("state_dict")
    if not isinstance(weights, dict) or nonfinite_tensors(weights) or nonfinite_tensors({"probe": state.get("probe")}):
        return None  # damaged (NaN / inf weights): retrained and overwritten like a corrupt file
    return state


def _head_from(state: dict) -> ActionHead:
    head = ActionHead(state["state_dict"]["mean"].shape[0])
    head.load_state_dict(state["state_dict"])
    return head.eval()


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same encoder up to dtype/device noise: probe states agree to 1 % of their scale."""
    return a.shape == b.shape and bool((a - b).abs().max() <= 1e-2 * b.abs().max().clamp_min(1e-6))


def default_cache_dir() -> Path:
    """``$ZONE_CACHE_DIR``, else ``$XDG_CACHE_HOME/comfyui_zone`` (``~/.cache/comfyui_zone``), else the temp dir."""
    if os.environ.get("ZONE_CACHE_DIR"):
        return Path(os.environ["ZONE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if base and os.access(os.path.dirname(base.rstrip(os.sep)) or base, os.W_OK):
        return Path(base) / "comfyui_zone"
    return Path(tempfile.gettempdir()) / "comfyui_zone"


def load_or_train(
    encoder: Encoder,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
    check: Callable[[], None] | None = None,
) -> ActionHead:
    """The head for ``encoder``: from memory, else from ``cache_dir`` (file ``action_head_<fingerprint>.pt`` or any
    cached head whose probe outputs match), else trained now and saved there. Trains once per encoder."""
    examples = load_dataset(split="train")
    probe = _probe(encoder)
    fp = _fingerprint(probe, examples)
    if fp in _MEMORY:
        return _MEMORY[fp]
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "action_classifier"
    exact = folder / f"action_head_{fp}.pt"
    candidates = [exact] + sorted(p for p in folder.glob("action_head_*.pt") if p != exact) if folder.is_dir() else []
    for path in candidates:
        if not path.is_file():
            continue
        state = _load(path)
        if state is None or not _close(state["probe"], probe):
            continue
        if state.get("data") == _dataset_tag(examples):
            _MEMORY[fp] = _head_from(state)
            return _MEMORY[fp]
    result = train_head(encoder, examples, seed=seed, progress=progress, check=check)
    try:
        _save(result, exact)
    except OSError:  # read-only cache dir: keep the head in memory only
        pass
    _MEMORY[fp] = result.head
    return result.head


def predict(head: ActionHead, encoder: Encoder, texts: Sequence[str]) -> torch.Tensor:
    """Class probabilities float32 [N, 3] (change, add, remove) for ``texts``."""
    hidden, mask = encode(encoder, texts)
    with torch.no_grad():
        return torch.softmax(head(hidden, mask), dim=-1)


# ---------------------------------------------------------------- evaluation
def evaluate(labels: Iterable[Action | int], predictions: Iterable[Action | int]) -> dict:
    """Accuracy overall and per class: ``{"accuracy": a, "per_class": {"change": a0, ...}, "n": n, "confusion":
    [[count true i predicted j]]}``."""
    pairs = [(int(t), int(p)) for t, p in zip(labels, predictions)]
    confusion = [[0] * 3 for _ in range(3)]
    for t, p in pairs:
        confusion[t][p] += 1
    per = {a.name.lower(): (confusion[a][a] / max(sum(confusion[a]), 1)) for a in Action}
    acc = sum(confusion[i][i] for i in range(3)) / max(len(pairs), 1)
    return {"accuracy": acc, "per_class": per, "n": len(pairs), "confusion": confusion}


def evaluate_lexical(examples: Sequence[Example] | None = None) -> dict:
    """``evaluate`` of the lexical classifier on ``examples`` (default: the shipped test split)."""
    examples = examples if examples is not None else load_dataset(split="test")
    return evaluate([e.label for e in examples], [classify_lexical(e.text)[0] for e in examples])


def evaluate_encoder(
    encoder: Encoder, head: ActionHead | None = None, examples: Sequence[Example] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> dict:
    """``evaluate`` of the encoder + head on ``examples`` (default: the shipped test split)."""
    examples = examples if examples is not None else load_dataset(split="test")
    head = head if head is not None else load_or_train(encoder, cache_dir)
    probs = predict(head, encoder, [e.text for e in examples])
    return evaluate([e.label for e in examples], probs.argmax(1).tolist())


# ---------------------------------------------------------------- the stage
def classify(
    instruction: str,
    encoder: Encoder | None = None,
    cache_dir: str | os.PathLike | None = None,
    mode: str = "auto",
    beta_remove: float = DEFAULT_BETA_REMOVE,
    beta_other: float = DEFAULT_BETA_OTHER,
    encoder_name: str = "encoder-mlp",
    progress: ProgressFn | None = None,
    check: Callable[[], None] | None = None,
) -> ZoneAction:
    """Classify ``instruction`` -> ZoneAction (label, probabilities, beta, decided_by, instruction).

    mode: "auto" (encoder + head when ``encoder`` is given, else lexical), "lexical", "encoder" (requires one),
    or a manual label "change" / "add" / "remove" (probabilities one-hot, decided_by "manual").
    ``decided_by`` is "manual", "lexical" or ``encoder_name``. The head is trained on first use per encoder
    (``progress``/``check`` see ``train_head``) and cached in ``cache_dir`` (default ``default_cache_dir()``).
    Raises ZoneInputError for an empty instruction or an unknown mode.
    """
    text = _check_instruction(instruction)
    mode = (mode or "auto").strip().lower()
    if mode not in MODES:
        raise ZoneInputError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode in ("change", "add", "remove"):
        label = Action.parse(mode)
        probs = tuple(1.0 if a is label else 0.0 for a in Action)
        decided = "manual"
    elif mode == "lexical" or (mode == "auto" and encoder is None):
        label, probs = classify_lexical(text)
        decided = "lexical"
    else:
        if encoder is None:
            raise ZoneInputError("mode 'encoder' needs a text encoder (connect a CLIP), or use mode 'auto'")
        head = load_or_train(encoder, cache_dir, progress=progress, check=check)
        p = predict(head, encoder, [text])[0].tolist()
        probs = (p[0], p[1], p[2])
        label = Action(max(range(3), key=lambda i: p[i]))
        decided = encoder_name
    probs = tuple(float(x) for x in probs)
    if not all(math.isfinite(x) for x in probs):
        raise ZoneInputError(f"{NON_FINITE_ENCODER} (probabilities {probs})")
    return ZoneAction(
        label=label,
        probabilities=probs,  # type: ignore[arg-type]
        beta=default_beta(label, beta_remove, beta_other),
        decided_by=decided,
        instruction=text,
    )
