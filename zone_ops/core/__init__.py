"""What every part of the library shares: no model, no stage logic.

- ``images``: image / mask conversion and checks (``ZoneInputError``, ``to_rgb``, ``resize``, ``binary_mask`` ...)
- ``types``: what flows between the stages (``ZoneAction``, ``ZoneAttention``, ``Action``)
- ``color_drift``: the robust per-channel gain + offset fit an editor's global colour drift is removed with
- ``preview``: heat maps and mask overlays for the nodes' preview outputs
"""
