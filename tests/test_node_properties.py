"""Property-based robustness of every node (Hypothesis), generic over NODE_CLASS_MAPPINGS and each INPUT_TYPES.

Every node is driven with random image sizes, dtypes (float16/32/64, bfloat16, uint8), non-contiguous layouts, batch
sizes (matching, broadcast or mismatched) and widget values (in range, out of range, NaN, inf). A run must either
raise ZoneInputError with a message (and, for a widget value outside its declaration, one naming that widget and the
node), or return outputs of the declared types with the right batch, size, dtype (float32) and range (0..1). The
inputs are never changed, and the composite's pixels where its alpha is 0 equal the original bit for bit. Only
ZoneInputError is caught: any other exception fails the test.

Widgets are drawn from their own declarations, so new widgets and nodes are covered without changes here; a node
with a new link type needs a strategy in LINKS (the test says so). COST_CAPS only bounds the drawn range of widgets
that make a run slow on a CPU (SAM's point grid, the sampler's steps); the out-of-range values are still drawn.
"""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from comfyui_zone.nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from comfyui_zone.nodes.widgets import CHECKED, input_specs, widget_specs
from comfyui_zone.zone_ops.core.images import ZoneInputError
from comfyui_zone.zone_ops.core.types import Action, ZoneAction, ZoneAttention
from tiny_models import single_thread, tiny_backend, tiny_sam

#: Nodes that read files by name (driven by their own tests).
NOT_DRIVEN = {"ZoneSAMLoader": "loads a checkpoint file chosen from models/sams"}
#: Upper bounds of the in-range values drawn for widgets that make a CPU run slow.
COST_CAPS = {"points_per_side": 3, "points_per_batch": 64, "crop_n_layers": 1, "steps": 1, "working_size": 64}
DTYPES = (torch.float16, torch.float32, torch.float64, torch.bfloat16, torch.uint8)
#: Examples per node (the SAM and sampler runs cost the most on a CPU); others get DEFAULT_EXAMPLES.
EXAMPLES = {"ZoneSAMRegionIoU": 8, "ZoneFusedIP2PSampler": 4}
DEFAULT_EXAMPLES = 25

_CACHE: dict[str, Any] = {}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run faster on one thread than on a busy machine's many."""
    with single_thread():
        yield


def _sam():
    if "sam" not in _CACHE:
        _CACHE["sam"] = tiny_sam().eval()
    return _CACHE["sam"]


def _backend(*_args, **_kwargs):
    if "backend" not in _CACHE:
        _CACHE["backend"] = tiny_backend()
    return _CACHE["backend"]


# ------------------------------------------------------------------------------------------------ tensors
@st.composite
def layouts(draw, shape: tuple[int, ...], kind: str) -> torch.Tensor:
    """A tensor of ``shape`` in 0..1 (uint8: 0..255) of a random dtype, contiguous or not."""
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**16))
    gen = torch.Generator().manual_seed(seed)
    values = torch.rand(shape, generator=gen, dtype=torch.float64)
    if kind == "MASK" and draw(st.booleans()):
        values = (values > 0.6).to(torch.float64)  # a binary mask, as most masks are
    if dtype == torch.uint8:
        values = (values * 255).round()
    tensor = values.to(dtype)
    layout = draw(st.sampled_from(["contiguous", "transposed", "strided"]))
    if layout == "transposed" and tensor.ndim >= 3:  # same values, swapped memory order of H and W
        tensor = tensor.transpose(-1 if kind == "MASK" else -2, -2 if kind == "MASK" else -3).contiguous()
        tensor = tensor.transpose(-1 if kind == "MASK" else -2, -2 if kind == "MASK" else -3)
    elif layout == "strided":  # every other element of a bigger tensor
        big = torch.zeros(*shape[:-1], shape[-1] * 2, dtype=dtype)
        big[..., ::2] = tensor
        tensor = big[..., ::2]
    return tensor


def _sizes(draw) -> dict[str, Any]:
    batch = draw(st.integers(1, 3))
    h, w = draw(st.integers(8, 40)), draw(st.integers(8, 40))
    return {"batch": batch, "size": (h, w), "mismatch": draw(st.integers(0, 5)) == 0}


# ------------------------------------------------------------------------------------------------ links
def _image(draw, ctx, name):
    n = _batch_n(draw, ctx)
    h, w = ctx["size"]
    if name == "canvas" and draw(st.integers(0, 3)) == 0:  # another size: resized to the original
        h, w = draw(st.integers(8, 40)), draw(st.integers(8, 40))
    channels = 3 if name in ("original", "canvas") else draw(st.sampled_from([3, 3, 1, 4]))
    return draw(layouts((n, h, w, channels), "IMAGE"))


def _mask(draw, ctx, name):
    h, w = ctx["size"]
    if draw(st.integers(0, 5)) == 0:
        return draw(layouts((h, w), "MASK"))  # a [H, W] mask
    return draw(layouts((_batch_n(draw, ctx), h, w), "MASK"))


def _attention(draw, ctx, name):
    n = _batch_n(draw, ctx)
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    maps = torch.softmax(torch.randn(n, 2, 3, 77, generator=gen) * 3, dim=-1)
    counts = tuple(draw(st.integers(2, 20)) for _ in range(n))
    return ZoneAttention(maps, counts, ctx["size"], 2)


def _action(draw, ctx, name):
    def one():
        label = draw(st.sampled_from(list(Action)))
        probs = tuple(1.0 if a is label else 0.0 for a in Action)
        return ZoneAction(label, probs, 0.2 if label is Action.REMOVE else 0.01, "manual")

    if draw(st.booleans()):
        return one()
    return [one() for _ in range(_batch_n(draw, ctx))]


class FakeModelPatcher:
    """What a MODEL patch node touches of ComfyUI's ModelPatcher: clone, model_options, wrappers (no ComfyUI here;
    tests/test_latent_lock.py patches real ones)."""

    def __init__(self) -> None:
        self.model_options: dict = {"transformer_options": {}}
        self.wrappers: dict = {}

    def clone(self) -> "FakeModelPatcher":
        import copy

        n = FakeModelPatcher()
        n.model_options = copy.deepcopy(self.model_options)
        n.wrappers = {k: {kk: list(vv) for kk, vv in v.items()} for k, v in self.wrappers.items()}
        return n

    def add_wrapper_with_key(self, kind: str, key: str, wrapper) -> None:
        self.wrappers.setdefault(kind, {}).setdefault(key, []).append(wrapper)

    def remove_wrappers_with_key(self, kind: str, key: str) -> None:
        self.wrappers.get(kind, {}).pop(key, None)


def _latent(draw, ctx, name):
    h, w = ctx["size"]
    return {"samples": draw(layouts((_batch_n(draw, ctx), 4, max(1, h // 8), max(1, w // 8)), "LATENT"))}


LINKS = {
    "IMAGE": _image,
    "MASK": _mask,
    "ZONE_ATTENTION": _attention,
    "ZONE_ACTION": _action,
    "SAM_MODEL": lambda draw, ctx, name: _sam(),
    # the sampler: ComfyBackend is replaced by the tiny diffusers backend (the engine and node code are real)
    "MODEL": lambda draw, ctx, name: FakeModelPatcher(),
    "LATENT": _latent,
    "CLIP": lambda draw, ctx, name: object(),
    "VAE": lambda draw, ctx, name: object(),
}
#: Optional links left unconnected (the action classifier's CLIP head is trained on first use: its own tests).
UNCONNECTED = {("ZoneActionClassifier", "clip"), ("ZoneFusedIP2PSampler", "magicbrush_model")}


def _batch_n(draw, ctx) -> int:
    """The batch size of one input: the common one or 1 (broadcast); in one example of six, the first batched input
    gets one more (a mismatch, unless every other input broadcasts)."""
    if ctx.pop("mismatch", False):
        return ctx["batch"] + 1
    return draw(st.sampled_from([ctx["batch"]] * 3 + [1]))


# ------------------------------------------------------------------------------------------------ widgets
def _widget(draw, name: str, kind: Any, options: dict, bad: bool) -> tuple[Any, bool]:
    """(value, valid) for a widget declared as (kind, options); ``bad``: a number outside its declaration."""
    if kind in ("FLOAT", "INT"):
        lo, hi = options.get("min", -1e6), options.get("max", 1e6)
        hi_cheap = min(hi, COST_CAPS.get(name, hi))
        if not bad:
            if kind == "INT":
                return draw(st.integers(int(lo), int(hi_cheap))), True
            return draw(st.floats(lo, hi_cheap, allow_nan=False)), True
        if kind == "INT":
            return draw(st.sampled_from([int(lo) - 1, int(hi) + 1])), False
        return draw(st.sampled_from([math.nan, math.inf, -math.inf, lo - 1.0, hi + 1.0])), False
    if kind == "BOOLEAN":
        return draw(st.booleans()), True
    if kind == "STRING":
        return draw(st.sampled_from(["make the cat blue", "remove the dog", "add a hat", "", "  "])), True
    if isinstance(kind, (list, tuple)):
        return draw(st.sampled_from(list(kind))), True
    raise AssertionError(f"no strategy for widget {name!r} of kind {kind!r}")


@st.composite
def node_inputs(draw, key: str) -> tuple[dict[str, Any], set[str], dict[str, Any]]:
    """(kwargs, names of invalid widget values, context) for one call of node ``key``."""
    node_cls = NODE_CLASS_MAPPINGS[key]
    ctx = _sizes(draw)
    declared = node_cls.INPUT_TYPES()
    numbers = [n for section in declared.values() for n, spec in section.items() if spec[0] in ("FLOAT", "INT")]
    bad = draw(st.sampled_from([None] * len(numbers) + numbers))  # half the examples: one number out of bounds
    kwargs, invalid = {}, set()
    for section in ("required", "optional"):
        for name, (kind, *rest) in (declared.get(section) or {}).items():
            options = rest[0] if rest else {}
            if section == "optional" and ((key, name) in UNCONNECTED or not draw(st.booleans())):
                continue
            if isinstance(kind, str) and kind in LINKS:
                kwargs[name] = LINKS[kind](draw, ctx, name)
            elif isinstance(kind, str) and kind.isupper() and kind not in ("FLOAT", "INT", "BOOLEAN", "STRING"):
                raise AssertionError(f"{key}.{name}: no strategy for link type {kind}: add one to LINKS")
            else:
                kwargs[name], ok = _widget(draw, name, kind, options, name == bad)
                if not ok:
                    invalid.add(name)
    return kwargs, invalid, ctx


# ------------------------------------------------------------------------------------------------ checks
def _snapshot(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return (value.dtype, tuple(value.shape), value.stride(), value.detach().to(torch.float64).clone())
    if isinstance(value, ZoneAttention):
        return _snapshot(value.maps)
    if isinstance(value, (list, tuple)):
        return [_snapshot(v) for v in value]
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    if isinstance(value, FakeModelPatcher):
        return repr(value.model_options), repr(value.wrappers)
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) and len(a) == 4 and isinstance(a[3], torch.Tensor):
        return a[:3] == b[:3] and torch.equal(a[3], b[3])
    if isinstance(a, list):
        return all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _batch(kwargs: dict[str, Any]) -> int:
    sizes = []
    for value in kwargs.values():
        if isinstance(value, torch.Tensor):
            sizes.append(1 if value.ndim == 2 else value.shape[0])
        elif isinstance(value, ZoneAttention):
            sizes.append(value.batch_size)
        elif isinstance(value, list):
            sizes.append(len(value))
    return max(sizes, default=1)


def _as_float(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float32) / 255.0 if t.dtype == torch.uint8 else t.to(torch.float32)


def check_outputs(key: str, kwargs: dict[str, Any], ctx: dict[str, Any], outputs: tuple) -> None:
    node_cls = NODE_CLASS_MAPPINGS[key]
    assert isinstance(outputs, tuple) and len(outputs) == len(node_cls.RETURN_TYPES)
    batch = _batch(kwargs)
    size = ctx["size"] if "original" in kwargs or "attention" in kwargs else None
    if size is None and isinstance(kwargs.get("image"), torch.Tensor):
        size = tuple(kwargs["image"].shape[1:3])
    for kind, name, out in zip(node_cls.RETURN_TYPES, node_cls.RETURN_NAMES, outputs):
        where = f"{key}.{name}"
        if kind in ("IMAGE", "MASK"):
            assert isinstance(out, torch.Tensor) and out.dtype == torch.float32, where
            assert out.ndim == (4 if kind == "IMAGE" else 3) and out.shape[0] == batch, (where, out.shape)
            assert size is None or tuple(out.shape[1:3]) == size, (where, out.shape, size)
            if kind == "IMAGE":
                assert out.shape[-1] == 3, where
            assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1, where
        elif kind == "STRING":
            assert isinstance(out, str), where
        elif kind == "ZONE_ACTION":
            assert isinstance(out, ZoneAction) and math.isclose(sum(out.probabilities), 1.0, abs_tol=1e-5), where
        elif kind == "MODEL":  # a patched clone; the input MODEL is checked unchanged by run_node
            assert isinstance(out, FakeModelPatcher) and out is not kwargs["model"], where
            assert all(any(out.wrappers.get(k, {}).values()) for k in ("sampler_sample", "predict_noise")), where
        elif kind == "ZONE_ATTENTION":
            assert isinstance(out, ZoneAttention) and out.batch_size == batch, where
            assert tuple(out.image_size) == size and torch.isfinite(out.maps).all(), where
        else:
            raise AssertionError(f"{where}: no check for output type {kind}")
    if key == "ZoneLayerComposite":  # pixels where alpha is 0 are the original's, bit for bit
        image, _, alpha = outputs[:3]
        original = _as_float(kwargs["original"])
        original = original.expand(batch, *original.shape[1:]) if original.shape[0] == 1 else original
        untouched = alpha == 0
        assert torch.equal(image[untouched], original[untouched])


def run_node(key: str, kwargs: dict[str, Any], invalid: set[str], ctx: dict[str, Any]) -> bool:
    """Run the node once and check the properties; True when it returned outputs (False: a ZoneInputError)."""
    node_cls = NODE_CLASS_MAPPINGS[key]
    before = {k: _snapshot(v) for k, v in kwargs.items()}
    with mock.patch("comfyui_zone.nodes.comfy_backend.ComfyBackend", _backend), torch.inference_mode():
        try:
            outputs = getattr(node_cls(), node_cls.FUNCTION)(**kwargs)
        except ZoneInputError as exc:
            message = str(exc)
            assert message.strip(), "a ZoneInputError needs a message"
            if invalid:
                assert any(f"'{name}'" in message for name in invalid), (invalid, message)
                assert NODE_DISPLAY_NAME_MAPPINGS[key] in message, message
            outputs = None
    if outputs is not None:
        assert not invalid, f"{key} accepted invalid widget values {sorted(invalid)}"
        check_outputs(key, kwargs, ctx, outputs)
    for k, v in kwargs.items():
        assert _same(_snapshot(v), before[k]), f"{key} changed its input {k!r}"
    return outputs is not None


DRIVEN = sorted(k for k in NODE_CLASS_MAPPINGS if k not in NOT_DRIVEN)


@pytest.mark.parametrize("key", DRIVEN)
def test_node_properties(key):
    # derandomized (the same examples every run), no shrinking (a failure prints its full example instead)
    @settings(max_examples=EXAMPLES.get(key, DEFAULT_EXAMPLES), deadline=None, derandomize=True, database=None,
              phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck))
    @given(node_inputs(key))
    def check(drawn):
        outcomes.append(run_node(key, *drawn))

    outcomes: list[bool] = []
    check()
    assert any(outcomes), f"{key}: no drawn example ran through; the strategies only test the error paths"


# ------------------------------------------------------------------------------------------------ fixed cases
def _defaults(key: str, **links) -> dict[str, Any]:
    """Every widget at its declared default (combos: the default or first choice), plus ``links``."""
    kwargs = dict(links)
    for name, (kind, options) in widget_specs(NODE_CLASS_MAPPINGS[key]).items():
        if name in kwargs or (isinstance(kind, str) and kind in LINKS):
            continue
        if kind == "STRING":
            kwargs[name] = "make the cat blue"
        else:
            kwargs[name] = options.get("default", kind[0] if isinstance(kind, list) and kind else None)
        if name in COST_CAPS and isinstance(kwargs[name], (int, float)):
            kwargs[name] = min(kwargs[name], COST_CAPS[name])
    return kwargs


def _default_links(ctx=None) -> dict[str, Any]:
    ctx = ctx or {"batch": 2, "size": (24, 32)}
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(2, *ctx["size"], 3, generator=gen)
    mask = torch.zeros(2, *ctx["size"])
    mask[:, 6:18, 8:24] = 1
    action = ZoneAction(Action.CHANGE, (1.0, 0.0, 0.0), 0.01, "manual")
    maps = torch.softmax(torch.randn(2, 2, 3, 77, generator=gen), -1)
    return {"image": image, "original": image, "canvas": image.flip(-1), "refined_mask": mask, "final_mask": mask,
            "coarse_mask": mask, "sam_model": _sam(), "ip2p_model": object(), "clip": object(), "vae": object(),
            "model": FakeModelPatcher(), "mask": mask,
            "attention": ZoneAttention(maps, (5, 7), ctx["size"], 2), "action": action,
            "edited": image.flip(-2), "valid_mask": torch.ones(2, *ctx["size"])}


def _links_for(declared: dict, links: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``links`` that are link inputs of a node declaring ``declared``: a combo widget may share a
    link's name (Align Edit's ``model`` widget vs Latent Lock's ``model`` MODEL input)."""
    return {k: v for k, v in links.items() if k in declared and isinstance(declared[k][0], str)
            and declared[k][0] in LINKS}


@pytest.mark.parametrize("key", DRIVEN)
def test_defaults_and_uint8_give_outputs(key):
    """At the declared defaults every node runs; a uint8 image gives what the same image as float 0..1 gives."""
    declared = widget_specs(NODE_CLASS_MAPPINGS[key])
    links = {k: v for k, v in _links_for(declared, _default_links()).items() if (key, k) not in UNCONNECTED}
    links.update({k: {"samples": torch.rand(2, 4, 3, 4)} for k in links if declared[k][0] == "LATENT"})
    kwargs = _defaults(key, **links)
    ctx = {"batch": 2, "size": (24, 32)}
    node = NODE_CLASS_MAPPINGS[key]()
    with mock.patch("comfyui_zone.nodes.comfy_backend.ComfyBackend", _backend), torch.inference_mode():
        as_float = getattr(node, node.FUNCTION)(**kwargs)
        check_outputs(key, kwargs, ctx, as_float)
        images = {k for k, v in kwargs.items() if isinstance(v, torch.Tensor) and v.ndim == 4}
        if not images:
            return
        quantized = {k: (kwargs[k] * 255).round() for k in images}
        as_u8 = getattr(node, node.FUNCTION)(**(kwargs | {k: q.to(torch.uint8) for k, q in quantized.items()}))
        as_f = getattr(node, node.FUNCTION)(**(kwargs | {k: q / 255 for k, q in quantized.items()}))
    for kind, a, b in zip(NODE_CLASS_MAPPINGS[key].RETURN_TYPES, as_u8, as_f):
        if kind in ("IMAGE", "MASK"):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_every_node_checks_its_widgets():
    for key, cls in NODE_CLASS_MAPPINGS.items():
        assert getattr(getattr(cls, cls.FUNCTION), CHECKED, False), key


@pytest.mark.parametrize(
    "key, widget, value",
    [
        ("ZoneLayerComposite", "feather", math.nan),
        ("ZoneLayerComposite", "feather", math.inf),
        ("ZoneSAMRegionIoU", "crop_margin", math.nan),
        ("ZoneSAMRegionIoU", "crop_n_layers", -1),
        ("ZoneFFTEdgeSmoother", "threshold", math.nan),
        ("ZoneFFTEdgeSmoother", "cutoff", math.nan),
        ("ZoneFusedIP2PSampler", "text_scale", 1e30),
    ],
)
def test_reported_bad_widgets_name_widget_and_node(key, widget, value):
    kwargs = _defaults(key, **{k: v for k, v in _default_links().items() if k in widget_specs(NODE_CLASS_MAPPINGS[key])})
    kwargs[widget] = value
    node = NODE_CLASS_MAPPINGS[key]()
    with torch.inference_mode(), pytest.raises(ZoneInputError) as info:
        getattr(node, node.FUNCTION)(**kwargs)
    assert f"'{widget}'" in str(info.value) and NODE_DISPLAY_NAME_MAPPINGS[key] in str(info.value)


def test_action_list_shorter_than_the_batch():
    kwargs = _defaults("ZoneSAMRegionIoU", **{k: v for k, v in _default_links().items()
                                              if k in widget_specs(NODE_CLASS_MAPPINGS["ZoneSAMRegionIoU"])})
    action = kwargs["action"]
    kwargs["original"] = kwargs["canvas"] = torch.rand(3, 24, 32, 3)
    kwargs["coarse_mask"] = kwargs["coarse_mask"][:1]
    kwargs["action"] = [action, action]
    node = NODE_CLASS_MAPPINGS["ZoneSAMRegionIoU"]()
    with torch.inference_mode(), pytest.raises(ZoneInputError, match="action=2"):
        node.refine(**kwargs)


# ------------------------------------------------------------------------------------------------ wrong Python types
def _wrong_values(kind, required: bool, good) -> list:
    """What scripts and other packs have been seen to pass: None, numbers as text, numpy arrays, text as an image."""
    bad = []
    if required or kind in ("INT", "FLOAT", "BOOLEAN", "STRING") or isinstance(kind, list):
        bad.append(None)
    if kind in ("IMAGE", "MASK"):
        bad += [np.asarray(good), "image.png", good[0, 0] if kind == "IMAGE" else good[0, 0, 0], torch.zeros(0, 4, 4, 3)]
    elif kind in ("INT", "FLOAT"):
        bad += [str(good), np.asarray([good]), [good]]
    elif kind == "BOOLEAN":
        bad += ["true", 1]
    elif kind == "STRING":
        bad += [3, ["text"]]
    elif isinstance(kind, list) and kind:
        bad += [3, [kind[0]]]
    return bad


def test_wrong_python_types_at_any_input_name_node_and_input():
    """Every input of every node, given a wrong Python type, gives a ZoneInputError naming the node and the input
    (not an AttributeError / TypeError from deep inside). Counted: every case must be refused this way."""
    links = _default_links()
    cases = refused = 0
    wrong = []
    for key, cls in NODE_CLASS_MAPPINGS.items():
        declared = input_specs(cls)
        kwargs = _defaults(key, **_links_for(declared, links))
        if key == "ZoneSAMLoader":
            kwargs = {"model_name": "sam.pth", "device": "cpu"}
        node = cls()
        for name, (kind, _options, required) in declared.items():
            good = kwargs.get(name)
            if good is None:
                continue
            for value in _wrong_values(kind, required, good):
                cases += 1
                try:
                    with torch.inference_mode():
                        getattr(node, cls.FUNCTION)(**(kwargs | {name: value}))
                except ZoneInputError as exc:
                    if f"'{name}'" in str(exc) and NODE_DISPLAY_NAME_MAPPINGS[key] in str(exc):
                        refused += 1
                        continue
                    wrong.append(f"{key}.{name}={value!r:.40}: {exc}")
                except Exception as exc:  # noqa: BLE001 - exactly what is counted
                    wrong.append(f"{key}.{name}={value!r:.40}: {type(exc).__name__}: {exc}")
                else:
                    wrong.append(f"{key}.{name}={value!r:.40}: accepted")
    assert cases > 250 and not wrong, f"{len(wrong)} of {cases} bad: " + "; ".join(wrong[:8])


def test_images_over_the_pixel_limit_are_refused_by_every_image_input(monkeypatch):
    monkeypatch.setenv("ZONE_MAX_PIXELS", "500")
    links = _default_links()  # 24 x 32 = 768 px
    kwargs = _defaults("ZoneLayerComposite", **{k: v for k, v in links.items()
                                                if k in widget_specs(NODE_CLASS_MAPPINGS["ZoneLayerComposite"])})
    with torch.inference_mode(), pytest.raises(ZoneInputError) as info:
        NODE_CLASS_MAPPINGS["ZoneLayerComposite"]().run(**kwargs)
    assert "'original'" in str(info.value) and "32x24" in str(info.value) and "500 px" in str(info.value)
