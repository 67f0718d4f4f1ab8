"""Stage 1 at its edges: the keyword classifier's ties (documented order: remove > change > add) and its
pseudo-probabilities, and the encoder head's outputs computed by hand from known weights (standardisation, ReLU
MLP per token, masked mean over the real tokens, softmax), through ``predict`` and ``classify``."""

from __future__ import annotations

import math

import pytest
import torch

from zone_ops.core.types import Action
from zone_ops.stages import action_classifier as ac


@pytest.mark.parametrize("text, scores, label", [
    ("add paint", (2.5, 2.5, 0.0), Action.CHANGE),                                      # change = add
    ("replace the dog without a leash", (4.0, 0.0, 4.0), Action.REMOVE),                 # change = remove
    ("erase a hat, add a scarf and put a cup on it", (0.5, 3.0, 3.0), Action.REMOVE),    # add = remove
])
def test_keyword_ties_on_real_instructions_follow_the_documented_order(text, scores, label):
    assert ac.lexical_scores(text) == scores
    got, probs = ac.classify_lexical(text)
    assert got is label
    e = [math.exp(1.5 * s) for s in scores]  # softmax of 1.5 x the scores, by hand
    assert probs == pytest.approx(tuple(x / sum(e) for x in e), rel=1e-12)


@pytest.mark.parametrize("scores, label", [
    ((1.0, 1.0, 1.0), Action.REMOVE), ((1.0, 1.0, 0.0), Action.CHANGE), ((0.0, 1.0, 1.0), Action.REMOVE),
    ((1.0, 0.0, 1.0), Action.REMOVE), ((0.0, 0.0, 0.0), Action.REMOVE), ((0.0, 1.0, 0.0), Action.ADD),
])
def test_keyword_tie_order_remove_change_add(monkeypatch, scores, label):
    monkeypatch.setattr(ac, "lexical_scores", lambda text: scores)
    assert ac.classify_lexical("anything")[0] is label


def _known_head() -> ac.ActionHead:
    """D = 2, hidden 2. mean (1, 0), std (2, 1); W1 = [[1, 0], [0, -1]], b1 = (0, 0.5); W2 = [[1, 0], [0, 1],
    [1, 1]], b2 = (0, 0, -1)."""
    head = ac.ActionHead(2, hidden=2)
    with torch.no_grad():
        head.mean.copy_(torch.tensor([1.0, 0.0]))
        head.std.copy_(torch.tensor([2.0, 1.0]))
        head.mlp[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        head.mlp[0].bias.copy_(torch.tensor([0.0, 0.5]))
        head.mlp[2].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        head.mlp[2].bias.copy_(torch.tensor([0.0, 0.0, -1.0]))
    return head.eval()


# Tokens (3, 1) and (1, -2) standardise to (1, 1) and (0, -2); hidden relu(W1 x + b1) = (1, 0) and (0, 2.5);
# token logits W2 h + b2 = (1, 0, 0) and (0, 2.5, 1.5); their mean (0.5, 1.25, 0.75) -> softmax.
TOKENS = {"two tokens": [[3.0, 1.0], [1.0, -2.0]], "one token": [[3.0, 1.0]]}
MEAN_LOGITS = {"two tokens": (0.5, 1.25, 0.75), "one token": (1.0, 0.0, 0.0)}


def _softmax(z):
    e = [math.exp(x) for x in z]
    return [x / sum(e) for x in e]


def _encoder(texts):
    """Per-token states padded with (100, 100) tokens the mask marks as padding."""
    n = max(len(TOKENS[t]) for t in texts)
    hidden = torch.full((len(texts), n, 2), 100.0)
    mask = torch.zeros((len(texts), n), dtype=torch.bool)
    for k, t in enumerate(texts):
        hidden[k, : len(TOKENS[t])] = torch.tensor(TOKENS[t])
        mask[k, : len(TOKENS[t])] = True
    return hidden, mask


def test_head_probabilities_by_hand():
    probs = ac.predict(_known_head(), _encoder, ["two tokens", "one token"])  # "one token" is padded to 2
    expected = torch.tensor([_softmax(MEAN_LOGITS["two tokens"]), _softmax(MEAN_LOGITS["one token"])])
    torch.testing.assert_close(probs, expected, rtol=1e-6, atol=1e-7)
    assert expected[0].tolist() == pytest.approx([0.227220, 0.481024, 0.291756], abs=1e-6)


def test_classify_reports_the_head_probabilities_and_its_argmax(monkeypatch):
    monkeypatch.setattr(ac, "load_or_train", lambda *args, **kwargs: _known_head())
    action = ac.classify("two tokens", encoder=_encoder, mode="encoder", encoder_name="known")
    assert action.label is Action.ADD and action.decided_by == "known"
    assert action.probabilities == pytest.approx(_softmax(MEAN_LOGITS["two tokens"]), rel=1e-6)


def test_head_ties_go_to_the_lowest_class(monkeypatch):
    """Equal logits (a zero head): probabilities 1/3 each, label change (the first class)."""
    head = _known_head()
    with torch.no_grad():
        head.mlp[2].weight.zero_()
        head.mlp[2].bias.zero_()
    monkeypatch.setattr(ac, "load_or_train", lambda *args, **kwargs: head)
    action = ac.classify("two tokens", encoder=_encoder, mode="encoder")
    assert action.label is Action.CHANGE and action.probabilities == pytest.approx((1 / 3,) * 3)
