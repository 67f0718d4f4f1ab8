"""The attention recorder and the diffusers hook: exact probabilities on the five 1/32 layers, running mean with
flat memory, exact restoration of the UNet (also when sampling raises)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tiny_models import single_thread, tiny_backend
from zone_ops.stages.attention_hook import (
    RECORDED_LAYERS,
    AttentionRecorder,
    DiffusersAttentionHook,
    attention_probs,
    guidance_rows,
)
from zone_ops.stages.fused_sampler import SamplerSettings, fused_edit


@pytest.fixture(scope="module", autouse=True)
def backend():
    """The tiny IP2P backend; the module's tests run torch on one thread (tiny models are faster so)."""
    with single_thread():
        yield tiny_backend(0)


def _unet_inputs(batch: int, h: int = 8, w: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(3 * batch, 8, h, w, generator=g), torch.randn(3 * batch, 77, 32, generator=g)


def test_attention_probs_is_the_explicit_softmax():
    q, k = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 77, 4)
    p = attention_probs(q.half(), k.half())
    assert p.dtype == torch.float32 and p.shape == (2, 3, 5, 77)
    ref = torch.softmax(q.half().float() @ k.half().float().transpose(-1, -2) / 2.0, dim=-1)
    assert torch.allclose(p, ref, atol=1e-6) and torch.allclose(p.sum(-1), torch.ones(2, 3, 5))


def test_recorder_averages_heads_kept_rows_and_calls():
    rec = AttentionRecorder(batch_size=2)  # keeps "image" and "uncond"
    branches, items = guidance_rows(2)  # text,text,image,image,uncond,uncond ; items 0,1,0,1,0,1
    probs = torch.zeros(6, 2, 8, 77)
    for row in range(6):
        probs[row, 0, :, row] = 1.0  # head 0 looks at token `row`, head 1 at token 70
        probs[row, 1, :, 70] = 1.0
    rec.add("a", probs, branches, items, latent_hw=(8, 16))  # 8 positions in a 8x16 latent -> 2x4 map
    rec.add("b", probs, branches, items, latent_hw=(8, 16))
    maps = rec.maps()
    assert maps.shape == (2, 2, 4, 77)
    # item 0 keeps rows 2 (image) and 4 (uncond): head mean 0.5 on tokens 2 and 4 each averaged over 2 rows
    expected0 = torch.zeros(77)
    expected0[[2, 4]] = 0.25
    expected0[70] = 0.5
    assert torch.allclose(maps[0, 1, 3], expected0) and maps[0, :, :, 0].abs().max() == 0  # text row dropped
    att = rec.to_attention([5, 6], image_size=(100, 200), steps=1)
    assert att.token_counts == (5, 6) and att.image_size == (100, 200) and att.branches == ("image", "uncond")
    # a backend may split the guidance batch over calls: same average
    split = AttentionRecorder(batch_size=2)
    for rows in ([0, 1, 2], [3, 4, 5]):
        for key in ("a", "b"):
            split.add(key, probs[rows], [branches[r] for r in rows], [items[r] for r in rows], (8, 16))
    assert torch.allclose(split.maps(), maps)
    with pytest.raises(ValueError, match="branch labels"):
        rec.add("c", probs, branches[:3], items, (8, 16))
    with pytest.raises(RuntimeError, match="no cross-attention"):
        AttentionRecorder(1).maps()


def _capture_qk(unet):
    """Forward hooks on to_q / to_k of the recorded attn2 layers (each layer's first q/k of a UNet call)."""
    store: dict[str, list] = {}
    handles = []
    for layer in RECORDED_LAYERS:
        attn = unet.get_submodule(f"{layer}.transformer_blocks.0.attn2")
        for name in ("to_q", "to_k"):
            handles.append(getattr(attn, name).register_forward_hook(
                lambda m, i, o, key=(layer, name): store.setdefault(key[0], {}).setdefault(key[1], []).append(o.detach())))
    return store, handles


def test_recorded_maps_equal_direct_recomputation(backend):
    unet = backend.unet
    batch, calls = 2, 2
    rec = AttentionRecorder(batch_size=batch)
    store, handles = _capture_qk(unet)
    try:
        with torch.no_grad(), DiffusersAttentionHook(unet, rec):
            for c in range(calls):
                x, ctx = _unet_inputs(batch, seed=c)
                unet(x, 500 - 100 * c, encoder_hidden_states=ctx)
    finally:
        for h in handles:
            h.remove()
    total = torch.zeros(batch, 2 * 4, 77)
    kept = [r for r, b in enumerate(guidance_rows(batch)[0]) if b in ("image", "uncond")]
    heads = unet.get_submodule(f"{RECORDED_LAYERS[0]}.transformer_blocks.0.attn2").heads
    for layer in RECORDED_LAYERS:
        qs, ks = store[layer]["to_q"], store[layer]["to_k"]
        assert len(qs) == len(ks) == 2 * calls  # the recorder's q/k and the attention's own (identical)
        for c in range(calls):
            q, k = qs[2 * c], ks[2 * c]
            assert torch.equal(q, qs[2 * c + 1])
            d = q.shape[-1] // heads
            q = q.view(3 * batch, -1, heads, d).transpose(1, 2)
            k = k.view(3 * batch, -1, heads, d).transpose(1, 2)
            p = torch.softmax((q @ k.transpose(-1, -2)) / d**0.5, dim=-1).mean(1)  # [rows, N, 77]
            for r in kept:
                total[r % batch] += p[r]
    expected = total / (len(RECORDED_LAYERS) * calls * 2)
    assert torch.allclose(rec.maps().reshape(batch, -1, 77), expected, atol=1e-6)
    assert rec.layers == {f"{layer}.transformer_blocks.0.attn2" for layer in RECORDED_LAYERS}
    assert rec.map_hw == (2, 4)


def test_unet_is_exactly_restored_and_unchanged_while_hooked(backend):
    unet = backend.unet
    x, ctx = _unet_inputs(1, h=8, w=8, seed=5)
    before_procs = dict(unet.attn_processors)
    with torch.no_grad():
        before = unet(x, 300, encoder_hidden_states=ctx).sample
        hook = DiffusersAttentionHook(unet, AttentionRecorder(1)).install()
        hooked_procs = unet.attn_processors
        during = unet(x, 300, encoder_hidden_states=ctx).sample
        hook.remove()
        after = unet(x, 300, encoder_hidden_states=ctx).sample
    changed = [k for k in before_procs if hooked_procs[k] is not before_procs[k]]
    assert len(changed) == 5 and all(".attn2." in k and k.startswith(tuple(RECORDED_LAYERS)) for k in changed)
    assert torch.equal(before, after) and torch.equal(before, during)
    after_procs = unet.attn_processors
    assert after_procs.keys() == before_procs.keys()
    assert all(after_procs[k] is before_procs[k] for k in before_procs)
    assert not unet._forward_pre_hooks
    hook.remove()  # idempotent


class Cancelled(Exception):
    """Stands for ComfyUI's InterruptProcessingException."""


def test_hook_removed_when_sampling_raises(backend):
    unet = backend.unet
    before_procs = dict(unet.attn_processors)

    def cancel_at_second_step(state={"n": 0}):
        state["n"] += 1
        if state["n"] == 2:
            raise Cancelled("user cancelled")

    image = np.full((1, 64, 64, 3), 0.5, np.float32)
    with pytest.raises(Cancelled):
        fused_edit(backend, image, "make it red", SamplerSettings(steps=3, working_size=64), check_cancel=cancel_at_second_step)
    assert all(unet.attn_processors[k] is before_procs[k] for k in before_procs)
    assert not unet._forward_pre_hooks


def test_recorder_memory_is_flat_in_steps(backend):
    image = np.full((1, 64, 64, 3), 0.5, np.float32)
    sizes = {}
    for steps in (2, 20):
        rec = AttentionRecorder(1)
        cond, counts = backend.encode_prompts(["make it red"])
        latents = backend.encode_images(torch.from_numpy(image))
        ip2p, _ = backend.trajectories(cond, latents, SamplerSettings(steps=steps, working_size=64), rec)
        try:
            with torch.no_grad():
                x = ip2p.start(torch.randn(1, 4, 8, 8))
                for i in range(steps):
                    x = ip2p.step(x, i)
        finally:
            ip2p.close()
        assert rec.calls == 5 * steps
        sizes[steps] = rec.nbytes
    assert sizes[2] == sizes[20] == 1 * 2 * 2 * 77 * 4 + 8  # one [1, 4, 77] fp32 sum + one float64 count


def test_hook_rejects_a_unet_without_the_sd15_layout():
    from diffusers import UNet2DConditionModel

    small = UNet2DConditionModel(
        sample_size=8, in_channels=8, out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), block_out_channels=(32, 32), layers_per_block=1,
        attention_head_dim=4, cross_attention_dim=32, norm_num_groups=32,
    )
    before = dict(small.attn_processors)
    with pytest.raises(ValueError, match="SD1.5-layout"):
        DiffusersAttentionHook(small, AttentionRecorder(1)).install()
    assert all(small.attn_processors[k] is before[k] for k in before)
