"""Image files of the command line: the size read from the header before anything is decoded, reading with the
depth kept, PNG bytes for the atomic writes of ``safety``.

``image_header(path)`` reads only the header (Pillow opens lazily; its own decompression-bomb refusal is off while
it does, so that the real size can be named) and refuses an image over the pixel limit
(``zone_ops.core.images.max_pixels``: 100 MP, ``$ZONE_MAX_PIXELS`` / ``--max-pixels``) with one line naming the
size and the limit. ``read_image`` checks the header first, so a file claiming 60000 x 60000 never reaches a
decoder.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from ..core.images import ZoneInputError, check_image_size, max_pixels
from .safety import CliError

#: Errors a damaged or foreign image file raises in Pillow / OpenCV: reported as "cannot read image", never a traceback.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError,
                                                   TypeError, ZeroDivisionError, OverflowError)


@contextmanager
def _pil_limit(limit: int | None) -> Iterator[None]:
    """Pillow's decompression-bomb limit set to ``limit`` pixels (None: off) for the block, warnings silenced."""
    from PIL import Image

    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _cannot_read(path: Path, exc: BaseException) -> CliError:
    text = " ".join(str(exc).split())[:200] or type(exc).__name__
    return CliError(f"cannot read image {str(path)!r}: {text}")


def image_header(path: Path, verify: bool = False) -> tuple[int, int]:
    """(width, height) from the header of ``path`` without decoding the pixels; CliError when the file is not a
    readable image or is over the pixel limit. ``verify``: also check the file's structure (Pillow's ``verify``:
    PNG chunk checksums, truncation), still without decoding."""
    from PIL import Image

    try:
        with _pil_limit(None), Image.open(path) as im:
            width, height = im.size
            check_image_size(height, width, f"image {str(path)!r}")
            if verify:
                im.verify()
    except ZoneInputError as exc:  # over the pixel limit: the message names the size and the limit
        raise CliError(str(exc)) from None
    except _DECODE_ERRORS as exc:
        raise _cannot_read(path, exc) from None
    except Exception as exc:  # Pillow's own errors (e.g. a bomb error raised by a plugin) are not OSErrors
        if type(exc).__module__.startswith("PIL"):
            raise _cannot_read(path, exc) from None
        raise
    return int(width), int(height)


def read_image(path: Path) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(rgb float32 [H, W, 3] 0..1, alpha float32 [H, W] or None, bit depth 8/16). The header is checked first
    (``image_header``). EXIF rotation applied (as in ComfyUI's LoadImage; not for 16-bit colour PNG/TIFF, read with
    OpenCV to keep their depth); grayscale replicated to RGB."""
    import cv2
    from PIL import Image, ImageOps

    image_header(path)
    if path.suffix.lower() in (".png", ".tif", ".tiff"):  # Pillow reads 16-bit colour as 8 bit: OpenCV keeps it
        try:
            raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        except cv2.error:
            raw = None  # OpenCV's own size limit or a file it cannot parse: Pillow below says what is wrong
        if raw is not None and raw.dtype == np.uint16 and raw.ndim == 3 and raw.shape[-1] in (3, 4):
            code = cv2.COLOR_BGRA2RGBA if raw.shape[-1] == 4 else cv2.COLOR_BGR2RGB
            arr = cv2.cvtColor(raw, code).astype(np.float32) / 65535.0
            return np.ascontiguousarray(arr[..., :3]), (arr[..., 3].copy() if arr.shape[-1] == 4 else None), 16
    try:
        with _pil_limit(max_pixels()), Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float32) / 65535.0
                return np.repeat(np.clip(arr, 0, 1)[..., None], 3, axis=-1), None, 16
            has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
            arr = np.asarray(im.convert("RGBA" if has_alpha else "RGB"), dtype=np.float32)
            arr /= np.float32(255.0)  # in place: one full-size float32 array, not two (a 12 MP photo is 146 MB)
    except _DECODE_ERRORS as exc:
        raise _cannot_read(path, exc) from None
    except Exception as exc:
        if type(exc).__module__.startswith("PIL"):
            raise _cannot_read(path, exc) from None
        raise
    return np.ascontiguousarray(arr[..., :3]), (arr[..., 3].copy() if has_alpha else None), 8


def png_bytes(rgb: np.ndarray, alpha: np.ndarray | None = None, bits: int = 8) -> bytes:
    """Float 0..1 [H, W, 3] (plus alpha) or [H, W] encoded as PNG with ``bits`` per channel (8 or 16)."""
    import cv2

    arr = rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=-1)
    top = 65535.0 if bits == 16 else 255.0
    q = np.clip(arr, 0.0, 1.0)  # one full-size temporary, scaled and rounded in place
    q *= top
    q = np.rint(q, out=q).astype(np.uint16 if bits == 16 else np.uint8)
    if q.ndim == 3:
        q = cv2.cvtColor(q, cv2.COLOR_RGBA2BGRA if q.shape[-1] == 4 else cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", q)
    if not ok:
        raise CliError(f"cannot encode a {q.shape} image as PNG")
    return buf.tobytes()
