"""What each shipped workflow MEANS: which output feeds which input, and the widget values it ships with.

tests/test_workflows.py checks that the files are VALID (types match, values in range, UI and API twins agree). A
valid graph can still be wrong: Save Image reading Layer Composite's ``layer`` instead of its ``image`` (both IMAGE),
a stage reading the canvas where it should read the original, a changed threshold. Here each workflow has a
hand-written table of its intended wiring and values, checked against BOTH files (workflows/<name>.json and
workflows/api/<name>_api.json) on their own; any difference fails with a message naming the node, input and output.

Table format (add one entry to ``TABLES`` per workflow file; a workflow without a table fails
``test_every_workflow_has_a_table``):

    TABLES["zone_example"] = Table(
        nodes={
            # title -> N(node type, widget values that must be shipped, mode)
            "SAM loader": N("ZoneSAMLoader", model_name=(SAM_FILE, "reason why this value ships")),
            "Result": N("SaveImage", filename_prefix=("ZONE/edit", "reason")),
            "Bypassed thing": N("ZoneSomething", BYPASS),
        },
        links=[
            "Result.images <- 6. Layer Composite.image",  # "<dst title>.<input> <- <src title>.<output name>"
        ],
    )

- Nodes are named by their TITLE (unique in a workflow; notes are not listed) and links by INPUT and OUTPUT NAME
  (``RETURN_NAMES`` of the pack's nodes, ``output_name`` of core nodes), split at the LAST dot, so titles may
  contain dots ("6. Layer Composite"). The links listed must be exactly the file's links, no more, no fewer.
- Widget values: every widget the table does not list must hold the node's DEFAULT (the pack's INPUT_TYPES, or
  the core snapshot tests/data/comfy_core_nodes.json); a listed one must hold the listed value. The pack's
  defaults themselves are pinned in ``PACK_DEFAULTS`` (a changed default changes every workflow the builder
  writes), with ``NOT_OFFICIAL`` giving the reason of each default that leaves the official ZONE value. Each listed value
  carries the reason it ships (why it differs from the default, or why it is pinned). Widgets fed by a link are
  not checked. Seed widgets must ship "fixed" as control_after_generate (reproducible results).
- ``mode``: 0 (active, the default), ``MUTE`` (2) or ``BYPASS`` (4) as in the UI file. A muted or bypassed node
  is not checked in the API file (the frontend does not send it; its links are checked in the UI file only).
- Shared pieces (the ZONE edit chain, the localization chain, an editor + ZONE graph, KSampler + VAE Decode, the
  Qwen-Image-Edit nodes, a paid API editor node) are built by the functions below with a title prefix and their
  inputs, so a new graph reuses them; a value or link that differs in one graph is passed in.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import pytest

from test_workflows import (API_DIR, CARD_IDS, VIRTUAL, WORKFLOWS, NodeDef, _core_defs, _pack_defs,
                            expected_widget_values, ui_file)

MUTE, BYPASS = 2, 4
IP2P_FILE = "instruct-pix2pix-00-22000.safetensors"
MAGICBRUSH_FILE = "MagicBrush-epoch-52-step-4999.ckpt"
SAM_FILE = "sam_vit_h_4b8939.pth"
EXAMPLE = "example.png"

# reasons, shared by several tables
R_IP2P = "model file: the official ZONE editor (timbrooks/instruct-pix2pix); a file list has no default"
R_MB = "model file: the official second editor fused with IP2P (osunlp MagicBrush); a file list has no default"
R_SAM = "model file: the official SAM (ViT-H); a file list has no default"
R_EXAMPLE = "example.png ships with ComfyUI (input/), so the graph loads without a missing file"
R_PREFIX = "results saved under output/ZONE/ with a name per graph instead of ComfyUI_xxxxx"


class N:
    """One node of a table: ``N(node type, [mode,] widget=(value, reason), ...)``; type and mode are positional
    (widgets may be called ``type`` or ``mode``)."""

    def __init__(self, kind: str, node_mode: int = 0, /, **widgets: tuple[object, str]) -> None:
        self.type, self.mode, self.widgets = kind, node_mode, widgets


@dataclass
class Table:
    nodes: dict[str, N]
    links: list[str]

    def merged(self, other: "Table") -> "Table":
        clash = set(self.nodes) & set(other.nodes)
        assert not clash, f"titles used twice in a table: {sorted(clash)}"
        return Table({**self.nodes, **other.nodes}, self.links + other.links)


def parse_link(text: str) -> tuple[str, str, str, str]:
    """"Dst.input <- Src.output" -> (dst title, input, src title, output name)."""
    dst, src = (s.strip() for s in text.split("<-"))
    d_title, d_input = dst.rsplit(".", 1)
    s_title, s_output = src.rsplit(".", 1)
    return d_title.strip(), d_input.strip(), s_title.strip(), s_output.strip()


def fmt_link(link: tuple[str, str, str, str]) -> str:
    return f"{link[0]}.{link[1]} <- {link[2]}.{link[3]}"


# ------------------------------------------------------------------------------------------ shared pieces
def ip2p_loaders() -> Table:
    """The IP2P (+ MagicBrush) checkpoints, SAM and the image to edit (zone_local_edit, zone_multi_turn)."""
    return Table({
        "InstructPix2Pix checkpoint": N("CheckpointLoaderSimple", ckpt_name=(IP2P_FILE, R_IP2P)),
        "MagicBrush (optional: Ctrl+B turns it on)": N("CheckpointLoaderSimple", BYPASS, ckpt_name=(MAGICBRUSH_FILE, R_MB)),
        "SAM loader": N("ZoneSAMLoader", model_name=(SAM_FILE, R_SAM)),
        "Image to edit": N("LoadImage", image=(EXAMPLE, R_EXAMPLE)),
    }, [])


def edit_chain(prefix: str, image: str, instruction: str, save_prefix: str, previews: bool,
               model: str = "InstructPix2Pix checkpoint.MODEL") -> Table:
    """Instruction -> stages 1-6 -> Save. ``prefix``: "" ("1. Action Classifier") or "Turn 2" ("Turn 2: Action
    Classifier"); ``image``: what the chain edits ("Image to edit.IMAGE" or the previous turn's composite);
    ``model``: the sampler's IP2P MODEL."""

    def t(numbered: str) -> str:
        return f"{prefix}: {numbered.split('. ', 1)[-1]}" if prefix else numbered

    ac, fs, a2m, sam, fft, lc = (t("1. Action Classifier"), t("2. Fused IP2P Sampler"), t("3. Attention To Mask"),
                                 t("4. SAM Region IoU"), t("5. FFT Edge Smoother"), t("6. Layer Composite"))
    nodes = {
        t("Instruction"): N("PrimitiveStringMultiline", value=(instruction, "the example instruction")),
        ac: N("ZoneActionClassifier"), t("Action label"): N("PreviewAny"),
        fs: N("ZoneFusedIP2PSampler"), a2m: N("ZoneAttentionToMask"), t("Attention note"): N("PreviewAny"),
        sam: N("ZoneSAMRegionIoU"), fft: N("ZoneFFTEdgeSmoother"), lc: N("ZoneLayerComposite"),
        t("SAM choice"): N("PreviewAny"),
        t("Result"): N("SaveImage", filename_prefix=(save_prefix, R_PREFIX)),
    }
    links = [
        f"{ac}.instruction <- {t('Instruction')}.STRING",
        f"{ac}.clip <- InstructPix2Pix checkpoint.CLIP",  # the classifier's head runs on the IP2P text encoder
        f"{t('Action label')}.source <- {ac}.label",
        f"{fs}.ip2p_model <- {model}",  # the checkpoint's, or a Latent Lock's patch of it
        f"{fs}.clip <- InstructPix2Pix checkpoint.CLIP",
        f"{fs}.vae <- InstructPix2Pix checkpoint.VAE",
        f"{fs}.magicbrush_model <- MagicBrush (optional: Ctrl+B turns it on).MODEL",
        f"{fs}.image <- {image}",
        f"{fs}.instruction <- {t('Instruction')}.STRING",
        f"{fs}.action <- {ac}.action",
        f"{a2m}.attention <- {fs}.attention",
        f"{a2m}.image <- {image}",  # the coarse mask comes out at the size of the image edited
        f"{t('Attention note')}.source <- {a2m}.note",
        f"{sam}.sam_model <- SAM loader.sam_model",
        f"{sam}.original <- {image}",
        f"{sam}.canvas <- {fs}.canvas",
        f"{sam}.coarse_mask <- {a2m}.coarse_mask",
        f"{sam}.action <- {ac}.action",  # auto segments the original for remove
        f"{fft}.original <- {image}",
        f"{fft}.canvas <- {fs}.canvas",
        f"{fft}.refined_mask <- {sam}.refined_mask",
        f"{lc}.original <- {image}",
        f"{lc}.canvas <- {fs}.canvas",
        f"{lc}.final_mask <- {fft}.final_mask",
        f"{lc}.refined_mask <- {sam}.refined_mask",  # the official 0.6 band needs both masks
        f"{t('SAM choice')}.source <- {sam}.info",
        f"{t('Result')}.images <- {lc}.image",  # the composite, not the layer cut-out
    ]
    if previews:
        for title, src in (("Canvas (whole-image edit)", f"{fs}.canvas"), ("Attention / coarse mask", f"{a2m}.preview"),
                           ("SAM segment", f"{sam}.preview"), ("Final mask", f"{fft}.preview"),
                           ("Layer (the edit alone)", f"{lc}.layer")):
            nodes[t(title)] = N("PreviewImage")
            links.append(f"{t(title)}.images <- {src}")
    return Table(nodes, links)


def pair_inputs(edited_title: str) -> Table:
    """SAM loader, the original and the edited image (zone_mask_only, zone_any_editor)."""
    return Table({
        "SAM loader": N("ZoneSAMLoader", model_name=(SAM_FILE, R_SAM)),
        "Original image": N("LoadImage", image=(EXAMPLE, R_EXAMPLE)),
        edited_title: N("LoadImage", image=(EXAMPLE, R_EXAMPLE + "; the user picks the edited image here")),
    }, [])


def localize_chain(original: str, edited: str, save_prefix: str) -> Table:
    """Align Edit -> Difference To Mask -> SAM Region IoU -> FFT Edge Smoother -> Layer Composite -> Save."""
    nodes = {
        "Align Edit": N("ZoneAlignEdit"), "Alignment report": N("PreviewAny"),
        "Difference To Mask": N("ZoneEditToMask"), "4. SAM Region IoU": N("ZoneSAMRegionIoU"),
        "5. FFT Edge Smoother": N("ZoneFFTEdgeSmoother"), "6. Layer Composite": N("ZoneLayerComposite"),
        "SAM choice": N("PreviewAny"), "Result": N("SaveImage", filename_prefix=(save_prefix, R_PREFIX)),
    }
    links = [
        f"Align Edit.original <- {original}",
        f"Align Edit.edited <- {edited}",
        "Alignment report.source <- Align Edit.report",
        f"Difference To Mask.original <- {original}",
        "Difference To Mask.edited <- Align Edit.aligned",  # the ALIGNED edit, not the editor's raw output
        "Difference To Mask.valid_mask <- Align Edit.valid_mask",
        "4. SAM Region IoU.sam_model <- SAM loader.sam_model",
        f"4. SAM Region IoU.original <- {original}",
        "4. SAM Region IoU.canvas <- Align Edit.aligned",
        "4. SAM Region IoU.coarse_mask <- Difference To Mask.coarse_mask",
        "4. SAM Region IoU.changed_mask <- Difference To Mask.coarse_mask",  # rule evidence: the edit's own change
        f"5. FFT Edge Smoother.original <- {original}",
        "5. FFT Edge Smoother.canvas <- Align Edit.aligned",
        "5. FFT Edge Smoother.refined_mask <- 4. SAM Region IoU.refined_mask",
        f"6. Layer Composite.original <- {original}",
        "6. Layer Composite.canvas <- Align Edit.aligned",
        "6. Layer Composite.final_mask <- 5. FFT Edge Smoother.final_mask",
        "6. Layer Composite.refined_mask <- 4. SAM Region IoU.refined_mask",
        "SAM choice.source <- 4. SAM Region IoU.info",
        "Result.images <- 6. Layer Composite.image",
    ]
    for title, src in (("Aligned edit", "Align Edit.aligned"), ("Difference mask", "Difference To Mask.preview"),
                       ("SAM segment", "4. SAM Region IoU.preview"), ("Final mask", "5. FFT Edge Smoother.preview"),
                       ("Layer (the edit alone)", "6. Layer Composite.layer")):
        nodes[title] = N("PreviewImage")
        links.append(f"{title}.images <- {src}")
    return Table(nodes, links)


# ------------------------------------------------------------------------------------------------ the tables
TABLES: dict[str, Table] = {}

TABLES["zone_local_edit"] = ip2p_loaders().merged(
    edit_chain("", "Image to edit.IMAGE", "make his tie blue", "ZONE/edit", previews=True))

_turns = ip2p_loaders()
for _k, _text in enumerate(["make his tie blue", "add sunglasses to him", "remove the flag"], start=1):
    # each turn edits the previous turn's composite: pixels no turn touches stay the original's
    _image = "Image to edit.IMAGE" if _k == 1 else f"Turn {_k - 1}: Layer Composite.image"
    _turns = _turns.merged(edit_chain(f"Turn {_k}", _image, _text, f"ZONE/turn{_k}", previews=False))
TABLES["zone_multi_turn"] = _turns

_mask_only = pair_inputs("Edited canvas (paint the mask here)").merged(Table({
    "4. SAM Region IoU": N("ZoneSAMRegionIoU", segment_on=(
        "canvas", "no Action Classifier here, so auto would segment the canvas too; stated so the user sees that "
                  "SAM segments the canvas the mask is painted on")),
    "Mask to image": N("MaskToImage"), "Painted mask": N("PreviewImage"),
    "5. FFT Edge Smoother": N("ZoneFFTEdgeSmoother"), "6. Layer Composite": N("ZoneLayerComposite"),
    "SAM choice": N("PreviewAny"), "SAM segment": N("PreviewImage"), "Final mask": N("PreviewImage"),
    "Result": N("SaveImage", filename_prefix=("ZONE/post", R_PREFIX)),
}, [
    "4. SAM Region IoU.sam_model <- SAM loader.sam_model",
    "4. SAM Region IoU.original <- Original image.IMAGE",
    "4. SAM Region IoU.canvas <- Edited canvas (paint the mask here).IMAGE",
    "4. SAM Region IoU.coarse_mask <- Edited canvas (paint the mask here).MASK",  # the mask painted on the canvas
    "Mask to image.mask <- Edited canvas (paint the mask here).MASK",
    "Painted mask.images <- Mask to image.IMAGE",
    "5. FFT Edge Smoother.original <- Original image.IMAGE",
    "5. FFT Edge Smoother.canvas <- Edited canvas (paint the mask here).IMAGE",
    "5. FFT Edge Smoother.refined_mask <- 4. SAM Region IoU.refined_mask",
    "6. Layer Composite.original <- Original image.IMAGE",
    "6. Layer Composite.canvas <- Edited canvas (paint the mask here).IMAGE",
    "6. Layer Composite.final_mask <- 5. FFT Edge Smoother.final_mask",
    "6. Layer Composite.refined_mask <- 4. SAM Region IoU.refined_mask",
    "SAM choice.source <- 4. SAM Region IoU.info",
    "SAM segment.images <- 4. SAM Region IoU.preview",
    "Final mask.images <- 5. FFT Edge Smoother.preview",
    "Result.images <- 6. Layer Composite.image",
]))
TABLES["zone_mask_only"] = _mask_only

TABLES["zone_any_editor"] = pair_inputs("Edited image (any editor's output)").merged(
    localize_chain("Original image.IMAGE", "Edited image (any editor's output).IMAGE", "ZONE/any_editor"))

PHOTO = "Image to edit (your full-resolution photo)"
R_SEED = "seed 0, fixed, as in every ZONE graph: a rerun gives the same edit"


def editor_then_zone(editor: Table, edited: str, output_title: str, save_prefix: str, photo: str = PHOTO) -> Table:
    """One editor + ZONE (tools/build_workflows.py ``_editor_then_zone``): SAM loader, the user's photo (``photo``,
    which the editor's nodes read), the ``editor`` nodes, a preview of its output ``edited`` ("VAE Decode.IMAGE"),
    and the localization of that output against the FULL-resolution photo (not the ~1 MP copy the editor saw)."""
    return Table({
        "SAM loader": N("ZoneSAMLoader", model_name=(SAM_FILE, R_SAM)),
        photo: N("LoadImage", image=(EXAMPLE, R_EXAMPLE)),
        output_title: N("PreviewImage"),
    }, [f"{output_title}.images <- {edited}"]).merged(editor).merged(
        localize_chain(f"{photo}.IMAGE", edited, save_prefix))


def sample_and_decode(model: str, positive: str, negative: str, vae: str, cfg: tuple[float, str],
                      template: str) -> Table:
    """KSampler (20 steps, euler / simple, denoise 1 as ComfyUI's templates; ``cfg`` with its reason) on the
    encoded picture ("VAE Encode.LATENT") -> VAE Decode."""
    return Table({
        "KSampler": N("KSampler", seed=(0, "reproducible example"), steps=(20, "20 steps: " + template),
                      cfg=cfg, sampler_name=("euler", template), scheduler=("simple", template),
                      denoise=(1.0, "the edit model starts from noise: " + template)),
        "VAE Decode": N("VAEDecode"),
    }, [
        f"KSampler.model <- {model}",
        f"KSampler.positive <- {positive}",
        f"KSampler.negative <- {negative}",
        "KSampler.latent_image <- VAE Encode.LATENT",
        "VAE Decode.samples <- KSampler.LATENT",
        f"VAE Decode.vae <- {vae}",
    ])


def qwen_edit(unet_title: str, unet_file: str, encoder: str, image_input: str, photo: str, template: str) -> Table:
    """ComfyUI's Qwen-Image-Edit graph from core nodes: the photo scaled to 1 MP, encoded by the VAE and by the
    ``encoder`` (TextEncodeQwenImageEdit reads it as ``image``, ...Plus (2509) as ``image1``), AuraFlow shift,
    CFGNorm, KSampler (cfg 2.5: the fp8 model without the Lightning LoRA), VAE Decode."""
    return Table({
        unet_title: N("UNETLoader", unet_name=(unet_file, "model file (fp8): " + template)),
        "Qwen2.5-VL text encoder": N("CLIPLoader", clip_name=("qwen_2.5_vl_7b_fp8_scaled.safetensors", "model file: " + template),
                                     type=("qwen_image", "the Qwen text encoder's type; the default is stable_diffusion")),
        "Qwen-Image VAE": N("VAELoader", vae_name=("qwen_image_vae.safetensors", "model file: " + template)),
        "Scale to 1 MP": N("ImageScaleToTotalPixels", upscale_method=("lanczos", template + " (sharpest downscale)"),
                           megapixels=(1.0, "Qwen-Image-Edit works at about 1 MP; " + template)),
        "VAE Encode": N("VAEEncode"),
        "Instruction": N(encoder, prompt=("make his tie blue", "the example instruction")),
        "Negative (empty)": N(encoder, prompt=("", "empty negative prompt: " + template)),
        "ModelSamplingAuraFlow": N("ModelSamplingAuraFlow", shift=(3.0, "shift 3 of " + template)),
        "CFGNorm": N("CFGNorm", strength=(1.0, template)),
    }, [
        f"Scale to 1 MP.image <- {photo}.IMAGE",
        "VAE Encode.pixels <- Scale to 1 MP.IMAGE",
        "VAE Encode.vae <- Qwen-Image VAE.VAE",
        *(f"{cond}.{inp} <- {src}" for cond in ("Instruction", "Negative (empty)")
          for inp, src in (("clip", "Qwen2.5-VL text encoder.CLIP"), ("vae", "Qwen-Image VAE.VAE"),
                           (image_input, "Scale to 1 MP.IMAGE"))),  # both read the 1 MP copy, not the photo
        f"ModelSamplingAuraFlow.model <- {unet_title}.MODEL",
        "CFGNorm.model <- ModelSamplingAuraFlow.MODEL",
    ]).merged(sample_and_decode("CFGNorm.patched_model", "Instruction.CONDITIONING", "Negative (empty).CONDITIONING",
                                "Qwen-Image VAE.VAE", (2.5, "cfg 2.5 with the fp8 model: " + template), template))


R_QWEN = "ComfyUI's own Qwen-Image-Edit template"
TABLES["zone_qwen_image_edit"] = editor_then_zone(
    qwen_edit("Qwen-Image-Edit model", "qwen_image_edit_fp8_e4m3fn.safetensors", "TextEncodeQwenImageEdit", "image",
              "Image to edit", R_QWEN),
    "VAE Decode.IMAGE", "Qwen output (whole picture edited)", "ZONE/qwen_local", photo="Image to edit")

R_QWEN_2509 = "ComfyUI's own Qwen-Image-Edit-2509 template (its table for the fp8 model without Lightning LoRA)"
TABLES["zone_qwen_image_edit_2509"] = editor_then_zone(
    qwen_edit("Qwen-Image-Edit-2509 model", "qwen_image_edit_2509_fp8_e4m3fn.safetensors",
              "TextEncodeQwenImageEditPlus", "image1", PHOTO, R_QWEN_2509),
    "VAE Decode.IMAGE", "Qwen 2509 output (whole picture edited)", "ZONE/qwen2509_local")

R_KONTEXT = "ComfyUI's own FLUX.1 Kontext [dev] template (flux_kontext_dev_basic)"
def kontext(model: str) -> Table:
    """ComfyUI's FLUX.1 Kontext [dev] graph; ``model``: what its KSampler samples (the loader's, or a lock's)."""
    return Table({
    "FLUX.1 Kontext [dev] model": N("UNETLoader", unet_name=("flux1-dev-kontext_fp8_scaled.safetensors",
                                                              "model file (fp8): " + R_KONTEXT)),
    "CLIP-L + T5-XXL text encoders": N("DualCLIPLoader", clip_name1=("clip_l.safetensors", "model file: " + R_KONTEXT),
                                       clip_name2=("t5xxl_fp8_e4m3fn_scaled.safetensors", "model file: " + R_KONTEXT),
                                       type=("flux", "FLUX's text encoders; the default is sdxl")),
    "FLUX VAE": N("VAELoader", vae_name=("ae.safetensors", "model file: " + R_KONTEXT)),
    "Kontext resolution (~1 MP)": N("FluxKontextImageScale"),
    "VAE Encode": N("VAEEncode"),
    "Instruction": N("CLIPTextEncode", text=("make his tie blue", "the example instruction")),
    "ReferenceLatent (your picture)": N("ReferenceLatent"),
    "FluxGuidance": N("FluxGuidance", guidance=(2.5, "guidance 2.5 of " + R_KONTEXT + "; the default 3.5 is FLUX dev's "
                                                     "text-to-image value")),
    "Negative (zero)": N("ConditioningZeroOut"),
}, [
    f"Kontext resolution (~1 MP).image <- {PHOTO}.IMAGE",
    "VAE Encode.pixels <- Kontext resolution (~1 MP).IMAGE",
    "VAE Encode.vae <- FLUX VAE.VAE",
    "Instruction.clip <- CLIP-L + T5-XXL text encoders.CLIP",
    "ReferenceLatent (your picture).conditioning <- Instruction.CONDITIONING",
    "ReferenceLatent (your picture).latent <- VAE Encode.LATENT",  # Kontext sees the picture through this
    "FluxGuidance.conditioning <- ReferenceLatent (your picture).CONDITIONING",
    "Negative (zero).conditioning <- Instruction.CONDITIONING",  # zeroed: cfg 1 ignores it anyway
]).merged(sample_and_decode(
    model, "FluxGuidance.CONDITIONING", "Negative (zero).CONDITIONING", "FLUX VAE.VAE",
    (1.0, "cfg 1: Kontext [dev] is guidance-distilled (FluxGuidance sets the strength); " + R_KONTEXT), R_KONTEXT))


TABLES["zone_flux_kontext"] = editor_then_zone(kontext("FLUX.1 Kontext [dev] model.MODEL"), "VAE Decode.IMAGE",
                                               "Kontext output (whole picture edited)", "ZONE/kontext_local")
R_FIND = "the graphs with the lock find the region while sampling (no mask to paint); the default 'mask' needs one"
TABLES["zone_flux_kontext_lock"] = editor_then_zone(kontext("Latent Lock.model").merged(Table(
    {"Latent Lock": N("ZoneLatentLock", region=("find while sampling", R_FIND))},
    ["Latent Lock.model <- FLUX.1 Kontext [dev] model.MODEL"])),  # the lock patches the model the KSampler samples
    "VAE Decode.IMAGE", "Kontext output (locked outside the edit)", "ZONE/kontext_lock")
TABLES["zone_local_edit_lock"] = ip2p_loaders().merged(Table(
    {"Latent Lock (IP2P)": N("ZoneLatentLock", region=("find while sampling", R_FIND))},
    ["Latent Lock (IP2P).model <- InstructPix2Pix checkpoint.MODEL"])).merged(
    edit_chain("", "Image to edit.IMAGE", "make his tie blue", "ZONE/edit_lock", previews=True,
               model="Latent Lock (IP2P).model"))


def api_editor(node_type: str, title: str, image_input: str, **widgets: tuple[object, str]) -> Table:
    """A paid API node (comfy_api_nodes) editing the photo itself: no loaders, its output IMAGE goes to ZONE."""
    return Table({title: N(node_type, prompt=("make his tie blue", "the example instruction"), **widgets)},
                 [f"{title}.{image_input} <- {PHOTO}.IMAGE"])


for _name, _type, _title, _input, _widgets in (
    ("gemini_image", "GeminiImageNode", "Google Gemini Image (Nano Banana)", "images",
     {"seed": (0, R_SEED + " (the node's default is 42)")}),
    ("gpt_image", "OpenAIGPTImage1", "OpenAI GPT Image 1", "image",
     {"quality": ("high", "the layer pasted into a full-resolution photo should be the best GPT-image makes; low "
                          "(the default) is a cheap draft")}),
    ("seedream", "ByteDanceSeedreamNode", "ByteDance Seedream 4", "image",
     {"size_preset": ("2048x2048 (1:1)", "pinned: the aspect of example.png (768x768); the note tells the user to "
                                         "pick the preset nearest the photo's aspect"),
      "watermark": (False, "the default True stamps an 'AI generated' mark into a corner: a change ZONE would find "
                           "and paste onto the photo next to the edit")}),
    ("flux_kontext_pro", "FluxKontextProImageNode", "FLUX.1 Kontext [pro]", "input_image",
     {"aspect_ratio": ("1:1", "the aspect of example.png (768x768); the default 16:9 would make Kontext Pro reframe "
                              "a square photo"),
      "seed": (0, R_SEED + " (the node's default is 1234)")}),
):
    TABLES[f"zone_{_name}"] = editor_then_zone(api_editor(_type, _title, _input, **_widgets), f"{_title}.IMAGE",
                                               f"{_title} output (whole picture edited)", f"ZONE/{_name}_local")


# ------------------------------------------------------------------------------ the pack's widget defaults
#: What a workflow ships for every widget its table does not list: the pack nodes' defaults, pinned here so that a
#: changed default (which tools/build_workflows.py would copy into every workflow) fails too. A new widget needs
#: an entry. Model-file widgets (ZoneSAMLoader.model_name) have no default.
PACK_DEFAULTS: dict[str, dict[str, object]] = {
    "ZoneActionClassifier": {"instruction": "", "mode": "auto", "beta_remove": 0.2, "beta_other": 0.01},
    "ZoneAlignEdit": {"model": "affine", "flow_cap": 2.0},
    "ZoneAttentionToMask": {"rule": "official", "official_threshold": 54.0, "paper_threshold": 128.0, "min_region": 64},
    "ZoneEditToMask": {"threshold_mode": "automatic (noise floor)", "threshold": 12.0, "min_region": 64, "close": 9},
    "ZoneFFTEdgeSmoother": {"threshold": 30, "cutoff": 0.390625, "dilate": 4, "close": 21, "scale_with_size": True,
                            "difference": "color", "drift": "remove", "noise_factor": 3.0},
    "ZoneFusedIP2PSampler": {"instruction": "", "seed": 0, "steps": 20, "text_scale": 7.5, "image_scale": 1.5,
                             "sampler": "dpmpp_2m", "scheduler": "normal", "working_size": 512,
                             "record_branches": "empty prompt (official)", "beta": 0.01},
    "ZoneLatentLock": {"region": "mask", "grow": 1, "feather": 1.0, "find_at": 0.3, "threshold": 3.0,
                       "min_change": 0.25},
    "ZoneLayerComposite": {"mode": "official", "band_alpha": 0.6, "feather": 8.0, "color_match": True},
    "ZoneSAMLoader": {"device": "auto"},
    "ZoneSAMRegionIoU": {"segment_on": "auto", "points_per_side": 32, "pred_iou_thresh": 0.88,
                         "stability_score_thresh": 0.95, "box_nms_thresh": 0.7, "points_per_batch": 64,
                         "min_mask_region_area": 0, "crop_n_layers": 0, "crop_to_region": False, "crop_margin": 0.5,
                         "max_side": 1024, "rule": "evidence", "min_inside": 0.4, "min_iou": 0.3,
                         "min_changed": 0.5},
}
#: Defaults that differ from the official ZONE code on purpose (the rest are the official values or have no
#: official counterpart), with the reason (measured in the README / docs).
NOT_OFFICIAL: dict[tuple[str, str], str] = {
    ("ZoneSAMRegionIoU", "rule"): "evidence: union (an object SAM splits into parts comes back whole; official: one "
                                  "segment) plus the mostly changed segments touching the coarse mask (a small object "
                                  "attention barely covers comes back whole)",
    ("ZoneSAMRegionIoU", "min_iou"): "guard on: a poorly explained coarse mask is kept, not dropped (official: off)",
    ("ZoneSAMRegionIoU", "max_side"): "SAM's own input is 1024 px: same masks, no GBs at 4 K (official: full size)",
    ("ZoneFFTEdgeSmoother", "difference"): "colour: catches a hue change at equal brightness (official: grey)",
    ("ZoneFFTEdgeSmoother", "drift"): "remove: a global cast neither inflates nor erases the mask (official: off)",
    ("ZoneFFTEdgeSmoother", "scale_with_size"): "sizes follow the picture, not the pixel count (official: pixels)",
    ("ZoneLayerComposite", "color_match"): "the pasted layer keeps the photo's tones (official: the canvas as is)",
}


# --------------------------------------------------------------------------------------------------- checks
_NO_DEFAULT = object()


def widget_default(w) -> object:
    """The value a fresh node shows: the input's default, the first choice of a fixed list, else none (file lists,
    text fields without a default: the table must list the shipped value)."""
    if "default" in w.opts:
        return w.opts["default"]
    if w.type == "COMBO" and w.choices:
        return w.choices[0]
    return _NO_DEFAULT


def check_values(table_node: N, d: NodeDef, values: dict[str, object], linked: set[str], where: str) -> None:
    unknown = set(table_node.widgets) - {w.name for w in d.widgets}
    assert not unknown, f"{where}: the table lists {sorted(unknown)}, which are not widgets of {d.name}"
    for w in d.widgets:
        if w.name in linked:
            continue
        got = values.get(w.name, _NO_DEFAULT)
        if w.name in table_node.widgets:
            want, reason = table_node.widgets[w.name]
            assert reason.strip(), f"{where}: the table gives no reason for {w.name}={want!r}"
            assert got == want and type(got) is type(want), (
                f"{where}: widget {w.name} ships {got!r}, the table says {want!r} ({reason})")
        else:
            default = widget_default(w)
            assert default is not _NO_DEFAULT, (
                f"{where}: widget {w.name} has no node default: list its shipped value {got!r} with a reason")
            assert got == default, (
                f"{where}: widget {w.name} ships {got!r}, not the node default {default!r}; change it back or list "
                f"it in the table with the reason it differs")


def ui_graph(ui: dict, defs: dict[str, NodeDef], where: str):
    """{title: node} and the set of (dst title, input, src title, output name) links of a UI-format workflow."""
    nodes = [n for n in ui["nodes"] if n["type"] not in VIRTUAL]
    by_id = {n["id"]: n for n in nodes}
    titles = [n.get("title") or n["type"] for n in nodes]
    assert len(titles) == len(set(titles)), f"{where}: titles used twice: {sorted({t for t in titles if titles.count(t) > 1})}"
    title = {n["id"]: t for n, t in zip(nodes, titles)}
    by_link = {link[0]: link for link in ui["links"]}
    links = set()
    for n in nodes:
        for slot in n.get("inputs", []):
            if slot.get("link") is None:
                continue
            _, src, src_slot, *_ = by_link[slot["link"]]
            links.add((title[n["id"]], slot["name"], title[src], defs[by_id[src]["type"]].output_names[src_slot]))
    return {title[i]: n for i, n in by_id.items()}, links


def api_graph(api: dict, defs: dict[str, NodeDef], where: str):
    """{title: node} and the links of an API-format workflow (titles from ``_meta.title``)."""
    title = {k: n.get("_meta", {}).get("title") or n["class_type"] for k, n in api.items()}
    titles = list(title.values())
    assert len(titles) == len(set(titles)), f"{where}: titles used twice: {sorted({t for t in titles if titles.count(t) > 1})}"
    links = set()
    for k, n in api.items():
        for name, v in n["inputs"].items():
            if isinstance(v, list):
                links.add((title[k], name, title[v[0]], defs[api[v[0]]["class_type"]].output_names[v[1]]))
    return {title[k]: n for k, n in api.items()}, links


def check_links(want: set, got: set, where: str) -> None:
    missing = sorted(fmt_link(x) for x in want - got)
    extra = sorted(fmt_link(x) for x in got - want)
    wrong = []
    for m in want - got:  # same input fed from somewhere else: say both
        for e in got - want:
            if e[:2] == m[:2]:
                wrong.append(f"{m[0]}.{m[1]} is fed by {e[2]}.{e[3]}, the table says {m[2]}.{m[3]}")
    assert not (missing or extra), f"{where}: wiring differs from the table:\n  " + "\n  ".join(
        wrong or (["missing: " + x for x in missing] + ["not in the table: " + x for x in extra]))


def same_nodes(want: set[str], nodes: dict[str, dict], key: str, table: Table, where: str) -> None:
    """The file's node titles are ``want`` and each node (``key``: "type" or "class_type") has the table's type."""
    assert set(nodes) == want, (f"{where}: nodes differ from the table: not in the file {sorted(want - set(nodes))}, "
                                f"not in the table {sorted(set(nodes) - want)}")
    for t, n in nodes.items():
        assert n[key] == table.nodes[t].type, f"{where}: {t!r} is a {n[key]}, the table says {table.nodes[t].type}"


def check_ui_file(table: Table, ui: dict, defs: dict[str, NodeDef], where: str) -> None:
    nodes, links = ui_graph(ui, defs, where)
    same_nodes(set(table.nodes), nodes, "type", table, where)
    for t, n in nodes.items():
        want = table.nodes[t]
        w = f"{where}: {t!r}"
        assert n.get("mode", 0) == want.mode, f"{w} has mode {n.get('mode', 0)}, the table says {want.mode}"
        d = defs[n["type"]]
        controls: dict[str, object] = {}
        values = expected_widget_values(d, n.get("widgets_values", []), w, controls)
        for name, control in controls.items():
            assert control == "fixed", f"{w}: {name} ships control_after_generate {control!r}, not 'fixed'"
        linked = {s["name"] for s in n.get("inputs", []) if s.get("link") is not None}
        check_values(want, d, values, linked, w)
    check_links({parse_link(x) for x in table.links}, links, where)


def check_api_file(table: Table, api: dict, defs: dict[str, NodeDef], where: str) -> None:
    nodes, links = api_graph(api, defs, where)
    active = {t for t, n in table.nodes.items() if n.mode == 0}
    same_nodes(active, nodes, "class_type", table, where)
    for t, n in nodes.items():
        want = table.nodes[t]
        w = f"{where}: {t!r}"
        d = defs[n["class_type"]]
        linked = {k for k, v in n["inputs"].items() if isinstance(v, list)}
        values = {k: v for k, v in n["inputs"].items() if not isinstance(v, list)}
        check_values(want, d, values, linked, w)
    want_links = {x for x in map(parse_link, table.links) if x[0] in active and x[2] in active}
    check_links(want_links, links, where)


# ---------------------------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def defs() -> dict[str, NodeDef]:
    return {**_core_defs(), **_pack_defs()}


def test_every_workflow_has_a_table():
    files = {CARD_IDS.get(p.stem, p.stem) for p in WORKFLOWS.glob("*.json")}
    files |= {p.stem[: -len("_api")] for p in API_DIR.glob("*_api.json")}
    missing = sorted(files - set(TABLES))
    assert not missing, (f"workflows without a wiring table: {missing}: add TABLES[name] = Table(...) to "
                         f"tests/test_workflow_semantics.py (format at the top of the file)")
    stale = sorted(set(TABLES) - files)
    assert not stale, f"tables of workflows that no longer ship: {stale}"


def test_pack_defaults_are_pinned(defs):
    """Every pack widget's default is the pinned one, and every pinned widget exists."""
    from comfyui_zone.nodes import NODE_CLASS_MAPPINGS

    got = {name: {w.name: widget_default(w) for w in defs[name].widgets if widget_default(w) is not _NO_DEFAULT}
           for name in NODE_CLASS_MAPPINGS}
    for name in sorted(set(got) | set(PACK_DEFAULTS)):
        want, have = PACK_DEFAULTS.get(name, {}), got.get(name, {})
        diff = sorted(k for k in set(want) | set(have) if k not in want or k not in have or want[k] != have[k]
                      or type(want[k]) is not type(have[k]))
        assert not diff, "\n".join(
            [f"{name}: default of {k} is {have.get(k, 'absent')!r}, PACK_DEFAULTS says {want.get(k, 'absent')!r}"
             for k in diff] + ["(a changed default changes every shipped workflow: update PACK_DEFAULTS, and "
                               "NOT_OFFICIAL with the reason if it leaves the official value)"])
    for node, widget in NOT_OFFICIAL:
        assert widget in PACK_DEFAULTS[node], f"NOT_OFFICIAL names {node}.{widget}, which is not a widget"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_is_well_formed(name, defs):
    """Every link names a node of the table, a real input of its type and a real output of the source's type, and
    each input is fed once."""
    table = TABLES[name]
    fed = set()
    for text in table.links:
        dst, inp, src, out = parse_link(text)
        assert dst in table.nodes and src in table.nodes, f"{name}: {text!r} names a node not in the table"
        assert inp in defs[table.nodes[dst].type].inputs, f"{name}: {text!r}: {table.nodes[dst].type} has no input {inp}"
        assert out in defs[table.nodes[src].type].output_names, f"{name}: {text!r}: {table.nodes[src].type} has no output {out}"
        assert (dst, inp) not in fed, f"{name}: {dst}.{inp} is fed twice"
        fed.add((dst, inp))


@pytest.mark.parametrize("name", sorted(TABLES))
def test_ui_file_matches_its_table(name, defs):
    path = ui_file(name)
    check_ui_file(TABLES[name], json.loads(path.read_text()), defs, path.name)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_api_file_matches_its_table(name, defs):
    path = API_DIR / f"{name}_api.json"
    check_api_file(TABLES[name], json.loads(path.read_text()), defs, path.name)


def _load(name: str) -> tuple[dict, dict]:
    return (json.loads(ui_file(name).read_text()),
            json.loads((API_DIR / f"{name}_api.json").read_text()))


def _node(ui_or_api: dict, title: str) -> dict:
    if "nodes" in ui_or_api:
        return next(n for n in ui_or_api["nodes"] if n.get("title") == title)
    return next(n for n in ui_or_api.values() if n["_meta"]["title"] == title)


def test_a_swapped_output_slot_in_both_files_is_named(defs):
    """Save Image reading Layer Composite's ``layer`` (both IMAGE, valid in both files) fails, naming the link."""
    ui, api = _load("zone_local_edit")
    table = TABLES["zone_local_edit"]
    lc_id = str(_node(ui, "6. Layer Composite")["id"])
    _node(api, "Result")["inputs"]["images"] = [lc_id, 1]
    link_id = _node(ui, "Result")["inputs"][0]["link"]
    next(link for link in ui["links"] if link[0] == link_id)[2] = 1
    for check, wf in ((check_ui_file, ui), (check_api_file, api)):
        with pytest.raises(AssertionError, match=r"Result\.images is fed by 6\. Layer Composite\.layer, the table "
                                                 r"says 6\. Layer Composite\.image"):
            check(table, wf, defs, "mutated")


@pytest.mark.parametrize("fmt", ["ui", "api"])
def test_a_changed_widget_value_is_named(fmt, defs):
    """A default value changed (FFT threshold) or a listed value changed (segment_on) fails, naming the widget."""
    ui, api = _load("zone_mask_only")
    table = TABLES["zone_mask_only"]
    check = check_ui_file if fmt == "ui" else check_api_file
    for title, widget, value, message in (("5. FFT Edge Smoother", "threshold", 31, "threshold ships 31, not the node default 30"),
                                          ("4. SAM Region IoU", "segment_on", "auto", "segment_on ships 'auto', the table says 'canvas'")):
        wf = copy.deepcopy(ui if fmt == "ui" else api)
        node = _node(wf, title)
        if fmt == "ui":
            d = defs[node["type"]]
            pos = 0
            for w in d.widgets:
                if w.name == widget:
                    break
                pos += 1 + w.control
            node["widgets_values"][pos] = value
        else:
            node["inputs"][widget] = value
        with pytest.raises(AssertionError, match=message):
            check(table, wf, defs, "mutated")


def test_a_seed_that_randomizes_is_named(defs):
    ui, _ = _load("zone_local_edit")
    node = _node(ui, "2. Fused IP2P Sampler")
    node["widgets_values"][node["widgets_values"].index("fixed")] = "randomize"
    with pytest.raises(AssertionError, match="seed ships control_after_generate 'randomize'"):
        check_ui_file(TABLES["zone_local_edit"], ui, defs, "mutated")


def test_a_bypassed_node_must_be_in_the_table(defs):
    ui, _ = _load("zone_local_edit")
    _node(ui, "MagicBrush (optional: Ctrl+B turns it on)")["mode"] = 0  # shipped bypassed: the minimum models
    with pytest.raises(AssertionError, match="has mode 0, the table says 4"):
        check_ui_file(TABLES["zone_local_edit"], ui, defs, "mutated")
