"""Loading model files from the user's folders, safely (no pickled code runs, nothing downloads).

- ``checkpoint``: reading a weights file, assigning its tensors with checks, devices (shared by both SAM loaders)
- ``sam_loader``: Segment Anything v1 (ViT-H / L / B or custom), and the entry point for every SAM file
- ``sam2_loader``: SAM 2 / 2.1 (tiny / small / base+ / large or custom)
"""
